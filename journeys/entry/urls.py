"""The native trigger route, relative to /api/v1/workspaces/<workspace_id>/."""

from django.urls import path

from journeys.entry.api import JourneyTriggerView

urlpatterns = [
    path("journeys/<id:journey_id>/trigger", JourneyTriggerView.as_view(), name="journey-trigger"),
]
