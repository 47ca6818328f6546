"""Run routes, relative to /api/v1/workspaces/<workspace_id>/."""

from django.urls import path

from journeys.engine.api import RunDetailView

urlpatterns = [
    path("runs/<id:run_id>", RunDetailView.as_view(), name="run-detail"),
]
