"""Journeys API routes, relative to /api/v1/workspaces/<workspace_id>/: authoring,
the native trigger and runs."""

from django.urls import include, path

urlpatterns = [
    path("", include("journeys.authoring.urls")),
    path("", include("journeys.entry.urls")),
    path("", include("journeys.engine.urls")),
]
