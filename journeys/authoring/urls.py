"""Journey definition routes: list, import, get, export, stats, publish, pause, archive; a
webhook trigger's URL rotation and signing secret."""

from django.urls import path

from journeys.authoring.api import (
    JourneyArchiveApi,
    JourneyDetailApi,
    JourneyExportApi,
    JourneyListApi,
    JourneyPauseApi,
    JourneyPublishApi,
    JourneyStatsApi,
    JourneyWebhookRotateApi,
    JourneyWebhookSecretApi,
)

urlpatterns = [
    path("journeys", JourneyListApi.as_view(), name="journeys"),
    path("journeys/<id:journey_id>", JourneyDetailApi.as_view(), name="journey-detail"),
    path("journeys/<id:journey_id>/export", JourneyExportApi.as_view(), name="journey-export"),
    path("journeys/<id:journey_id>/stats", JourneyStatsApi.as_view(), name="journey-stats"),
    path("journeys/<id:journey_id>/publish", JourneyPublishApi.as_view(), name="journey-publish"),
    path("journeys/<id:journey_id>/pause", JourneyPauseApi.as_view(), name="journey-pause"),
    path("journeys/<id:journey_id>/archive", JourneyArchiveApi.as_view(), name="journey-archive"),
    path(
        "journeys/<id:journey_id>/webhook/rotate",
        JourneyWebhookRotateApi.as_view(),
        name="journey-webhook-rotate",
    ),
    path(
        "journeys/<id:journey_id>/webhook/secret",
        JourneyWebhookSecretApi.as_view(),
        name="journey-webhook-secret",
    ),
]
