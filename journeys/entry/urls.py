"""The native trigger route and the event stream's, relative to
/api/v1/workspaces/<workspace_id>/."""

from django.urls import path

from journeys.entry.api import JourneyTriggerView
from journeys.entry.events.api import (
    EventBatchApi,
    EventGroupApi,
    EventIdentifyApi,
    EventTrackApi,
)

urlpatterns = [
    path("journeys/<id:journey_id>/trigger", JourneyTriggerView.as_view(), name="journey-trigger"),
    path("events/track", EventTrackApi.as_view(), name="events-track"),
    path("events/identify", EventIdentifyApi.as_view(), name="events-identify"),
    path("events/group", EventGroupApi.as_view(), name="events-group"),
    path("events/batch", EventBatchApi.as_view(), name="events-batch"),
]
