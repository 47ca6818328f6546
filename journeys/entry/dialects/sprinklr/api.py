"""``POST /compat/sprinklr/api/marketing-journey/trigger`` and ``.../triggerWithNewProfile``.

Both answer 204 No Content once the trigger is accepted, as Sprinklr does: whether the
journey's entry rules let the profile in is not part of the answer (the runs API shows
the run when there is one).
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.errors import InvalidRequest
from customers.fields import StrictCharField
from customers.openapi import SchemaRules, error_responses
from customers.patterns import PYTHON_WHITESPACE_CLASS
from journeys.entry.api import IDEMPOTENCY_KEY_PARAMETER
from journeys.entry.dialects.sprinklr.authentication import SprinklrKeyAuthentication
from journeys.entry.dialects.sprinklr.service import (
    UnifiedProfile,
    is_email_type,
    sprinklr_trigger,
    sprinklr_trigger_with_new_profile,
)
from journeys.entry.dialects.views import DialectTriggerView

#: The seed's table spells them snID and journeyID, its examples snId and journeyId.
ALIASES = {"snID": "snId", "journeyID": "journeyId"}
#: Channel profiles of one unified profile (the customers API's limit on channels).
MAX_PROFILES = 20
#: ``EMAIL`` in any case, spaces around: the type whose channelId is an e-mail address
#: (:func:`is_email_type`, as a pattern the schema can state).
EMAIL_TYPE_PATTERN = (
    f"^[{PYTHON_WHITESPACE_CLASS}]*[Ee][Mm][Aa][Ii][Ll][{PYTHON_WHITESPACE_CLASS}]*$"
)


class StrictIntegerField(serializers.IntegerField):
    """An integer, and only one: not ``"12"``, ``12.0`` or ``true``."""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


def _context_params() -> serializers.DictField:
    return serializers.DictField(
        child=StrictCharField(allow_blank=True, trim_whitespace=False),
        required=False,
        default=dict,
        help_text="The trigger payload, strings by name: data.<name> in templates.",
    )


def _journey_id() -> StrictCharField:
    return StrictCharField(
        max_length=255, help_text="The journey to trigger (jrn_...); journeyID works too."
    )


class SprinklrTriggerInput(serializers.Serializer):
    snType = StrictCharField(
        max_length=40, help_text="EMAIL, SMS, WHATSAPP_BUSINESS or another channel type."
    )
    snId = StrictCharField(
        max_length=320, help_text="The profile's id on that channel; snID works too."
    )
    journeyId = _journey_id()
    contextParams = _context_params()


class ChannelProfileInput(SchemaRules, serializers.Serializer):
    """One of the profile's channels: an EMAIL one is its address, any other a channel
    identity."""

    channelType = StrictCharField(max_length=40, help_text="EMAIL, SMS, WHATSAPP_BUSINESS...")
    channelId = StrictCharField(
        max_length=320, help_text="The address or id on that channel (EMAIL: an address)."
    )
    name = StrictCharField(
        required=False, allow_blank=True, allow_null=True, max_length=200, help_text="Not kept."
    )

    @classmethod
    def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
        """An EMAIL profile's channelId is an e-mail address."""
        schema["anyOf"] = [
            {"properties": {"channelType": {"not": {"pattern": EMAIL_TYPE_PATTERN}}}},
            {"properties": {"channelId": {"format": "email"}}},
        ]
        return schema

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if is_email_type(attrs["channelType"]):
            try:
                validate_email(attrs["channelId"])
            except DjangoValidationError:
                raise serializers.ValidationError(
                    {"channelId": ["Enter a valid email address."]}
                ) from None
        return attrs


class UnifiedProfileInput(serializers.Serializer):
    """Sprinklr's unified profile: created, or updated when its id (or its first EMAIL
    address) is known."""

    id = StrictCharField(max_length=255, help_text="The profile's id, kept as its external_id.")
    contact = serializers.DictField(
        required=False, default=dict, help_text="firstName... kept as first_name..."
    )
    profiles = serializers.ListField(
        child=ChannelProfileInput(), required=False, default=list, max_length=MAX_PROFILES
    )
    createdTime = StrictIntegerField(required=False, allow_null=True, help_text="Not kept.")


class SprinklrTriggerWithNewProfileInput(serializers.Serializer):
    journeyId = _journey_id()
    contextParams = _context_params()
    unifiedProfile = UnifiedProfileInput()


def _parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    canonical: dict[str, Any] = {}
    for name, value in data.items():
        canonical.setdefault(ALIASES.get(name, name), value)
    parsed = serializer_class(data=canonical)
    parsed.is_valid(raise_exception=True)
    return parsed.validated_data


def _answers(
    not_found: str, more: dict[int, OpenApiResponse] | None = None
) -> dict[int, OpenApiResponse]:
    """204, and the errors both endpoints answer (400, 413 and 415 are added for every
    operation with a body, see ``customers.openapi.standard_responses``)."""
    error = error_responses(404)[404].response
    return {
        204: OpenApiResponse(description="Triggered: the profile was handed to the journey"),
        **error_responses(400, 401),
        404: OpenApiResponse(error, description=not_found),
        **(more or {}),
        **error_responses(422, 429),
    }


class SprinklrView(DialectTriggerView):
    """Sprinklr's credentials (``Key`` or ``Authorization``); ``trigger`` reads the body
    and returns the 204."""

    authentication_classes = [SprinklrKeyAuthentication]

    def post(self, request: Request) -> Response:
        return self.idempotent(request, lambda: self.trigger(request.data))

    def trigger(self, data: Any) -> Response:
        raise NotImplementedError


@extend_schema_view(
    post=extend_schema(
        operation_id="sprinklr_trigger",
        summary="Trigger a journey for a profile (Sprinklr dialect)",
        description="Sprinklr's trigger: the profile is found by snType/snId (EMAIL by"
        " address, SMS and WHATSAPP_BUSINESS by number, others by channel identity) and"
        " the journey entered with contextParams as its payload. The key goes in"
        " Authorization (Bearer or bare) or in Key.",
        tags=["dialect: sprinklr"],
        request=SprinklrTriggerInput,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses=_answers("Unknown journey or profile"),
        examples=[
            OpenApiExample(
                "trigger",
                {
                    "snType": "EMAIL",
                    "snId": "ada@example.com",
                    "journeyId": "jrn_...",
                    "contextParams": {"key1": "string"},
                },
                request_only=True,
            )
        ],
    )
)
class SprinklrTriggerView(SprinklrView):
    def trigger(self, data: Any) -> Response:
        fields = _parse(SprinklrTriggerInput, data)
        sprinklr_trigger(
            workspace=self.workspace,
            journey_id=fields["journeyId"],
            sn_type=fields["snType"],
            sn_id=fields["snId"],
            context_params=fields["contextParams"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    post=extend_schema(
        operation_id="sprinklr_trigger_with_new_profile",
        summary="Create or update a profile, then trigger a journey (Sprinklr dialect)",
        description="The unified profile becomes a customer (id as external_id, the first"
        " EMAIL profile as the e-mail address, other profiles as channel identities,"
        " contact fields as snake_case attributes), created or updated, then the journey"
        " is triggered for it. An error leaves no profile behind.",
        tags=["dialect: sprinklr"],
        request=SprinklrTriggerWithNewProfileInput,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses=_answers(
            "Unknown journey",
            {
                409: OpenApiResponse(
                    error_responses(409)[409].response,
                    description="The profile's e-mail address belongs to another profile",
                )
            },
        ),
    )
)
class SprinklrTriggerWithNewProfileView(SprinklrView):
    def trigger(self, data: Any) -> Response:
        fields = _parse(SprinklrTriggerWithNewProfileInput, data)
        profile = fields["unifiedProfile"]
        sprinklr_trigger_with_new_profile(
            workspace=self.workspace,
            journey_id=fields["journeyId"],
            profile=UnifiedProfile(
                id=profile["id"],
                contact=profile["contact"],
                profiles=[(p["channelType"], p["channelId"]) for p in profile["profiles"]],
            ),
            context_params=fields["contextParams"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
