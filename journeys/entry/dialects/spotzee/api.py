"""Spotzee's ``GET /journeys`` and ``POST /journeys/{id}/trigger`` (seed 003).

Views parse and render; the dialect's rules are in
:mod:`journeys.entry.dialects.spotzee.service`. The key's workspace is the workspace.
"""

import re
from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.errors import InvalidRequest
from customers.fields import StrictCharField, StrictEmailField, TimezoneField
from customers.models import normalize_email
from customers.openapi import SchemaRules, error_responses
from journeys.entry.api import IDEMPOTENCY_KEY_PARAMETER
from journeys.entry.dialects.spotzee.service import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_USERS,
    MESSAGES,
    SPOTZEE_STATUS,
    SpotzeeTriggerResult,
    SpotzeeUser,
    spotzee_journey_trigger,
    spotzee_journeys_page,
)
from journeys.entry.dialects.views import DialectTriggerView, DialectView

IDENTIFIERS = ("external_id", "anonymous_id", "email")
#: A cursor is the id of the last journey of the page before.
CURSOR_PATTERN = r"^jrn_[0-9a-f]{32}$"
#: Codes of a user's error in a trigger's answer (service.MESSAGES says each one).
ERROR_CODES = sorted([*MESSAGES, "contact_conflict", "invalid_data"])
#: Journey statuses in Spotzee's words.
STATUSES = sorted(set(SPOTZEE_STATUS.values()))


class UserInput(SchemaRules, serializers.Serializer):
    """One entrance: who (at least one identifier), their traits, the entrance's data.

    External and anonymous ids are opaque, kept as sent (spaces too); only ``""`` or
    null is "not given". Every field besides these is a trait.
    """

    external_id = StrictCharField(
        max_length=255, required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    anonymous_id = StrictCharField(
        max_length=255,
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Finds a known contact; alone it cannot create one",
    )
    email = StrictEmailField(max_length=320, required=False, allow_null=True)
    timezone = TimezoneField(required=False, help_text="The contact's IANA time zone")
    data = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="The entrance's data: {{ data.x }} and {{ x }} in the journey's templates",
    )

    class Meta:
        ref_name = "SpotzeeUser"

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        fields = super().to_internal_value(data)
        fields["traits"] = {name: v for name, v in data.items() if name not in self.fields}
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not any(attrs.get(name) for name in IDENTIFIERS):
            raise serializers.ValidationError(
                "a user needs an external_id, an anonymous_id or an email"
            )
        return attrs

    @classmethod
    def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
        """Traits beside the named fields, and an identifier that is given."""
        schema["description"] = (
            "One entrance. At least one identifier; every field besides the named ones is"
            " a trait, merged into the contact's attributes (null removes one)."
        )
        schema["additionalProperties"] = {}
        schema["anyOf"] = [
            {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}
            for name in IDENTIFIERS
        ]
        return schema


class TriggerInput(SchemaRules, serializers.Serializer):
    """``{"users": [...]}``: 1 to 1,000 users, each an entrance."""

    users = UserInput(
        many=True,
        allow_empty=False,
        max_length=MAX_USERS,
        error_messages={"max_length": f"at most {MAX_USERS:,} users a call"},
    )

    class Meta:
        ref_name = "SpotzeeTrigger"

    @classmethod
    def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
        schema["properties"]["users"].update(minItems=1, maxItems=MAX_USERS)
        return schema

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise InvalidRequest("request body must be a JSON object")
        return super().to_internal_value(data)

    def users_given(self) -> list[SpotzeeUser]:
        return [
            SpotzeeUser(
                external_id=user.get("external_id") or None,
                anonymous_id=user.get("anonymous_id") or None,
                email=normalize_email(user.get("email")),
                timezone=user.get("timezone"),
                traits=user["traits"],
                data=user.get("data") or {},
            )
            for user in self.validated_data["users"]
        ]


# --- documentation ----------------------------------------------------------------------


class UserErrorOutput(serializers.Serializer):
    """A user who did not enter: where they are in ``users``, who, and why."""

    index = serializers.IntegerField(help_text="The user's position in users")
    external_id = serializers.CharField(allow_null=True)
    anonymous_id = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True, help_text="Normalised (trimmed, lower-case)")
    code = serializers.ChoiceField(choices=ERROR_CODES)
    message = serializers.CharField()

    class Meta:
        ref_name = "SpotzeeUserError"


class TriggerOutput(serializers.Serializer):
    entrances_created = serializers.IntegerField(min_value=0)
    errors = UserErrorOutput(many=True)

    class Meta:
        ref_name = "SpotzeeTriggerResponse"


class JourneyOutput(serializers.Serializer):
    id = serializers.CharField(help_text="jrn_...")
    project_id = serializers.CharField(help_text="The workspace, ws_...")
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES, help_text="off: paused or archived")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "SpotzeeJourney"


class JourneyPageOutput(serializers.Serializer):
    results = JourneyOutput(many=True)
    nextCursor = serializers.CharField(  # Spotzee's names
        allow_null=True, help_text="Pass as cursor for the next page; null at the end"
    )
    prevCursor = serializers.CharField(
        allow_null=True, help_text="Always null: pages are walked forward"
    )
    limit = serializers.IntegerField()

    class Meta:
        ref_name = "SpotzeeJourneyPage"


# --- views ------------------------------------------------------------------------------


class SpotzeeJourneyListView(DialectView):
    """``GET /journeys``: the workspace's journeys, newest first."""

    @extend_schema(
        operation_id="spotzee_journeys_list",
        tags=["compat: spotzee"],
        summary="Spotzee: list journeys",
        parameters=[
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                description=f"Page size, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})",
            ),
            OpenApiParameter(
                "cursor",
                {"type": "string", "pattern": CURSOR_PATTERN},
                description="nextCursor of the page before",
            ),
        ],
        responses={200: JourneyPageOutput, **error_responses(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        limit = _limit(request.query_params.get("limit"))
        cursor = request.query_params.get("cursor")
        if cursor is not None and not re.fullmatch(CURSOR_PATTERN, cursor):
            raise InvalidRequest(
                "cursor: not a cursor a page gave; pass a page's nextCursor", field="cursor"
            )
        page = spotzee_journeys_page(workspace=self.workspace, limit=limit, cursor=cursor)
        results = [
            {
                "id": journey.public_id,
                "project_id": self.workspace.public_id,
                "name": journey.name,
                "status": SPOTZEE_STATUS[journey.status],
                "created_at": journey.created_at,
                "updated_at": journey.updated_at,
            }
            for journey in page.journeys
        ]
        return Response(
            JourneyPageOutput(
                {
                    "results": results,
                    "nextCursor": page.next_cursor,
                    "prevCursor": None,
                    "limit": limit,
                }
            ).data
        )


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise InvalidRequest(
            f"limit: must be an integer from 1 to {MAX_PAGE_SIZE} (got {raw!r})", field="limit"
        )
    return int(raw)


class SpotzeeTriggerView(DialectTriggerView):
    """``POST /journeys/{id}/trigger``: each user an entrance, in one call."""

    @extend_schema(
        operation_id="spotzee_journey_trigger",
        tags=["compat: spotzee"],
        summary="Spotzee: enter users into a live journey",
        description=(
            f"Each of users (1 to {MAX_USERS:,}) becomes an entrance, with its own data."
            " A contact is found by external_id, else email, else anonymous_id, and"
            " created when it has an external_id or an email. A user who cannot enter"
            " is listed in errors (code and message); the others enter. Draft and off"
            " journeys answer 409."
        ),
        request=TriggerInput,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            202: OpenApiResponse(TriggerOutput, description="Entrances created, errors per user"),
            **error_responses(400, 401, 404, 409, 422, 429),
        },
        examples=[
            OpenApiExample(
                "welcome",
                {
                    "users": [
                        {
                            "external_id": "cust_001",
                            "first_name": "Ada",
                            "data": {"trial_ends_at": "2026-05-12"},
                        },
                        {"email": "grace@example.com", "data": {"trial_ends_at": "2026-05-19"}},
                    ]
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, journey_id: str) -> Response:
        def answer() -> Response:
            parsed = TriggerInput(data=request.data)
            parsed.is_valid(raise_exception=True)
            users = parsed.users_given()
            result = spotzee_journey_trigger(
                workspace=self.workspace, journey_id=journey_id, users=users
            )
            return Response(_trigger_body(result, users), status=status.HTTP_202_ACCEPTED)

        return self.idempotent(request, answer)


def _trigger_body(result: SpotzeeTriggerResult, users: list[SpotzeeUser]) -> dict[str, Any]:
    return {
        "entrances_created": result.entrances_created,
        "errors": [
            {
                "index": error.index,
                **{name: getattr(users[error.index], name) for name in IDENTIFIERS},
                "code": error.code,
                "message": error.message,
            }
            for error in result.errors
        ],
    }
