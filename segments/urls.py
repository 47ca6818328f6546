"""Segments API routes, relative to /api/v1/workspaces/<workspace_id>/."""

from django.urls import path

from segments.api import SegmentDetailApi, SegmentListCreateApi, SegmentMembersApi

urlpatterns = [
    path("segments", SegmentListCreateApi.as_view(), name="segments"),
    path("segments/<id:segment_id>", SegmentDetailApi.as_view(), name="segment-detail"),
    path("segments/<id:segment_id>/members", SegmentMembersApi.as_view(), name="segment-members"),
]
