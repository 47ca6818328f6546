"""``/compat/segment/``: Segment's HTTP tracking API (a client sets its host to this)."""

from django.urls import path

from journeys.entry.dialects.segment.api import (
    SegmentAliasApi,
    SegmentBatchApi,
    SegmentGroupApi,
    SegmentIdentifyApi,
    SegmentImportApi,
    SegmentPageApi,
    SegmentScreenApi,
    SegmentTrackApi,
)

urlpatterns = [
    path("v1/track", SegmentTrackApi.as_view(), name="segment-track"),
    path("v1/identify", SegmentIdentifyApi.as_view(), name="segment-identify"),
    path("v1/group", SegmentGroupApi.as_view(), name="segment-group"),
    path("v1/page", SegmentPageApi.as_view(), name="segment-page"),
    path("v1/screen", SegmentScreenApi.as_view(), name="segment-screen"),
    path("v1/alias", SegmentAliasApi.as_view(), name="segment-alias"),
    path("v1/batch", SegmentBatchApi.as_view(), name="segment-batch"),
    path("v1/import", SegmentImportApi.as_view(), name="segment-import"),
]
