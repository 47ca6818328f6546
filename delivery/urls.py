"""State webhook routes, relative to /api/v1/workspaces/<workspace_id>/."""

from django.urls import path

from delivery.api import WebhookEndpointDetailApi, WebhookEndpointListApi

urlpatterns = [
    path("webhooks", WebhookEndpointListApi.as_view(), name="webhooks"),
    path("webhooks/<id:endpoint_id>", WebhookEndpointDetailApi.as_view(), name="webhook-detail"),
]
