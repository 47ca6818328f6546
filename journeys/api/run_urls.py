"""Trigger and run routes."""

from django.urls import path

from journeys.api.runs import RunDetailView
from journeys.api.trigger import JourneyTriggerView

urlpatterns = [
    path("journeys/<str:journey_id>/trigger", JourneyTriggerView.as_view(), name="journey-trigger"),
    path("runs/<str:run_id>", RunDetailView.as_view(), name="run-detail"),
]
