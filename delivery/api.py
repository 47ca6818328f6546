"""State webhook endpoints API: register, list and delete where run events are sent.

Views only parse and render; the rules live in :mod:`delivery.state_webhooks`. The
signing secret appears in the creation response only, like an API key.
"""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.fields import StrictCharField
from customers.http import WorkspaceApiView
from customers.openapi import SchemaRules, error_responses
from delivery.models import WebhookEndpoint
from delivery.state_webhooks.endpoints import (
    EVENT_TYPES,
    MAX_ENDPOINTS_PER_WORKSPACE,
    URL_PATTERN,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_list,
)


class WebhookEndpointOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="whe_...")
    url = serializers.CharField()
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        help_text="Event types sent to this endpoint; empty means all.",
    )
    enabled = serializers.BooleanField(
        help_text="False once the endpoint answered 410 Gone; nothing is sent to it then."
    )
    disabled_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class WebhookEndpointCreatedSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(
        help_text="whsec_...: verifies the webhook-signature header. Shown only once."
    )


class WebhookEndpointListSerializer(serializers.Serializer):
    results = WebhookEndpointOutputSerializer(many=True)


def _render(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return WebhookEndpointOutputSerializer(endpoint).data


class WebhookEndpointListApi(WorkspaceApiView):
    """``GET|POST webhooks``."""

    class WebhookEndpointCreateInputSerializer(SchemaRules, serializers.Serializer):
        url = StrictCharField(max_length=2048, help_text="An absolute http:// or https:// URL")
        event_types = serializers.ListField(
            child=StrictCharField(max_length=64),
            required=False,
            allow_null=True,
            max_length=len(EVENT_TYPES),
            help_text="Any of: " + ", ".join(EVENT_TYPES) + ". Omitted or empty: all.",
        )

        @classmethod
        def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
            """The URL's form (``webhook_url_validate``) and the known event types."""
            schema["properties"]["url"]["pattern"] = URL_PATTERN
            schema["properties"]["event_types"]["items"]["enum"] = list(EVENT_TYPES)
            return schema

    @extend_schema(
        operation_id="webhooks_list",
        summary="List webhook endpoints",
        description="The workspace's endpoints, oldest first. Secrets are never listed.",
        responses={200: WebhookEndpointListSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str) -> Response:
        endpoints = webhook_endpoint_list(workspace=self.workspace)
        return Response({"results": [_render(endpoint) for endpoint in endpoints]})

    @extend_schema(
        operation_id="webhooks_create",
        summary="Register a webhook endpoint",
        request=WebhookEndpointCreateInputSerializer,
        responses={
            201: OpenApiResponse(WebhookEndpointCreatedSerializer, description="Created"),
            **error_responses(400, 401, 404, 409, 429),
        },
        description=(
            "Run and journey events are POSTed to the URL as Standard Webhooks: a JSON "
            'body {"type", "timestamp", "data"} with webhook-id, webhook-timestamp and '
            "webhook-signature headers, signed with the secret returned here (once). "
            "Failed deliveries are retried for about 27 hours; a 410 answer disables "
            f"the endpoint. A workspace has at most {MAX_ENDPOINTS_PER_WORKSPACE} endpoints "
            "(409 beyond)."
        ),
    )
    def post(self, request: Request, workspace_id: str) -> Response:
        serializer = self.WebhookEndpointCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = webhook_endpoint_create(
            workspace=self.workspace,
            url=serializer.validated_data["url"],
            event_types=serializer.validated_data.get("event_types"),
        )
        return Response({**_render(endpoint), "secret": secret}, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(WorkspaceApiView):
    """``DELETE webhooks/{endpoint_id}``."""

    @extend_schema(
        operation_id="webhooks_delete",
        summary="Delete a webhook endpoint",
        request=None,
        responses={204: OpenApiResponse(description="Deleted"), **error_responses(401, 404, 429)},
        description="Deletes the endpoint; its pending deliveries are dropped.",
    )
    def delete(self, request: Request, workspace_id: str, endpoint_id: str) -> Response:
        webhook_endpoint_delete(workspace=self.workspace, endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
