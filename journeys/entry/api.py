"""``POST journeys/{journey_id}/trigger``: the native trigger API (the Tappd seed)."""

import copy
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
from customers.fields import StrictCharField
from customers.http import WorkspaceApiView
from customers.openapi import SchemaRules, error_responses
from customers.patterns import NOT_BLANK_PATTERN
from customers.ratelimit import TRIGGER_BUDGET
from journeys.entry.core import Outcome
from journeys.entry.idempotency import (
    HEADER,
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    idempotency_guard,
    idempotency_key_get,
)
from journeys.entry.service import (
    LIST_LIMITS,
    Audience,
    TriggerResult,
    journey_trigger,
    list_size_check,
)

#: The seed accepts camelCase twins of every field.
ALIASES = {
    "externalId": "external_id",
    "customerId": "customer_id",
    "properties": "payload",
    "externalIds": "external_ids",
    "segmentIds": "segment_ids",
    "excludeExternalIds": "exclude_external_ids",
}


#: The identifiers that name one customer, and the lists that name many.
SINGLE_NAMES = ("external_id", "email", "customer_id")
BULK_NAMES = ("external_ids", "segment_ids")
TWINS = {name: alias for alias, name in ALIASES.items()}


class TriggerInput(SchemaRules, serializers.Serializer):
    """Single: one of external_id / email / customer_id. Bulk: external_ids and/or
    segment_ids (intersection when both), minus exclude_external_ids.

    The seed's camelCase names (externalId, customerId, externalIds, segmentIds,
    excludeExternalIds, and ``properties`` for ``payload``) are fields of their own with
    the same rules; of two twins, the snake_case one is used unless it is not given.
    """

    # No length limits on identifiers: an id of any shape that does not exist is a 404.
    # Null counts as not given, for every field, and blank for the identifiers: the
    # seed's "Missing required parameter".
    external_id = StrictCharField(required=False, allow_blank=True, allow_null=True)
    email = StrictCharField(required=False, allow_blank=True, allow_null=True)
    customer_id = StrictCharField(required=False, allow_blank=True, allow_null=True)
    payload = serializers.DictField(required=False, allow_null=True)
    external_ids = serializers.ListField(
        child=StrictCharField(max_length=255), required=False, allow_null=True
    )
    segment_ids = serializers.ListField(
        child=StrictCharField(max_length=40), required=False, allow_null=True
    )
    exclude_external_ids = serializers.ListField(
        child=StrictCharField(max_length=255), required=False, allow_null=True
    )

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise InvalidRequest("request body must be a JSON object")
        return super().to_internal_value(data)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for alias, name in ALIASES.items():
            fields[alias] = copy.deepcopy(fields[name])
        return fields

    @classmethod
    def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
        """The list limits, and "name someone": an identifier that is not blank, or a
        list (an empty list names nobody, and answers 200)."""
        for name, limit in LIST_LIMITS.items():
            for twin in (name, TWINS[name]):
                schema["properties"][twin]["maxItems"] = limit
        named = [*SINGLE_NAMES, *(a for a, n in ALIASES.items() if n in SINGLE_NAMES)]
        listed = [*BULK_NAMES, *(a for a, n in ALIASES.items() if n in BULK_NAMES)]
        schema["anyOf"] = [
            {
                "required": [name],
                "properties": {name: {"type": "string", "pattern": NOT_BLANK_PATTERN}},
            }
            for name in named
        ] + [{"required": [name], "properties": {name: {"type": "array"}}} for name in listed]
        return schema

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Each list within its limit, under either name (a twin that is not used too)."""
        for name, limit in LIST_LIMITS.items():
            for twin in (name, TWINS[name]):
                list_size_check(twin, attrs.get(twin), limit)
        return attrs

    def given(self, name: str) -> Any:
        """The value of ``name``, or of its camelCase twin when ``name`` is not given."""
        value = self.validated_data.get(name)
        if value is None or value == "":
            value = self.validated_data.get(TWINS.get(name, name))
        return value

    def audience(self) -> Audience:
        return Audience(
            customer_id=self.given("customer_id"),
            external_id=self.given("external_id"),
            email=self.given("email"),
            external_ids=self.given("external_ids"),
            segment_ids=self.given("segment_ids"),
            exclude_external_ids=self.given("exclude_external_ids"),
        )


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


#: The ``Idempotency-Key`` header of every trigger operation (the dialects' too).
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "pattern": KEY_PATTERN, "maxLength": MAX_KEY_LENGTH},
    location=OpenApiParameter.HEADER,
    required=False,
    description="Same key and body within 24 h replays the first answer; the "
    "same key with another body is a 422.",
)


class JourneyTriggerView(WorkspaceApiView):
    """Parses the body into an audience, calls the trigger service once, renders it."""

    rate_limit_budget = TRIGGER_BUDGET

    @extend_schema(
        operation_id="journey_trigger",
        summary="Enroll customers into a live API-triggered journey",
        request=TriggerInput,
        parameters=[
            IDEMPOTENCY_KEY_PARAMETER,
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
            OpenApiExample(
                "bulk", {"external_ids": ["user_1", "user_2"], "exclude_external_ids": ["user_2"]}
            ),
        ],
    )
    def post(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        dry_run = _flag(request.query_params, "dry_run")
        parsed = TriggerInput(data=request.data)
        if dry_run:  # writes nothing, not even an idempotency record
            idempotency_key_get(request)
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
            payload=parsed.given("payload") or {},
            dry_run=dry_run,
        )
        return Response(trigger_result_body(result), status=trigger_result_status(result))


def _flag(params: Any, name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidRequest(f"{name} must be true or false (got {value!r})")


def trigger_result_body(result: TriggerResult) -> dict[str, Any]:
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


def trigger_result_status(result: TriggerResult) -> int:
    """202 for work accepted: a single trigger's new run, any bulk trigger that named
    someone. 200 for the rest: a single trigger that enrolled no one, a bulk trigger's
    empty list, and every dry run (nothing was accepted)."""
    if result.dry_run:
        return status.HTTP_200_OK
    accepted = not result.named_nobody if result.bulk else result.run_id is not None
    return status.HTTP_202_ACCEPTED if accepted else status.HTTP_200_OK
