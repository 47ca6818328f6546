"""Segment's message shapes, read into :class:`customers.tracking.TrackedMessage`.

The native events API and the Segment dialect accept the same messages: Segment's spec
(track, identify, group, page, screen, alias) with its camelCase names. Each field is
checked by hand rather than by a serializer per message, which would cost more than
storing the batch; every problem is named by its place (``batch[3].event``). Fields the
product does not use (``context``, ``integrations``, ``sentAt``...) are accepted and
left aside, as Segment's clients send them, and a null is the same as an absent field.

What each message becomes:

- track: an event named ``event`` with its ``properties``;
- page and screen: an event named ``Page Viewed`` / ``Screen Viewed`` whose properties
  carry the call's ``name`` and ``category`` (unless the properties name them already);
- identify: ``traits.email`` is the customer's email, the other traits are merged into
  the customer's attributes (a null trait removes the attribute);
- group: ``traits`` merged into the customer's tenant profile for ``groupId``;
- alias: ``previousId`` (an anonymous id) is the customer ``userId`` names.

:func:`messages_openapi` describes the same rules as JSON Schema, from the same limits.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from customers.errors import InvalidRequest
from customers.fields import json_type_name
from customers.models import normalize_email
from customers.patterns import NOT_BLANK_PATTERN
from customers.problems import problem_entry
from customers.strict_json import depth_problem
from customers.tracking import MessageType, TrackedMessage

#: A batch holds at most this many messages...
MAX_BATCH_MESSAGES = 10_000
#: ...and its body at most this many bytes (after gzip is undone).
MAX_BATCH_BYTES = 16 * 1024 * 1024
#: One call's body (track, identify...), and a batch message's properties or traits as
#: stored JSON: Segment's 32 KB per call.
MAX_MESSAGE_BYTES = 32 * 1024
#: userId, anonymousId, messageId, groupId, previousId: the columns that keep them.
MAX_ID_LENGTH = 255
#: A track's event, a page's name and category: ``Event.name``.
MAX_NAME_LENGTH = 255
#: An identify's ``traits.email``: ``Customer.email``.
MAX_EMAIL_LENGTH = 320
#: A bad batch answers with at most this many problems (the first names the headline).
MAX_PROBLEMS = 100
#: groupId and previousId may be integers (the SDKs pass them through); within int64.
_INTEGER_ID_RANGE = (-(2**63), 2**63 - 1)

PAGE_EVENT = "Page Viewed"
SCREEN_EVENT = "Screen Viewed"


class _Problems:
    """The problems of a request, each naming its place; at most :data:`MAX_PROBLEMS`."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, where: str, name: str | None, message: str) -> None:
        """A problem of field ``name`` of the message at ``where`` (None: the message)."""
        if len(self.entries) < MAX_PROBLEMS:
            place = (f"{where}.{name}" if where else name) if name else (where or "body")
            self.entries.append(problem_entry(f"{place}: {message}", field=place))

    def raise_any(self) -> None:
        if self.entries:
            raise InvalidRequest(self.entries[0]["message"], problems=self.entries)


# Each reader takes the message, a field's name, the message's place and the problems:
# places are only spelled out for a problem, which keeps a large batch cheap to read.


def _text(
    raw: dict[str, Any], name: str, where: str, problems: _Problems, max_length: int
) -> str | None:
    """A string that is not blank, or None when absent; otherwise a problem."""
    value = raw.get(name)
    if value is None:
        return None
    if type(value) is not str:
        problems.add(where, name, f"must be a string (got {json_type_name(value)})")
    elif len(value) > max_length:
        problems.add(where, name, f"at most {max_length} characters (got {len(value)})")
    elif not value.strip():
        problems.add(where, name, "must not be blank")
    else:
        return value
    return None


def _id_or_integer(raw: dict[str, Any], name: str, where: str, problems: _Problems) -> str | None:
    """A groupId or previousId: a string, or an integer (which Segment's clients send
    as given) read as its decimal text."""
    value = raw.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = _INTEGER_ID_RANGE
        if isinstance(value, float) and not value.is_integer():
            problems.add(where, name, "must be a string or an integer (got a fraction)")
            return None
        if not low <= value <= high:
            problems.add(where, name, "an integer id must fit in 64 bits")
            return None
        return str(int(value))
    return _text(raw, name, where, problems, MAX_ID_LENGTH)


def _object(raw: dict[str, Any], name: str, where: str, problems: _Problems) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if type(value) is not dict:
        problems.add(where, name, f"must be an object (got {json_type_name(value)})")
        return {}
    return value


def _timestamp(raw: dict[str, Any], name: str, where: str, problems: _Problems) -> datetime | None:
    """An ISO 8601 date and time (without an offset: UTC), as a UTC datetime."""
    value = raw.get(name)
    if value is None:
        return None
    if type(value) is str:
        try:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:  # a lower-case t or z, spaces around
                parsed = datetime.fromisoformat(value.strip().upper())
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        except OverflowError:
            problems.add(where, name, "out of range: years 1 to 9999 in UTC")
            return None
        except ValueError:
            pass
    problems.add(where, name, "must be an ISO 8601 date and time, e.g. 2024-05-01T12:00:00Z")
    return None


def _stored_json(value: dict[str, Any], name: str, where: str, problems: _Problems) -> str:
    """``value`` as the JSON text it is stored as, checked against the size limit and
    (as the body's parser leaves to this reader) the nesting limit."""
    too_deep = depth_problem(value)
    if too_deep is not None:
        place, message = too_deep
        problems.add(where, f"{name}.{place}" if place else name, message)
        return ""
    text = json.dumps(value)
    if len(text) > MAX_MESSAGE_BYTES:
        size = f"at most {MAX_MESSAGE_BYTES:,} bytes of JSON (got {len(text):,})"
        problems.add(where, name, size)
    return text


def _email(traits: dict[str, Any], where: str, problems: _Problems) -> str | None:
    place = f"{where}.traits" if where else "traits"
    email = _text(traits, "email", place, problems, MAX_EMAIL_LENGTH)
    if email is None:
        return None
    try:
        validate_email(email.strip())
    except ValidationError:
        problems.add(place, "email", "must be an e-mail address")
        return None
    return normalize_email(email)


def message_parse(
    raw: Any, *, problems: _Problems, where: str = "", type: MessageType | None = None
) -> TrackedMessage | None:
    """One message; ``type`` when the endpoint says it (then the body's ``type`` is
    not read), else the message's own ``type``. None when it has problems (added to
    ``problems``)."""
    if not isinstance(raw, dict):
        problems.add(where, None, f"must be an object (got {json_type_name(raw)})")
        return None
    before = len(problems.entries)
    if type is None:
        given = raw.get("type")
        if not isinstance(given, str) or given not in _PARSERS:
            shown = repr(given) if isinstance(given, str) else json_type_name(given)
            expected = ", ".join(_PARSERS)
            problems.add(where, "type", f"unknown message type {shown}; expected one of {expected}")
            return None
        type = MessageType(given)
    fields = _PARSERS[type](raw, where, problems)
    user_id = _text(raw, "userId", where, problems, MAX_ID_LENGTH)
    anonymous_id = _text(raw, "anonymousId", where, problems, MAX_ID_LENGTH)
    if type == MessageType.ALIAS:
        # The anonymous id an alias joins to its user is its previousId.
        anonymous_id = fields.pop("anonymous_id")
        if raw.get("userId") is None:
            problems.add(where, "userId", "required for an alias")
    elif raw.get("userId") is None and raw.get("anonymousId") is None:
        problems.add(where, None, "userId or anonymousId is required")
    timestamp = _timestamp(raw, "timestamp", where, problems)
    original = _timestamp(raw, "originalTimestamp", where, problems)
    timestamp = timestamp or original
    message_id = _text(raw, "messageId", where, problems, MAX_ID_LENGTH)
    _object(raw, "context", where, problems)
    if len(problems.entries) != before:
        return None
    return TrackedMessage(
        type=type,
        user_id=user_id,
        anonymous_id=anonymous_id,
        timestamp=timestamp,
        message_id=message_id,
        **fields,
    )


def _track(raw: dict[str, Any], where: str, problems: _Problems) -> dict[str, Any]:
    event = _text(raw, "event", where, problems, MAX_NAME_LENGTH)
    if raw.get("event") is None:
        problems.add(where, "event", "required for a track call (the event's name)")
    properties = _object(raw, "properties", where, problems)
    text = _stored_json(properties, "properties", where, problems)
    return {"event": event, "properties": properties, "properties_json": text}


def _viewed(event: str) -> Callable[[dict[str, Any], str, _Problems], dict[str, Any]]:
    """Page and screen calls: an event of this name, the call's name and category among
    its properties."""

    def parse(raw: dict[str, Any], where: str, problems: _Problems) -> dict[str, Any]:
        properties = _object(raw, "properties", where, problems)
        extra = {}
        for name in ("name", "category"):
            value = _text(raw, name, where, problems, MAX_NAME_LENGTH)
            if value is not None and name not in properties:
                extra[name] = value
        if extra:
            properties = {**properties, **extra}
        text = _stored_json(properties, "properties", where, problems)
        return {"event": event, "properties": properties, "properties_json": text}

    return parse


def _identify(raw: dict[str, Any], where: str, problems: _Problems) -> dict[str, Any]:
    traits = _object(raw, "traits", where, problems)
    email = _email(traits, where, problems)
    if "email" in traits:
        traits = {name: value for name, value in traits.items() if name != "email"}
    _stored_json(traits, "traits", where, problems)
    return {"email": email, "traits": traits}


def _group(raw: dict[str, Any], where: str, problems: _Problems) -> dict[str, Any]:
    group_id = _id_or_integer(raw, "groupId", where, problems)
    if raw.get("groupId") is None:
        problems.add(where, "groupId", "required for a group call")
    traits = _object(raw, "traits", where, problems)
    _stored_json(traits, "traits", where, problems)
    return {"group_id": group_id, "traits": traits}


def _alias(raw: dict[str, Any], where: str, problems: _Problems) -> dict[str, Any]:
    previous_id = _id_or_integer(raw, "previousId", where, problems)
    if raw.get("previousId") is None:
        problems.add(where, "previousId", "required for an alias")
    return {"anonymous_id": previous_id}


_PARSERS: dict[MessageType, Callable[[dict[str, Any], str, _Problems], dict[str, Any]]] = {
    MessageType.TRACK: _track,
    MessageType.IDENTIFY: _identify,
    MessageType.GROUP: _group,
    MessageType.PAGE: _viewed(PAGE_EVENT),
    MessageType.SCREEN: _viewed(SCREEN_EVENT),
    MessageType.ALIAS: _alias,
}


def call_parse(body: Any, *, type: MessageType) -> TrackedMessage:
    """The body of a single call (``track``, ``identify``...); InvalidRequest naming
    every problem."""
    problems = _Problems()
    message = message_parse(body, problems=problems, type=type)
    problems.raise_any()
    assert message is not None
    return message


def batch_parse(body: Any) -> list[TrackedMessage]:
    """A batch body, ``{"batch": [message, ...]}``: every message or InvalidRequest
    naming each problem by the message's index."""
    problems = _Problems()
    if not isinstance(body, dict):
        problems.add("", None, f"must be an object with a batch (got {json_type_name(body)})")
        problems.raise_any()
    batch = body.get("batch")
    if not isinstance(batch, list):
        got = "nothing" if batch is None else json_type_name(batch)
        problems.add("", "batch", f"required, a list of messages (got {got})")
        problems.raise_any()
    if len(batch) > MAX_BATCH_MESSAGES:
        count = f"at most {MAX_BATCH_MESSAGES:,} messages in one batch (got {len(batch):,})"
        problems.add("", "batch", count)
        problems.raise_any()
    messages = []
    for index, raw in enumerate(batch):
        message = message_parse(raw, problems=problems, where=f"batch[{index}]")
        if message is not None:
            messages.append(message)
    problems.raise_any()
    return messages


# --- The same rules as JSON Schema (OpenAPI 3.0) --------------------------------------


def _id_schema(description: str, *, nullable: bool = True) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": NOT_BLANK_PATTERN,
        "maxLength": MAX_ID_LENGTH,
        "nullable": nullable,
        "description": description,
    }


def _id_or_integer_schema(description: str) -> dict[str, Any]:
    low, high = _INTEGER_ID_RANGE
    return {
        "oneOf": [
            {"type": "string", "pattern": NOT_BLANK_PATTERN, "maxLength": MAX_ID_LENGTH},
            {"type": "integer", "minimum": low, "maximum": high},
        ],
        "description": description,
    }


def _name_schema(description: str, *, nullable: bool = True) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": NOT_BLANK_PATTERN,
        "maxLength": MAX_NAME_LENGTH,
        "nullable": nullable,
        "description": description,
    }


def _object_schema(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "nullable": True,
        "additionalProperties": True,
        "description": description,
        **extra,
    }


_SIZE_NOTE = f"at most {MAX_MESSAGE_BYTES:,} bytes as JSON"
_COMMON: dict[str, dict[str, Any]] = {
    "userId": _id_schema("Your id of the customer: their external_id"),
    "anonymousId": _id_schema("An id for someone not identified yet (a device, a visitor)"),
    "timestamp": {
        "type": "string",
        "format": "date-time",
        "nullable": True,
        "description": "When it happened (ISO 8601); the time received if absent",
    },
    "originalTimestamp": {
        "type": "string",
        "format": "date-time",
        "nullable": True,
        "description": "Read when timestamp is absent",
    },
    "messageId": _id_schema("Unique per message: a message sent again is stored once"),
    "context": _object_schema("Accepted and not stored"),
    "integrations": {"description": "Accepted and ignored"},
}
_SPECIFIC: dict[MessageType, tuple[dict[str, dict[str, Any]], list[str]]] = {
    MessageType.TRACK: (
        {
            "event": _name_schema("The event's name", nullable=False),
            "properties": _object_schema(f"The event's properties ({_SIZE_NOTE})"),
        },
        ["event"],
    ),
    MessageType.IDENTIFY: (
        {
            "traits": _object_schema(
                f"email sets the customer's email; the other traits are merged into their "
                f"attributes, a null removing one ({_SIZE_NOTE})",
                properties={
                    "email": {
                        "type": "string",
                        "format": "email",
                        "maxLength": MAX_EMAIL_LENGTH,
                        "nullable": True,
                    }
                },
            )
        },
        [],
    ),
    MessageType.GROUP: (
        {
            "groupId": _id_or_integer_schema("The group (account, tenant) the customer is in"),
            "traits": _object_schema(
                f"Merged into the customer's tenant profile for the group ({_SIZE_NOTE})"
            ),
        },
        ["groupId"],
    ),
    MessageType.ALIAS: (
        {"previousId": _id_or_integer_schema("The anonymous id that userId now names")},
        ["previousId", "userId"],
    ),
}
for _viewed_type, _event in ((MessageType.PAGE, PAGE_EVENT), (MessageType.SCREEN, SCREEN_EVENT)):
    _SPECIFIC[_viewed_type] = (
        {
            "name": _name_schema("The page's name, added to the properties as name"),
            "category": _name_schema("Added to the properties as category"),
            "properties": _object_schema(f"Stored as an event named {_event} ({_SIZE_NOTE})"),
        },
        [],
    )


def message_schema(type: MessageType, *, in_batch: bool) -> dict[str, Any]:
    """One message of ``type``: a batch's item (``type`` required) or a call's body
    (``type`` ignored: the endpoint says it)."""
    specific, required = _SPECIFIC.get(type, ({}, []))
    properties = {**_COMMON, **specific}
    if in_batch:
        properties = {"type": {"type": "string", "enum": [type.value]}, **properties}
        required = ["type", *required]
    else:
        properties = {"type": {"description": "Ignored: the endpoint says the type"}, **properties}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": True,
    }
    if type == MessageType.ALIAS:
        properties["userId"] = {**properties["userId"], "nullable": False}
    else:
        schema["anyOf"] = [
            {"required": [name], "properties": {name: {**properties[name], "nullable": False}}}
            for name in ("userId", "anonymousId")
        ]
    return schema


def batch_schema(message_ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "batch": {
                "type": "array",
                "items": {"$ref": message_ref},
                "maxItems": MAX_BATCH_MESSAGES,
                "description": (
                    f"At most {MAX_BATCH_MESSAGES:,} messages and {MAX_BATCH_BYTES // 2**20} "
                    "MiB (gzip undone); stored all or none"
                ),
            },
        },
        "required": ["batch"],
        "additionalProperties": True,
    }


def batch_message_schema(refs: dict[MessageType, str]) -> dict[str, Any]:
    return {
        "oneOf": [{"$ref": ref} for ref in refs.values()],
        "discriminator": {
            "propertyName": "type",
            "mapping": {type.value: ref for type, ref in refs.items()},
        },
    }
