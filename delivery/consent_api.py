"""Topics, frequency caps and customers' subscriptions through the API.

``GET|POST topics``, ``GET|POST frequency-caps`` and ``DELETE frequency-caps/{id}``,
``GET|PATCH customers/{id}/subscriptions``. Views parse and render; the rules live in
:mod:`delivery.consent` and :mod:`delivery.frequency_caps`.
"""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.errors import InvalidRequest
from customers.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from customers.http import WorkspaceApiView
from customers.openapi import SchemaRules, error_responses
from customers.selectors import customer_get
from delivery.consent import (
    ALL_TOPICS,
    TOPIC_KEY_MAX_LENGTH,
    TOPIC_KEY_PATTERN,
    subscriptions_of,
    subscriptions_update,
    topic_create,
    topic_list,
)
from delivery.frequency_caps import (
    CAPPED_CHANNELS,
    MAX_LIMIT,
    MAX_PERIOD_SECONDS,
    frequency_cap_create,
    frequency_cap_delete,
    frequency_cap_list,
)
from delivery.models import FrequencyCap


class TopicSerializer(serializers.Serializer):
    key = serializers.CharField(help_text='What send steps name: "topic": "<key>"')
    name = serializers.CharField(help_text="What customers see on the unsubscribe page")
    default_subscribed = serializers.BooleanField(
        help_text="true: customers receive it until they unsubscribe (opt-out); "
        "false: only those who subscribed (opt-in)"
    )
    created_at = serializers.DateTimeField()


class TopicListSerializer(serializers.Serializer):
    results = TopicSerializer(many=True)


class TopicListApi(WorkspaceApiView):
    """``GET|POST topics``."""

    class TopicCreateInputSerializer(SchemaRules, serializers.Serializer):
        """A new topic: its key (what send steps name) and the name customers see."""

        key = StrictCharField(max_length=TOPIC_KEY_MAX_LENGTH)
        name = StrictCharField(max_length=200)
        default_subscribed = StrictBooleanField(required=False, default=True)

        @classmethod
        def openapi_rules(cls, schema: dict[str, Any]) -> dict[str, Any]:
            # The key's form, "all" excepted (it names every marketing message).
            form = TOPIC_KEY_PATTERN.pattern.removeprefix("^")
            schema["properties"]["key"]["pattern"] = f"^(?!{ALL_TOPICS}$){form}"
            return schema

    @extend_schema(
        operation_id="topics_list",
        summary="List subscription topics",
        responses={200: TopicListSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str) -> Response:
        topics = topic_list(workspace=self.workspace)
        return Response({"results": [TopicSerializer(topic).data for topic in topics]})

    @extend_schema(
        operation_id="topics_create",
        summary="Create a subscription topic",
        request=TopicCreateInputSerializer,
        responses={
            201: OpenApiResponse(TopicSerializer, description="Created"),
            **error_responses(400, 401, 404, 409, 429),
        },
        description=(
            "A marketing send step names its topic; customers unsubscribe per topic, or "
            f"from '{ALL_TOPICS}' (every marketing message). 409 if the key exists."
        ),
    )
    def post(self, request: Request, workspace_id: str) -> Response:
        serializer = self.TopicCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        topic = topic_create(workspace=self.workspace, **serializer.validated_data)
        return Response(TopicSerializer(topic).data, status=status.HTTP_201_CREATED)


class FrequencyCapSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="cap_...")
    channel = serializers.ChoiceField(choices=CAPPED_CHANNELS)
    limit = serializers.IntegerField(help_text="Messages per customer at most...")
    period_seconds = serializers.IntegerField(help_text="...in any period this long")
    created_at = serializers.DateTimeField()


class FrequencyCapListSerializer(serializers.Serializer):
    results = FrequencyCapSerializer(many=True)


def _cap(cap: FrequencyCap) -> dict[str, Any]:
    return FrequencyCapSerializer(cap).data


class FrequencyCapListApi(WorkspaceApiView):
    """``GET|POST frequency-caps``."""

    class FrequencyCapCreateInputSerializer(serializers.Serializer):
        channel = serializers.ChoiceField(choices=CAPPED_CHANNELS)
        limit = StrictIntegerField(min_value=1, max_value=MAX_LIMIT)
        period_seconds = StrictIntegerField(min_value=1, max_value=MAX_PERIOD_SECONDS)

    @extend_schema(
        operation_id="frequency_caps_list",
        summary="List frequency caps",
        responses={200: FrequencyCapListSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, workspace_id: str) -> Response:
        caps = frequency_cap_list(workspace=self.workspace)
        return Response({"results": [_cap(cap) for cap in caps]})

    @extend_schema(
        operation_id="frequency_caps_create",
        summary="Create a frequency cap",
        request=FrequencyCapCreateInputSerializer,
        responses={
            201: OpenApiResponse(FrequencyCapSerializer, description="Created"),
            **error_responses(400, 401, 404, 409, 429),
        },
        description=(
            "At most `limit` marketing messages of `channel` per customer in any "
            "`period_seconds`, counted across every journey; transactional sends are "
            "exempt. A capped send is skipped (`frequency_capped` on the run's timeline) "
            "and the run goes on."
        ),
    )
    def post(self, request: Request, workspace_id: str) -> Response:
        serializer = self.FrequencyCapCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cap = frequency_cap_create(workspace=self.workspace, **serializer.validated_data)
        return Response(_cap(cap), status=status.HTTP_201_CREATED)


class FrequencyCapDetailApi(WorkspaceApiView):
    """``DELETE frequency-caps/{cap_id}``."""

    @extend_schema(
        operation_id="frequency_caps_delete",
        summary="Delete a frequency cap",
        request=None,
        responses={204: OpenApiResponse(description="Deleted"), **error_responses(401, 404, 429)},
    )
    def delete(self, request: Request, workspace_id: str, cap_id: str) -> Response:
        frequency_cap_delete(workspace=self.workspace, cap_id=cap_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


#: ``{"all": bool, "<topic key>": bool, ...}``: the keys are the workspace's topics.
_SUBSCRIPTIONS = {
    "type": "object",
    "properties": {ALL_TOPICS: {"type": "boolean", "description": "Any marketing message at all"}},
    "additionalProperties": {"type": "boolean", "description": "A topic's key"},
}


class SubscriptionsApi(WorkspaceApiView):
    """``GET|PATCH customers/{customer_id}/subscriptions``."""

    @extend_schema(
        operation_id="subscriptions_retrieve",
        summary="A customer's subscriptions",
        responses={
            200: OpenApiResponse(_SUBSCRIPTIONS, description="Subscriptions by topic"),
            **error_responses(401, 404, 429),
        },
        description=(
            f"`{ALL_TOPICS}` and every topic of the workspace, true or false: the "
            "customer's own choice, else the topic's default."
        ),
    )
    def get(self, request: Request, workspace_id: str, customer_id: str) -> Response:
        customer = customer_get(workspace=self.workspace, customer_id=customer_id)
        return Response(subscriptions_of(customer=customer))

    @extend_schema(
        operation_id="subscriptions_update",
        summary="Change a customer's subscriptions",
        request={"application/json": _SUBSCRIPTIONS},
        responses={
            200: OpenApiResponse(_SUBSCRIPTIONS, description="Subscriptions by topic"),
            **error_responses(400, 401, 404, 429),
        },
        description=(
            'An object of topic key to true or false, e.g. {"newsletter": false} or '
            f'{{"{ALL_TOPICS}": false}}; all or nothing: a key that is not one of the '
            "workspace's topics is a 400. Answers every subscription."
        ),
    )
    def patch(self, request: Request, workspace_id: str, customer_id: str) -> Response:
        customer = customer_get(workspace=self.workspace, customer_id=customer_id)
        if not isinstance(request.data, dict):
            raise InvalidRequest("expected an object of topic to true or false")
        changes = subscriptions_update(customer=customer, changes=request.data)
        return Response(changes)
