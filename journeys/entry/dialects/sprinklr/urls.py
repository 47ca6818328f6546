"""Routes of the Sprinklr dialect, under ``/compat/sprinklr/``."""

from django.urls import path

from journeys.entry.dialects.sprinklr.api import (
    SprinklrTriggerView,
    SprinklrTriggerWithNewProfileView,
)

urlpatterns = [
    path("api/marketing-journey/trigger", SprinklrTriggerView.as_view(), name="sprinklr-trigger"),
    path(
        "api/marketing-journey/triggerWithNewProfile",
        SprinklrTriggerWithNewProfileView.as_view(),
        name="sprinklr-trigger-with-new-profile",
    ),
]
