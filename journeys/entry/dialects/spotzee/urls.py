"""``/compat/spotzee/``: Spotzee's journey paths, relative to its base URL."""

from django.urls import path

from journeys.entry.dialects.spotzee.api import SpotzeeJourneyListView, SpotzeeTriggerView

urlpatterns = [
    path("journeys", SpotzeeJourneyListView.as_view(), name="spotzee-journeys"),
    path(
        "journeys/<id:journey_id>/trigger",
        SpotzeeTriggerView.as_view(),
        name="spotzee-journey-trigger",
    ),
]
