"""Segment's HTTP tracking API: ``POST /v1/{track,identify,group,page,screen,alias,batch}``.

Each view reads Segment's message (or batch), hands it to the event stream's one
service (:func:`journeys.entry.events.service.events_ingest`) and answers Segment's
``{"success": true}``. Errors keep the product's shape and add Segment's ``code`` and
``message``, which Segment's SDKs put in the exceptions they log.
"""

from typing import Any, ClassVar

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from customers.gc_pause import gc_paused
from customers.ratelimit import TRIGGER_BUDGET
from customers.tracking import MessageType, TrackedMessage
from journeys.entry.dialects.errors import exception_handler_shaped
from journeys.entry.dialects.segment.authentication import WriteKeyAuthentication
from journeys.entry.dialects.segment.errors import error_body
from journeys.entry.dialects.views import DialectView
from journeys.entry.events.api import BATCH_SCHEMA, CALL_SCHEMAS, LIMITS
from journeys.entry.events.messages import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    batch_parse,
    call_parse,
)
from journeys.entry.events.parsers import EventBodyParser
from journeys.entry.events.service import events_ingest


class WriteKeyScheme(OpenApiAuthenticationExtension):
    target_class = WriteKeyAuthentication
    name = "WriteKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Segment's write key: a workspace API key (sk_...) as the username, "
            "with an empty password. The body's writeKey, or Authorization: Bearer <key>, "
            "work too.",
        }


class SegmentAcceptedSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always true: the messages are stored")


class SegmentApiView(DialectView):
    """A Segment call: one message of ``message_type``, in the key's workspace."""

    authentication_classes = [WriteKeyAuthentication]
    parser_classes = [EventBodyParser]
    rate_limit_budget = TRIGGER_BUDGET
    body_limit = MAX_MESSAGE_BYTES
    message_type: ClassVar[MessageType]

    def get_exception_handler(self) -> Any:
        return exception_handler_shaped(error_body)

    def messages(self, request: Request) -> list[TrackedMessage]:
        return [call_parse(request.data, type=self.message_type)]

    def post(self, request: Request) -> Response:
        with gc_paused():
            events_ingest(workspace=self.workspace, messages=self.messages(request))
        return Response({"success": True})


def _segment(name: str, request: dict[str, Any], summary: str) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id=f"segment_{name}",
            summary=summary,
            description=(
                f"Segment's /v1/{name}, in the workspace of the write key. "
                f"{LIMITS} Segment answers 200 to a request with a bad message and drops "
                "the message; this answers 400."
            ),
            tags=["segment"],
            request={"application/json": request},
            responses={200: OpenApiResponse(SegmentAcceptedSerializer, description="Stored")},
        )
    )


@_segment("track", CALL_SCHEMAS[MessageType.TRACK], "Track an event")
class SegmentTrackApi(SegmentApiView):
    message_type = MessageType.TRACK


@_segment("identify", CALL_SCHEMAS[MessageType.IDENTIFY], "Identify a customer")
class SegmentIdentifyApi(SegmentApiView):
    message_type = MessageType.IDENTIFY


@_segment("group", CALL_SCHEMAS[MessageType.GROUP], "Put a customer in a group")
class SegmentGroupApi(SegmentApiView):
    message_type = MessageType.GROUP


@_segment("page", CALL_SCHEMAS[MessageType.PAGE], "Record a page view")
class SegmentPageApi(SegmentApiView):
    message_type = MessageType.PAGE


@_segment("screen", CALL_SCHEMAS[MessageType.SCREEN], "Record a screen view")
class SegmentScreenApi(SegmentApiView):
    message_type = MessageType.SCREEN


@_segment("alias", CALL_SCHEMAS[MessageType.ALIAS], "Join an anonymous id to a user id")
class SegmentAliasApi(SegmentApiView):
    message_type = MessageType.ALIAS


@_segment("batch", BATCH_SCHEMA, "Send a batch of messages")
class SegmentBatchApi(SegmentApiView):
    body_limit = MAX_BATCH_BYTES

    def messages(self, request: Request) -> list[TrackedMessage]:
        return batch_parse(request.data)


@_segment("import", BATCH_SCHEMA, "Send a batch of messages (Segment's older name)")
class SegmentImportApi(SegmentBatchApi):
    pass
