"""``POST /compat/enroll/v1/journeys/{id}/enroll``: the vendor's request and answers."""

from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from customers.fields import StrictCharField
from customers.openapi import SchemaRules, error_responses
from journeys.entry.api import IDEMPOTENCY_KEY_PARAMETER
from journeys.entry.dialects.enroll.service import (
    MAX_CONTACTS,
    MAX_LISTS,
    NO_ADDRESSES,
    EnrollInvalid,
    journey_contacts_enroll,
)
from journeys.entry.dialects.views import DialectTriggerView

#: Longer than any e-mail address can be (RFC 5321), as the customers' column is.
MAX_ADDRESS_LENGTH = 320


def _addresses_field(limit: int, help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=MAX_ADDRESS_LENGTH),
        max_length=limit,
        required=False,
        allow_null=True,
        help_text=help_text + " Trimmed and lower-cased; null is the same as none.",
    )


ADDRESS_LISTS = ("contact_email_addresses", "list_email_addresses")


class EnrollInput(SchemaRules, serializers.Serializer):
    """Contacts by e-mail address and lists by list address: at least one address."""

    contact_email_addresses = _addresses_field(
        MAX_CONTACTS, f"Contacts to enroll, by e-mail address (at most {MAX_CONTACTS:,})."
    )
    list_email_addresses = _addresses_field(
        MAX_LISTS, f"Lists whose members to enroll, by list address (at most {MAX_LISTS})."
    )

    @classmethod
    def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
        """At least one address, in either list (else the seed's 422 in the base shape)."""
        schema["anyOf"] = [
            {"required": [name], "properties": {name: {"type": "array", "minItems": 1}}}
            for name in ADDRESS_LISTS
        ]
        return schema


def _addresses(help_text: str) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(), help_text=help_text)


EnrollOutput = inline_serializer(
    "EnrollResponse",
    {
        "enrolled_count": serializers.IntegerField(),
        "not_enrolled": inline_serializer(
            "EnrollNotEnrolled",
            {
                "not_found": _addresses("Contact addresses that match no active contact"),
                "already_enrolled": _addresses(
                    "Contacts with a run (active, or completed when the journey allows one entry)"
                ),
                "recently_completed": _addresses(
                    "Contacts who completed the journey within"
                    " the last 12 hours (or its longer re-entry cooldown)"
                ),
                "max_entries_reached": serializers.ListField(
                    child=serializers.CharField(),
                    required=False,
                    help_text="Only when someone reached the journey's entry maximum",
                ),
                "conditions_not_met": serializers.ListField(
                    child=serializers.CharField(),
                    required=False,
                    help_text="Only when someone failed the journey's conditions",
                ),
            },
        ),
    },
)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        ]
    }
)
class _EnrollErrorField(serializers.Field):
    pass


EnrollError = inline_serializer(
    "EnrollError",
    {"error": _EnrollErrorField(help_text="A message, or messages by field (base: the request)")},
)


class JourneyEnrollView(DialectTriggerView):
    @extend_schema(
        operation_id="enroll_journey",
        summary="Enroll contacts and lists' members into a journey (enroll dialect)",
        description="The enroll vendor's API: contacts by e-mail address, lists by their"
        " list address, each person once. The journey must be live ('on'); people with an"
        " active run or who completed it within 12 hours are left out, on top of the"
        " journey's own entry rules. 200 also when nobody was enrolled.",
        tags=["dialect: enroll"],
        request=EnrollInput,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            200: OpenApiResponse(EnrollOutput, description="Enrolled, and who was not"),
            **error_responses(400, 401, 404, 429),
            422: OpenApiResponse(
                EnrollError,
                description="The journey is not 'on', no address was given, a list address"
                " names no list, or a parameter is invalid",
            ),
        },
        examples=[
            OpenApiExample(
                "contacts", {"contact_email_addresses": ["user1@example.com"]}, request_only=True
            ),
            OpenApiExample(
                "no addresses",
                {"error": {"base": [NO_ADDRESSES]}},
                response_only=True,
                status_codes=["422"],
            ),
        ],
    )
    def post(self, request: Request, journey_id: str) -> Response:
        parsed = EnrollInput(data=request.data)
        return self.idempotent(request, lambda: self.enroll(parsed, journey_id))

    def enroll(self, parsed: EnrollInput, journey_id: str) -> Response:
        if not parsed.is_valid():
            raise EnrollInvalid(_vendor_problems(parsed.errors))
        result = journey_contacts_enroll(
            workspace=self.workspace,
            journey_id=journey_id,
            contact_emails=parsed.validated_data.get("contact_email_addresses"),
            list_emails=parsed.validated_data.get("list_email_addresses"),
        )
        return Response(
            {"enrolled_count": result.enrolled_count, "not_enrolled": result.not_enrolled}
        )


def _vendor_problems(errors: dict[str, Any]) -> dict[str, list[str]]:
    """DRF's errors as ``{field: [message, ...]}``, the request's own under ``base``."""
    problems: dict[str, list[str]] = {}
    for name, detail in errors.items():
        key = "base" if name == "non_field_errors" else name
        problems[key] = _messages(detail)
    return problems


def _messages(detail: Any, where: str = "") -> list[str]:
    if isinstance(detail, dict):  # a list's items: {index: [messages]}
        return [m for index, inner in detail.items() for m in _messages(inner, f"[{index}] ")]
    if isinstance(detail, list):
        return [m for inner in detail for m in _messages(inner, where)]
    return [f"{where}{detail}"]
