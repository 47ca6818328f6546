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
from journeys.entry.idempotency import idempotent
from journeys.entry.service import (
    customer_resolve,
    journey_for_trigger,
    journey_trigger_bulk,
    journey_trigger_customer,
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

    @property
    def is_bulk(self) -> bool:
        return "external_ids" in self.validated_data or "segment_ids" in self.validated_data


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
    },
)


class JourneyTriggerView(WorkspaceApiView):
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
            )
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
                description="Not enrolled, with the reason (single), or an empty list named"
                " the audience (bulk, every count zero)",
            ),
            **error_responses(400, 401, 404, 422, 429),
        },
        examples=[
            OpenApiExample("single", {"external_id": "user_123", "payload": {"order_id": "A1"}}),
            OpenApiExample("bulk", {"segment_ids": ["seg_..."], "exclude_external_ids": ["u9"]}),
        ],
    )
    def post(self, request: Request, workspace_id: str, journey_id: str) -> Response:
        return idempotent(
            request=request,
            workspace=self.workspace,
            execute=lambda: self.trigger(request.data, journey_id),
        )

    def trigger(self, data: Any, journey_id: str) -> Response:
        target = journey_for_trigger(workspace=self.workspace, journey_id=journey_id)
        parsed = TriggerInput(data=_canonical_names(data))
        parsed.is_valid(raise_exception=True)
        fields = parsed.validated_data
        if parsed.is_bulk:
            result = journey_trigger_bulk(
                workspace=self.workspace,
                target=target,
                external_ids=fields.get("external_ids"),
                segment_ids=fields.get("segment_ids"),
                exclude_external_ids=fields.get("exclude_external_ids"),
                payload=fields["payload"],
            )
            accepted = status.HTTP_200_OK if result.named_nobody else status.HTTP_202_ACCEPTED
            return Response(result.as_json(), status=accepted)
        customer = customer_resolve(
            workspace=self.workspace,
            customer_id=fields.get("customer_id"),
            external_id=fields.get("external_id"),
            email=fields.get("email"),
        )
        result = journey_trigger_customer(
            target=target, customer=customer, payload=fields["payload"]
        )
        if result.run_id is None:
            return Response({"status": result.outcome.value}, status=status.HTTP_200_OK)
        body: dict[str, Any] = {"status": result.outcome.value, "run_id": result.run_id}
        if result.restarted:
            body["restarted"] = True
        return Response(body, status=status.HTTP_202_ACCEPTED)
