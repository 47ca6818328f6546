"""Journeys API routes, relative to /api/v1/workspaces/<workspace_id>/."""

from django.urls import include, path

urlpatterns = [
    path("", include("journeys.api.journey_urls")),
    path("", include("journeys.api.run_urls")),
]
