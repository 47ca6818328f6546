from django.urls import path

from journeys.entry.hooks.api import WebhookTriggerView

urlpatterns = [
    path("<str:token>", WebhookTriggerView.as_view(), name="webhook-trigger"),
]
