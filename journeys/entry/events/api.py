"""``POST events/track | identify | group | batch``: the native event stream, in the
shapes of Segment's spec (see :mod:`.messages` for what each message becomes).

A call stores its messages and answers 200; the events that live journeys are triggered
by are matched right after, in a task (:mod:`.matching`). ``messageId`` is the
idempotency key: an event sent again with the same one is stored once and counted as a
duplicate. Calls count against the key's trigger budget.
"""

import functools
from typing import Any, ClassVar

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from customers.gc_pause import gc_paused
from customers.http import WorkspaceApiView
from customers.openapi import schema_component
from customers.ratelimit import TRIGGER_BUDGET
from customers.tracking import MessageType, StoredBatch, TrackedMessage
from journeys.entry.events.messages import (
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
    batch_message_schema,
    batch_parse,
    batch_schema,
    call_parse,
    message_schema,
)
from journeys.entry.events.parsers import EventBodyParser
from journeys.entry.events.service import events_ingest

#: A call's body by type (``type`` ignored) and a batch's item by type (``type`` says it).
CALL_SCHEMAS = {
    type: schema_component(
        f"{type.value.capitalize()}Call",
        functools.partial(message_schema, type, in_batch=False),
    )
    for type in MessageType
}
_BATCH_ITEMS = {
    type: schema_component(
        f"Batch{type.value.capitalize()}Message",
        functools.partial(message_schema, type, in_batch=True),
    )
    for type in MessageType
}
BATCH_MESSAGE_SCHEMA = schema_component(
    "BatchMessage",
    lambda: batch_message_schema({type: ref["$ref"] for type, ref in _BATCH_ITEMS.items()}),
)
BATCH_SCHEMA = schema_component("Batch", lambda: batch_schema(BATCH_MESSAGE_SCHEMA["$ref"]))

LIMITS = (
    f"A call's body is at most {MAX_MESSAGE_BYTES // 1024} KB; a batch at most "
    f"{MAX_BATCH_MESSAGES:,} messages and {MAX_BATCH_BYTES // 2**20} MiB, and each "
    f"message's properties or traits at most {MAX_MESSAGE_BYTES // 1024} KB of JSON. "
    "The body may be gzip-compressed (Content-Encoding: gzip); the limits hold once it "
    "is decompressed. A message with a problem refuses the whole request (400, each "
    "problem named by its place, e.g. batch[3].event): nothing is stored."
)


class EventsAcceptedSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always true: the messages are stored")
    received = serializers.IntegerField(help_text="Messages in the request")
    stored = serializers.IntegerField(help_text="Events stored (track, page and screen calls)")
    duplicates = serializers.IntegerField(
        help_text="Events not stored again: their messageId was stored before"
    )


def events_accepted(stored: StoredBatch) -> dict[str, Any]:
    return {
        "success": True,
        "received": stored.received,
        "stored": stored.events,
        "duplicates": stored.duplicates,
    }


class EventsApiView(WorkspaceApiView):
    """A native events call: one message of ``message_type``."""

    parser_classes = [EventBodyParser]
    rate_limit_budget = TRIGGER_BUDGET
    #: Bytes the body may have, before and after gzip (journeys.entry.events.parsers).
    body_limit = MAX_MESSAGE_BYTES
    message_type: ClassVar[MessageType]

    def messages(self, request: Request) -> list[TrackedMessage]:
        return [call_parse(request.data, type=self.message_type)]

    def post(self, request: Request, workspace_id: str) -> Response:
        with gc_paused():
            stored = events_ingest(workspace=self.workspace, messages=self.messages(request))
        return Response(events_accepted(stored))


def _native(type: MessageType | None, summary: str, description: str) -> Any:
    name = type.value if type else "batch"
    return extend_schema_view(
        post=extend_schema(
            operation_id=f"events_{name}",
            summary=summary,
            description=f"{description}\n\n{LIMITS}",
            request={"application/json": CALL_SCHEMAS[type] if type else BATCH_SCHEMA},
            responses={200: OpenApiResponse(EventsAcceptedSerializer, description="Stored")},
        )
    )


@_native(
    MessageType.TRACK,
    "Track an event",
    "Stores the event, for event-triggered journeys, their conditions and wait steps. A "
    "userId or anonymousId never seen before makes its customer.",
)
class EventTrackApi(EventsApiView):
    message_type = MessageType.TRACK


@_native(
    MessageType.IDENTIFY,
    "Identify a customer",
    "Upserts the customer: userId is their external_id, traits.email their email, and "
    "the other traits are merged into their attributes (a null removes one). An "
    "anonymousId given with a userId joins the two.",
)
class EventIdentifyApi(EventsApiView):
    message_type = MessageType.IDENTIFY


@_native(
    MessageType.GROUP,
    "Put a customer in a group",
    "Merges the traits into the customer's tenant profile for groupId (the tenant that "
    "templates read as tenant).",
)
class EventGroupApi(EventsApiView):
    message_type = MessageType.GROUP


@_native(
    None,
    "Send a batch of messages",
    "Any of track, identify, group, page, screen and alias, in order: identifies apply "
    "before the batch's events are matched with journeys.",
)
class EventBatchApi(EventsApiView):
    body_limit = MAX_BATCH_BYTES

    def messages(self, request: Request) -> list[TrackedMessage]:
        return batch_parse(request.data)
