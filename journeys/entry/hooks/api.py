"""``POST /hooks/<token>``: a webhook trigger's secret URL."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from customers.http import ApiView
from customers.openapi import error_responses
from customers.ratelimit import WebhookRateThrottle
from journeys.entry.api import SingleOutput, trigger_result_body, trigger_result_status
from journeys.entry.hooks.service import (
    webhook_delivery_key,
    webhook_journey,
    webhook_signature_check,
    webhook_trigger,
)
from journeys.entry.idempotency import idempotency_guard


class WebhookTriggerView(ApiView):
    """Any JSON a third party POSTs here enters the customer it names into the journey.

    The URL is the credential (no API key); a signature is checked when the journey's
    trigger asks for one. A delivery the sender retries (the same ``webhook-id`` or
    Stripe event id, or ``Idempotency-Key``) is answered again, not entered twice.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [WebhookRateThrottle]

    @extend_schema(
        operation_id="webhook_trigger",
        summary="Trigger a journey from a webhook",
        tags=["webhooks"],
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            202: OpenApiResponse(SingleOutput, description="Enrolled"),
            200: OpenApiResponse(SingleOutput, description="Not enrolled, and why"),
            **error_responses(400, 401, 404, 409, 413, 415, 422, 429),
        },
    )
    def post(self, request: Request, token: str) -> Response:
        journey = webhook_journey(token)
        raw = request.body  # before parsing: the signature is over these bytes
        webhook_signature_check(journey, raw, request.headers)
        payload = request.data
        key = webhook_delivery_key(journey, payload, request.headers)
        with idempotency_guard(request=request, workspace=journey.workspace, key=key) as guard:
            if guard.replay is not None:
                return guard.replay
            result = webhook_trigger(journey=journey, payload=payload)
            answer = Response(trigger_result_body(result), status=trigger_result_status(result))
            return guard.complete(answer)
