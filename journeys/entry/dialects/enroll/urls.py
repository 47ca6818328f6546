"""Routes of the enroll dialect, under ``/compat/enroll/``."""

from django.urls import path

from journeys.entry.dialects.enroll.api import JourneyEnrollView

urlpatterns = [
    path("v1/journeys/<id:journey_id>/enroll", JourneyEnrollView.as_view(), name="enroll-journey"),
]
