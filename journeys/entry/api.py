"""``POST journeys/{journey_id}/trigger``: the native trigger API (the Tappd seed)."""

from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.errors import InvalidRequest
from customers.http import WorkspaceApiView
from customers.openapi import error_responses
from customers.ratelimit import TRIGGER_BUDGET
from journeys.entry.core import Outcome
from journeys.entry.idempotency import idempotency_guard
from journeys.entry.service import Audience, TriggerResult, journey_trigger

#: The seed accepts camelCase twins of every field.
ALIASES = {
    "externalId": "external_id",
    "customerId": "customer_id",
    "properties": "payload",
    "externalIds": "external_ids",
    "segmentIds": "segment_ids",
    "excludeExternalIds": "exclude_external_ids",
}


class TriggerInput(serializers.Serializer):
    """Single: one of external_id / email / customer_id. Bulk: external_ids and/or
    segment_ids (intersection when both), minus exclude_external_ids. camelCase names
    (externalId, customerId, externalIds, segmentIds, excludeExternalIds) and
    ``properties`` for ``payload`` are accepted too."""

    # No length limits on identifiers: an id of any shape that does not exist is a 404.
    # Blank or null counts as not given: the seed's "Missing required parameter".
    external_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    email = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    customer_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    payload = serializers.DictField(required=False, default=dict)
    external_ids = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False
    )
    segment_ids = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    exclude_external_ids = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False
    )

    def audience(self) -> Audience:
        fields = self.validated_data
        return Audience(
            customer_id=fields.get("customer_id"),
            external_id=fields.get("external_id"),
            email=fields.get("email"),
            external_ids=fields.get("external_ids"),
            segment_ids=fields.get("segment_ids"),
            exclude_external_ids=fields.get("exclude_external_ids"),
        )


def _canonical_names(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    canonical = {}
    for name, value in data.items():
        canonical.setdefault(ALIASES.get(name, name), value)
    return canonical


SingleOutput = inline_serializer(
    "TriggerSingleResponse",
    {
        "status": serializers.ChoiceField(
            choices=[
                "enrolled",
                "already_enrolled",
                "recently_completed",
                "max_entries_reached",
                "conditions_not_met",
            ]
        ),
        "run_id": serializers.CharField(required=False),
        "restarted": serializers.BooleanField(required=False),
        "dry_run": serializers.BooleanField(required=False),
    },
)
BulkOutput = inline_serializer(
    "TriggerBulkResponse",
    {
        "enrolled_count": serializers.IntegerField(),
        "not_enrolled": inline_serializer(
            "TriggerNotEnrolled",
            {
                name: serializers.IntegerField()
                for name in (
                    "not_found",
                    "already_enrolled",
                    "recently_completed",
                    "max_entries_reached",
                    "conditions_not_met",
                )
            },
        ),
        "dry_run": serializers.BooleanField(required=False),
    },
)


class JourneyTriggerView(WorkspaceApiView):
    """Parses the body into an audience, calls the trigger service once, renders it."""

    rate_limit_budget = TRIGGER_BUDGET

    @extend_schema(
        operation_id="journey_trigger",
        summary="Enroll customers into a live API-triggered journey",
        request=TriggerInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=False,
                description="Same key and body within 24 h replays the first answer.",
            ),
            OpenApiParameter(
                "dry_run",
                type=bool,
                location=OpenApiParameter.QUERY,
                required=False,
                description='Answer what the trigger would do, with "dry_run": true, and'
                " write nothing (no run, customer, idempotency record or message).",
            ),
        ],
        responses={
            202: OpenApiResponse(
                PolymorphicProxySerializer(
                    "TriggerAccepted",
                    serializers=[SingleOutput, BulkOutput],
                    resource_type_field_name=None,
                ),
                description="Enrolled (single) or the bulk counts",
            ),
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    "TriggerNotAccepted",
                    serializers=[SingleOutput, BulkOutput],
                    resource_type_field_name=None,
                ),
                description="Not enrolled, with the reason (single); an empty list named"
                " the audience (bulk, every count zero); or any dry run",
            ),
            **error_responses(400, 401, 404, 422, 429),
        },
        examples=[
            OpenApiExample("single", {"external_id": "user_123", "payload": {"order_id": "A1"}}),
            OpenApiExample("bulk", {"segment_ids": ["seg_..."], "exclude_external_ids": ["u9"]}),
        ],
    )
    def post(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        dry_run = _flag(request.query_params, "dry_run")
        parsed = TriggerInput(data=_canonical_names(request.data))
        if dry_run:  # writes nothing, not even an idempotency record
            return self.trigger(parsed, journey_id, dry_run=True)
        with idempotency_guard(request=request, workspace=self.workspace) as guard:
            if guard.replay is not None:
                return guard.replay
            return guard.complete(self.trigger(parsed, journey_id, dry_run=False))

    def trigger(self, parsed: TriggerInput, journey_id: str, *, dry_run: bool) -> Response:
        parsed.is_valid(raise_exception=True)
        result = journey_trigger(
            workspace=self.workspace,
            journey_id=journey_id,
            audience=parsed.audience(),
            payload=parsed.validated_data["payload"],
            dry_run=dry_run,
        )
        return Response(_body(result), status=_status(result))


def _flag(params: Any, name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0", ""):
        return False
    raise InvalidRequest(f"{name} must be true or false (got {value!r})")


def _body(result: TriggerResult) -> dict[str, Any]:
    if result.bulk:
        outcomes = result.entry.outcomes
        body: dict[str, Any] = {
            "enrolled_count": result.entry.enrolled_count,
            "not_enrolled": {
                "not_found": result.not_found,
                **{
                    outcome.value: outcomes[outcome]
                    for outcome in Outcome
                    if outcome != Outcome.ENROLLED
                },
            },
        }
    else:
        body = {"status": result.outcome.value}
        if result.run_id is not None:
            body["run_id"] = result.run_id
        if result.restarted:
            body["restarted"] = True
    if result.dry_run:
        body["dry_run"] = True
    return body


def _status(result: TriggerResult) -> int:
    """202 for work accepted: a single trigger's new run, any bulk trigger that named
    someone. 200 for the rest: a single trigger that enrolled no one, a bulk trigger's
    empty list, and every dry run (nothing was accepted)."""
    if result.dry_run:
        return status.HTTP_200_OK
    accepted = not result.named_nobody if result.bulk else result.run_id is not None
    return status.HTTP_202_ACCEPTED if accepted else status.HTTP_200_OK
