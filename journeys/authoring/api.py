"""Journey definition API: list, import, read, replace, export, publish, pause, archive;
a journey's runs counted (stats).

Views only parse, call one service and render. Documents are validated by
:mod:`journeys.authoring.definition` rather than by serializers, so a bad document answers every
problem at once in the same ``{"step", "field", "message"}`` shape that publishing uses;
the serializers below exist to document the shapes in the OpenAPI schema.
"""

from typing import Any

from django.core.validators import RegexValidator
from django.db.models import F
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.errors import NotFound
from customers.fields import StrictCharField
from customers.http import WorkspaceApiView
from customers.openapi import (
    ErrorSerializer,
    ProblemSerializer,
    error_responses,
    schema_component,
)
from customers.pagination import StrictCursorPagination, cursor_parameters
from journeys.authoring.checks import definition_publish_problems
from journeys.authoring.definition_schema import definition_json_schema, step_json_schema
from journeys.authoring.documents import definition_from_journey
from journeys.authoring.services import (
    WEBHOOK_SECRET_PATTERN,
    journey_archive,
    journey_import,
    journey_pause,
    journey_publish,
    journey_update,
    journey_webhook_rotate,
    journey_webhook_secret_set,
)
from journeys.engine.runs import journey_run_counts
from journeys.models import Journey, JourneyVersion

# --- documentation serializers --------------------------------------------------------


class DefinitionErrorSerializer(serializers.Serializer):
    error = serializers.CharField(
        help_text="'journey definition is not valid' or 'journey cannot be published'"
    )
    problems = ProblemSerializer(many=True)
    warnings = ProblemSerializer(many=True, required=False)


DEFINITION = schema_component(
    "JourneyDefinition",
    lambda: definition_json_schema(step_ref="#/components/schemas/JourneyStep"),
)
schema_component("JourneyStep", step_json_schema)


@extend_schema_field(DEFINITION)
class DefinitionField(serializers.JSONField):
    """A journey definition document (DESIGN.md section 6), as documented by
    ``definition_json_schema``; ``definition_normalize`` checks it."""


class JourneySummarySerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Journey.Status.choices)
    trigger_type = serializers.ChoiceField(choices=Journey.TriggerType.choices)
    trigger_event = serializers.CharField(allow_null=True)
    live_version = serializers.IntegerField(allow_null=True, help_text="Live version's number")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class JourneyDetailSerializer(JourneySummarySerializer):
    has_unpublished_changes = serializers.BooleanField(
        help_text="The draft differs from the live version (always true before publishing)"
    )
    definition = DefinitionField()
    webhook_url = serializers.URLField(
        allow_null=True,
        help_text="A webhook trigger's secret URL: POST any JSON there (null for other "
        "triggers). Rotate it with POST .../webhook/rotate.",
    )


class JourneyWithWarningsSerializer(JourneyDetailSerializer):
    warnings = ProblemSerializer(many=True, help_text="Publishing would warn about these")


class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    published_at = serializers.DateTimeField()


class JourneyPublishedSerializer(JourneyWithWarningsSerializer):
    version = VersionSerializer()


class JourneyStatsSerializer(serializers.Serializer):
    """A journey's runs counted (documentation only: ``journey_run_counts`` renders it)."""

    entered = serializers.IntegerField(help_text="Runs that entered, on any version")
    active = serializers.IntegerField()
    completed = serializers.IntegerField()
    exited = serializers.IntegerField(
        help_text="Cancelled, restarted, archived, exit steps and exit criteria"
    )
    failed = serializers.IntegerField()
    converted = serializers.IntegerField(
        help_text="Runs whose goal event arrived within the goal's window, in any state"
    )
    conversion_rate = serializers.FloatField(
        allow_null=True, help_text="converted / entered, 4 decimals (null: nobody entered)"
    )


class JourneyPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = JourneySummarySerializer(many=True)


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Invalid definition or request",
        401: "Missing, invalid or revoked API key",
        404: "Journey not found in this workspace",
        409: "The journey's status does not allow this, or another journey of the "
        "workspace has its name (names are unique per workspace)",
        429: "Rate limit exceeded",
    }
    return {
        code: OpenApiResponse(
            DefinitionErrorSerializer if code == 400 else ErrorSerializer,
            description=descriptions[code],
        )
        for code in codes
    }


JOURNEY_ID = OpenApiParameter(
    "journey_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="jrn_..."
)

# --- rendering ------------------------------------------------------------------------


def _summary(journey: Journey) -> dict[str, Any]:
    live_number = getattr(journey, "live_version_number", None)
    if live_number is None and journey.live_version_id is not None:
        live_number = journey.live_version.number
    return {
        "id": journey.public_id,
        "name": journey.name,
        "status": journey.status,
        "trigger_type": journey.trigger_type,
        "trigger_event": journey.trigger_event or None,
        "live_version": live_number,
        "created_at": journey.created_at,
        "updated_at": journey.updated_at,
    }


def _detail(request: Request, journey: Journey, **extra: Any) -> dict[str, Any]:
    definition = definition_from_journey(journey)
    live = journey.live_version
    return {
        **_summary(journey),
        "has_unpublished_changes": live is None or live.definition != definition,
        "definition": definition,
        "webhook_url": webhook_url(request, journey),
        **extra,
    }


def webhook_url(request: Request, journey: Journey) -> str | None:
    """A webhook trigger's secret URL (None for other triggers)."""
    if journey.trigger_type != Journey.TriggerType.WEBHOOK or not journey.webhook_token:
        return None
    return request.build_absolute_uri(reverse("webhook-trigger", args=[journey.webhook_token]))


def _warnings(journey: Journey) -> list[dict[str, Any]]:
    """Publish warnings shown as soon as a draft is saved, so authors see them early."""
    _, warnings = definition_publish_problems(definition_from_journey(journey))
    return warnings


def _journey(workspace_id: int, journey_id: str) -> Journey:
    """The caller's journey; any other id, of any shape or tenant, is the same 404."""
    journey = (
        Journey.objects.select_related("live_version")
        .filter(workspace_id=workspace_id, public_id=journey_id)
        .first()
    )
    if journey is None:
        raise NotFound("journey not found")
    return journey


# --- views ----------------------------------------------------------------------------


class JourneyPagination(StrictCursorPagination):
    ordering = ("-created_at", "-id")


class JourneyListApi(WorkspaceApiView):
    """``GET|POST journeys``."""

    @extend_schema(
        operation_id="journeys_list",
        summary="List journeys, newest first",
        description="Cursor-paginated: follow ``next`` until it is null. A ``limit`` out of "
        "range or a ``cursor`` no page gave is a 400 naming it.",
        parameters=cursor_parameters(JourneyPagination),
        responses={200: JourneyPageSerializer, **error_responses(400, 401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str) -> Response:
        journeys = Journey.objects.filter(workspace=self.workspace).annotate(
            live_version_number=F("live_version__number")
        )
        paginator = JourneyPagination()
        page = paginator.paginate_queryset(journeys, request, view=self)
        return paginator.get_paginated_response([_summary(journey) for journey in page])

    @extend_schema(
        operation_id="journeys_import",
        summary="Import a journey definition as a draft",
        request={"application/json": DEFINITION},
        responses={201: JourneyWithWarningsSerializer, **_errors(400, 401, 409, 429)},
        description=(
            "Creates a draft from the document. Structural problems answer 400 listing "
            "all of them; publish warnings are returned at once so authors see them early. "
            "A name another journey of the workspace has answers 409."
        ),
    )
    def post(self, request: Request, workspace_id: str) -> Response:
        journey = journey_import(workspace=self.workspace, document=request.data)
        return Response(
            _detail(self.request, journey, warnings=_warnings(journey)),
            status=status.HTTP_201_CREATED,
        )


class JourneyDetailApi(WorkspaceApiView):
    """``GET|PUT journeys/{journey_id}``."""

    @extend_schema(
        operation_id="journeys_get",
        summary="A journey, its draft definition and publish state",
        description="``definition`` is the draft; the live version runs until the next publish.",
        parameters=[JOURNEY_ID],
        responses={200: JourneyDetailSerializer, **_errors(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        return Response(_detail(self.request, _journey(self.workspace.pk, journey_id)))

    @extend_schema(
        operation_id="journeys_update",
        summary="Replace a journey's draft definition",
        parameters=[JOURNEY_ID],
        request={"application/json": DEFINITION},
        responses={200: JourneyWithWarningsSerializer, **_errors(400, 401, 404, 409, 429)},
        description=(
            "A live journey keeps running its published version until it is published "
            "again. Archived journeys cannot be edited (409), nor can a journey take a "
            "name another journey of the workspace has (409)."
        ),
    )
    def put(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        journey = _journey(self.workspace.pk, journey_id)
        journey = journey_update(journey=journey, document=request.data)
        return Response(_detail(self.request, journey, warnings=_warnings(journey)))


class JourneyStatsApi(WorkspaceApiView):
    """``GET journeys/{journey_id}/stats``: its runs counted."""

    @extend_schema(
        operation_id="journeys_stats",
        summary="A journey's runs counted: by state, and converted",
        description="Counts over all of the journey's runs, whatever version they entered "
        "on. A run converts when the journey's goal event arrives within the goal's window "
        "(any state: a completed run can still convert).",
        parameters=[JOURNEY_ID],
        responses={200: JourneyStatsSerializer, **_errors(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        return Response(journey_run_counts(journey=_journey(self.workspace.pk, journey_id)))


class JourneyExportApi(WorkspaceApiView):
    """``GET journeys/{journey_id}/export``: the canonical document, ready to import."""

    @extend_schema(
        operation_id="journeys_export",
        summary="Export a journey's draft definition",
        description="The canonical document: importing it creates an identical draft.",
        parameters=[JOURNEY_ID],
        responses={200: DEFINITION, **_errors(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        return Response(definition_from_journey(_journey(self.workspace.pk, journey_id)))


class JourneyPublishApi(WorkspaceApiView):
    """``POST journeys/{journey_id}/publish``."""

    @extend_schema(
        operation_id="journeys_publish",
        summary="Validate the draft and make it the live version",
        parameters=[JOURNEY_ID],
        request=None,
        responses={200: JourneyPublishedSerializer, **_errors(400, 401, 404, 409, 429)},
        description=(
            "400 lists every problem by step key. Publishing a paused journey resumes it; "
            "an unchanged draft keeps the current live version."
        ),
    )
    def post(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        journey = _journey(self.workspace.pk, journey_id)
        version = journey_publish(journey=journey)
        return Response(
            _detail(self.request, journey, warnings=_warnings(journey), version=_version(version))
        )


class JourneyPauseApi(WorkspaceApiView):
    """``POST journeys/{journey_id}/pause``."""

    @extend_schema(
        operation_id="journeys_pause",
        summary="Stop new entries into a live journey",
        description="Only a live journey can be paused (409 otherwise); publish resumes it.",
        parameters=[JOURNEY_ID],
        request=None,
        responses={200: JourneyDetailSerializer, **_errors(401, 404, 409, 429)},
    )
    def post(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        journey = journey_pause(journey=_journey(self.workspace.pk, journey_id))
        return Response(_detail(self.request, journey))


class JourneyArchiveApi(WorkspaceApiView):
    """``POST journeys/{journey_id}/archive``."""

    @extend_schema(
        operation_id="journeys_archive",
        summary="Archive a journey: no new entries, no more edits",
        description=(
            "Archiving is final: the journey can no longer be edited or published, and "
            "its active runs exit."
        ),
        parameters=[JOURNEY_ID],
        request=None,
        responses={200: JourneyDetailSerializer, **_errors(401, 404, 409, 429)},
    )
    def post(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        journey = journey_archive(journey=_journey(self.workspace.pk, journey_id))
        return Response(_detail(self.request, journey))


def _version(version: JourneyVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "published_at": version.published_at,
    }


class WebhookSecretSerializer(serializers.Serializer):
    secret = StrictCharField(
        max_length=200,
        validators=[RegexValidator(WEBHOOK_SECRET_PATTERN)],
        help_text="The secret the sender signs with, as it gives it (e.g. whsec_...): "
        "printable, no spaces",
    )


class JourneyWebhookRotateApi(WorkspaceApiView):
    """``POST journeys/{journey_id}/webhook/rotate``."""

    @extend_schema(
        operation_id="journeys_webhook_rotate",
        summary="Give a webhook trigger a new secret URL",
        description="The old URL answers 404 at once. 409 for a journey without a webhook trigger.",
        parameters=[JOURNEY_ID],
        request=None,
        responses={200: JourneyDetailSerializer, **_errors(401, 404, 409, 429)},
    )
    def post(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        journey = journey_webhook_rotate(journey=_journey(self.workspace.pk, journey_id))
        return Response(_detail(self.request, journey))


class JourneyWebhookSecretApi(WorkspaceApiView):
    """``PUT|DELETE journeys/{journey_id}/webhook/secret``."""

    @extend_schema(
        operation_id="journeys_webhook_secret_set",
        summary="Set the secret a webhook trigger's sender signs with",
        description="Used when the trigger's ``signature`` is standard or stripe. Never "
        "shown again. 409 for a journey without a webhook trigger.",
        parameters=[JOURNEY_ID],
        request=WebhookSecretSerializer,
        responses={204: None, **error_responses(400), **_errors(401, 404, 409, 429)},
    )
    def put(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        given = WebhookSecretSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        journey = _journey(self.workspace.pk, journey_id)
        journey_webhook_secret_set(journey=journey, secret=given.validated_data["secret"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="journeys_webhook_secret_delete",
        summary="Remove a webhook trigger's signing secret",
        parameters=[JOURNEY_ID],
        request=None,
        responses={204: None, **_errors(401, 404, 409, 429)},
    )
    def delete(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        journey = _journey(self.workspace.pk, journey_id)
        journey_webhook_secret_set(journey=journey, secret=None)
        return Response(status=status.HTTP_204_NO_CONTENT)
