"""``/compat/courier/``: Courier's journeys API."""

from django.urls import path

from journeys.entry.dialects.courier.api import (
    CourierCancelView,
    CourierInvokeView,
    CourierJourneyListView,
    CourierRunListView,
    CourierRunStepsView,
    CourierRunView,
)

urlpatterns = [
    path("journeys", CourierJourneyListView.as_view(), name="courier-journeys"),
    # Before journeys/<id>/...: no journey id is "cancel" or "runs".
    path("journeys/cancel", CourierCancelView.as_view(), name="courier-cancel"),
    path("journeys/runs", CourierRunListView.as_view(), name="courier-runs"),
    path("journeys/runs/<id:run_id>", CourierRunView.as_view(), name="courier-run"),
    path("journeys/runs/<id:run_id>/steps", CourierRunStepsView.as_view(), name="courier-steps"),
    path("journeys/<id:journey_id>/invoke", CourierInvokeView.as_view(), name="courier-invoke"),
]
