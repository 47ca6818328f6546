"""Routes of state webhooks, topics, frequency caps and customers' subscriptions,
relative to /api/v1/workspaces/<workspace_id>/."""

from django.urls import path

from delivery.api import WebhookEndpointDetailApi, WebhookEndpointListApi
from delivery.consent_api import (
    FrequencyCapDetailApi,
    FrequencyCapListApi,
    SubscriptionsApi,
    TopicListApi,
)

urlpatterns = [
    path("webhooks", WebhookEndpointListApi.as_view(), name="webhooks"),
    path("webhooks/<id:endpoint_id>", WebhookEndpointDetailApi.as_view(), name="webhook-detail"),
    path("topics", TopicListApi.as_view(), name="topics"),
    path("frequency-caps", FrequencyCapListApi.as_view(), name="frequency-caps"),
    path(
        "frequency-caps/<id:cap_id>", FrequencyCapDetailApi.as_view(), name="frequency-cap-detail"
    ),
    path(
        "customers/<id:customer_id>/subscriptions",
        SubscriptionsApi.as_view(),
        name="customer-subscriptions",
    ),
]
