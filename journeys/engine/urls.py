"""Run routes, relative to /api/v1/workspaces/<workspace_id>/."""

from django.urls import path

from journeys.engine.api import RunCancelView, RunDetailView, RunListView, RunsCancelByKeyView

urlpatterns = [
    path("runs", RunListView.as_view(), name="run-list"),
    # Before runs/<id>: no run id is "cancel".
    path("runs/cancel", RunsCancelByKeyView.as_view(), name="runs-cancel-by-key"),
    path("runs/<id:run_id>", RunDetailView.as_view(), name="run-detail"),
    path("runs/<id:run_id>/cancel", RunCancelView.as_view(), name="run-cancel"),
]
