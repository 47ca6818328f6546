"""Journeys as code: the definition document, its shape and its normalisation.

A definition is the JSON document of DESIGN.md section 6. Two levels of checking exist
because drafts and published versions need different guarantees:

- :func:`definition_normalize` checks *structure* (types, required fields, known step
  types) and fills in defaults. A draft must pass it to be stored at all, so everything
  downstream (admin, export, publish) can rely on the shape. Its output is the
  canonical document: every key present, in a fixed order, so that normalising twice
  changes nothing and an export round-trips unchanged.
- :func:`~journeys.authoring.checks.definition_publish_problems` checks *meaning*
  (the graph, Liquid, variables, conditions) and is what publishing requires. A draft
  may be half-finished; a published version may not.

Canonical step shapes (``next``-like fields are a step key or ``null``, meaning the run
completes)::

    send            key, type, channel="email", subject, body, html, sender,
                        transactional, topic, send_window, next
                    key, type, channel="sms"|"whatsapp", body, transactional, topic,
                        send_window, next
                    key, type, channel="webhook", url, body, next
    delay           key, type, seconds, next
                    key, type, until, offset_seconds, next
    branch          key, type, condition, yes, no
    split           key, type, paths=[{percentage, next}, ...]
    webhook         key, type, method, url, headers, body, next
    throttle        key, type, limit, period_seconds, scope, next, throttled
    repeat          key, type, to, times, next
    update_customer key, type, set, next
    exit            key, type
    wait_for_event  key, type, event, condition, timeout_seconds, matched, timeout

Problems are dicts ``{"step": key or None, "field": name or None, "message": text}``:
with a step, ``field`` is relative to the step (``"subject"``, ``"paths[1].next"``);
without one it is a path in the document (``"trigger.schema[0].type"``).
"""

import copy
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from customers.errors import InvalidRequest
from customers.patterns import NOT_BLANK_PATTERN
from customers.problems import problem_entry
from customers.validators import (
    SENDER_NAME_MAX_LENGTH,
    SENDER_NAME_PATTERN,
    sender_email_problem,
    sender_name_problem,
)
from delivery.consent import TOPIC_KEY_PATTERN, topic_key_problem

Problem = dict[str, Any]

TRIGGER_TYPES = ("api", "event", "webhook", "segment")
#: How a webhook trigger's body names its customer, and the signatures it may check.
WEBHOOK_IDENTIFIERS = ("email", "external_id")
WEBHOOK_SIGNATURES = ("standard", "stripe")
SCHEMA_FIELD_TYPES = ("string", "number", "boolean", "datetime")
SEND_CHANNELS = ("email", "sms", "whatsapp", "webhook")
WEBHOOK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
THROTTLE_SCOPES = ("customer", "journey")

#: Roots every template context provides (DESIGN.md section 4, "Liquid everywhere").
CONTEXT_ROOTS = frozenset(
    {
        "customer",
        "api",
        "data",
        "event",
        "profile",
        "tenant",
        "steps",
        "journey",
        "run_id",
        "messages",
        "unsubscribe_url",
    }
)
#: ``api.payload`` and ``api.properties`` are the same payload under two names.
API_PAYLOAD_NAMES = ("payload", "properties")
#: What conditions checked at entry can read (see journeys.entry.core.entry_constants); event
#: triggers add ``event`` and entry conditions add ``customer``.
TRIGGER_CONDITION_ROOTS = frozenset({"api", "data"})

#: Step keys appear in Liquid (``steps.<key>``), URLs and timelines: keep them plain.
STEP_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
STEP_KEY_MAX_LENGTH = 100  # Enrollment.current_step / StepRun.step_key
NAME_MAX_LENGTH = 200  # Journey.name
EVENT_MAX_LENGTH = 255  # Journey.trigger_event
CANCELLATION_KEY_MAX_LENGTH = 500  # Journey.cancellation_key

#: The journey-wide controls (stored together in ``Journey.controls``).
CONTROL_FIELDS = ("sender", "send_window", "exit", "goal")
DOCUMENT_FIELDS = (
    "name", "trigger", "entry", "cancellation_key", *CONTROL_FIELDS, "start", "steps"
)  # fmt: skip
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEND_WINDOW_OUTSIDE = ("wait", "skip")

#: A webhook trigger's own fields (no other trigger has them, nor writes them).
WEBHOOK_FIELDS = ("identify", "signature", "create_customers")
#: A segment trigger's own field: the segment whose new members enter.
SEGMENT_FIELDS = ("segment_id",)
TRIGGER_FIELDS = ("type", "event", "schema", "conditions", *WEBHOOK_FIELDS, *SEGMENT_FIELDS)
#: The fields only some trigger types have, by type.
TYPE_FIELDS = {"webhook": WEBHOOK_FIELDS, "segment": SEGMENT_FIELDS}


class _Missing:
    """Marks a required field (no default) in a field table."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED: Any = _Missing()


# --- value checkers -------------------------------------------------------------------
# Each takes the raw value and returns (normalised value, problem message or None). They
# are only called for values that are present and not null. Each carries the JSON Schema
# of the values it accepts (``json_schema``), from which definition_schema.py states the
# document's shape in the OpenAPI schema.

Checker = Callable[[Any], tuple[Any, str | None]]


def _accepts(schema: dict[str, Any]) -> Callable[[Checker], Checker]:
    """Attach to a checker the JSON Schema of exactly the values it accepts."""

    def attach(check: Checker) -> Checker:
        check.json_schema = schema  # type: ignore[attr-defined]
        return check

    return attach


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@_accepts({"type": "string", "pattern": NOT_BLANK_PATTERN})
def _non_blank_text(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or not value.strip():
        return value, "must be a non-empty string"
    return value, None


def _bounded_text(max_length: int) -> Checker:
    @_accepts({"type": "string", "pattern": NOT_BLANK_PATTERN, "maxLength": max_length})
    def check(value: Any) -> tuple[Any, str | None]:
        value, problem = _non_blank_text(value)
        if problem is None and len(value) > max_length:
            problem = f"must be at most {max_length} characters"
        return value, problem

    return check


#: The longest duration a step or an entry rule may name: years stay possible, while a
#: moment computed from it stays a date (``now + 10**12 s`` is past the year 9999, and
#: every walk of such a run would fail) and fits the columns that store it.
MAX_DURATION_SECONDS = 50 * 365 * 86400
#: The largest count (limit, times, max entries): what the columns storing it hold.
MAX_COUNT = 2**31 - 1


def _integer(minimum: int | None, maximum: int = MAX_COUNT) -> Checker:
    lowest = -maximum if minimum is None else minimum

    @_accepts({"type": "integer", "minimum": lowest, "maximum": maximum})
    def check(value: Any) -> tuple[Any, str | None]:
        if not _is_int(value):
            return value, "must be an integer"
        if value < lowest:
            return value, f"must be at least {lowest:,}"
        if value > maximum:
            return value, f"must be at most {maximum:,}"
        return value, None

    return check


def _seconds(minimum: int | None) -> Checker:
    """A duration in seconds, at most :data:`MAX_DURATION_SECONDS` either way."""
    return _integer(minimum, MAX_DURATION_SECONDS)


@_accepts({"type": "boolean"})
def _boolean(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, bool):
        return value, "must be true or false"
    return value, None


def _choice(choices: tuple[str, ...], *, upper: bool = False) -> Checker:
    """One of ``choices``; with ``upper``, in any ASCII case (``post`` is ``POST``)."""
    any_case = "|".join("".join(f"[{c.upper()}{c.lower()}]" for c in choice) for choice in choices)
    schema = {"type": "string", "pattern": f"^({any_case})$"} if upper else {"enum": list(choices)}

    @_accepts(schema)
    def check(value: Any) -> tuple[Any, str | None]:
        # ASCII only: Unicode case mapping would read "po\u017ft" (a long s) as POST.
        if isinstance(value, str) and upper and value.isascii():
            value = value.upper()
        if value not in choices:
            return value, f"must be one of {', '.join(choices)}"
        return value, None

    return check


@_accepts({"type": "string", "minLength": 1})
def _target(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or not value:
        return value, "must be a step key or null"
    return value, None


@_accepts({"type": "string", "minLength": 1})
def _required_target(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or not value:
        return value, "must be a step key"
    return value, None


@_accepts({"type": "object", "description": "A condition, checked when publishing"})
def _condition(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, dict):
        return value, "must be a condition object (all/any/not of {field, op, value})"
    return value, None


@_accepts({"description": "A Liquid string, or any JSON whose strings are Liquid"})
def _json_body(value: Any) -> tuple[Any, str | None]:
    """A body is a Liquid string or any JSON value whose string leaves are Liquid."""
    return value, None


@_accepts({"type": "object", "additionalProperties": {"type": "string"}})
def _headers(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, dict):
        return value, "must be an object of header name to string"
    for name, header in value.items():
        if not name.strip():
            return value, "header names must not be empty"
        if not isinstance(header, str):
            return value, f"must map header names to strings ({name!r} does not)"
    return value, None


@_accepts({"type": "object"})
def _attributes(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, dict):
        return value, "must be an object of attribute name to value"
    if any(not name.strip() for name in value):
        return value, "attribute names must not be empty"
    return value, None


@_accepts({"type": "string", "pattern": "^(?!all$)" + TOPIC_KEY_PATTERN.pattern.removeprefix("^")})
def _topic_key(value: Any) -> tuple[Any, str | None]:
    return value, topic_key_problem(value)


@_accepts(
    {
        "type": "object",
        "properties": {
            "name": {
                "type": "string",
                "nullable": True,
                "maxLength": SENDER_NAME_MAX_LENGTH,
                "pattern": SENDER_NAME_PATTERN,
            },
            "email": {
                "type": "string",
                "format": "email",
                "maxLength": 254,
                "pattern": "^[\\x21-\\x7e]+$",
            },
        },
        "required": ["email"],
        "additionalProperties": False,
    }
)
def _sender(value: Any) -> tuple[Any, str | None]:
    """``{"name": "Acme", "email": "hello@acme.test"}``: who an e-mail is from."""
    if not isinstance(value, dict) or set(value) - {"name", "email"}:
        return value, 'must be {"name": ..., "email": ...}'
    email, name = value.get("email"), value.get("name")
    problem = sender_email_problem(email)
    if problem:
        return value, f"email {problem}"
    problem = sender_name_problem(name) if name is not None else None
    if problem:
        return value, f"name {problem}"
    return {"name": name or None, "email": email}, None


_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


@_accepts(
    {
        "type": "object",
        "properties": {
            "days": {"type": "array", "items": {"enum": list(WEEKDAYS)}, "minItems": 1},
            "start": {"type": "string", "pattern": _CLOCK.pattern},
            "end": {"type": "string", "pattern": _CLOCK.pattern},
            "outside": {"enum": list(SEND_WINDOW_OUTSIDE)},
        },
        "required": ["start", "end"],
        "additionalProperties": False,
    }
)
def _send_window(value: Any) -> tuple[Any, str | None]:
    """When messages may go out, in the customer's time zone: ``days`` (default every
    day), ``start`` and ``end`` ("HH:MM", end after start), ``outside``: a message due
    outside ``wait``s for the window (default) or is ``skip``ped."""
    if not isinstance(value, dict):
        return value, 'must be {"days": [...], "start": "09:00", "end": "17:00"}'
    unknown = set(value) - {"days", "start", "end", "outside"}
    if unknown:
        return value, f"has unknown field {sorted(unknown)[0]!r}"
    days = value.get("days")
    if days is None:
        days = list(WEEKDAYS)
    if not isinstance(days, list) or not days or any(day not in WEEKDAYS for day in days):
        return value, f"days must be a non-empty list of {', '.join(WEEKDAYS)}"
    start, end = value.get("start"), value.get("end")
    for name, clock in (("start", start), ("end", end)):
        if not isinstance(clock, str) or not _CLOCK.fullmatch(clock):
            return value, f"{name} must be a time of day as HH:MM (00:00 to 24:00)"
    if start >= end:
        return value, "end must be later than start on the same day"
    outside = value.get("outside") or "wait"
    if outside not in SEND_WINDOW_OUTSIDE:
        return value, "outside must be wait or skip"
    ordered = [day for day in WEEKDAYS if day in days]
    return {"days": ordered, "start": start, "end": end, "outside": outside}, None


@dataclass(frozen=True)
class Field:
    name: str
    check: Checker
    default: Any = None  # REQUIRED for fields without a default
    #: Written only when it differs from its default: the fields added after documents
    #: were already being exported, so that those documents still round-trip unchanged.
    optional: bool = False


def _next(name: str = "next") -> Field:
    return Field(name, _target, None)


def _message_controls() -> tuple[Field, ...]:
    """What a message to a person carries besides its content: consent and timing."""
    return (
        Field("transactional", _boolean, False, optional=True),
        Field("topic", _topic_key, optional=True),
        Field("send_window", _send_window, optional=True),
    )


SEND_FIELDS: dict[str, tuple[Field, ...]] = {
    "email": (
        Field("subject", _non_blank_text, REQUIRED),
        # The text part; written, or derived from ``html`` when only that is given.
        Field("body", _non_blank_text, optional=True),
        Field("html", _non_blank_text, optional=True),
        Field("sender", _sender, optional=True),
        *_message_controls(),
        _next(),
    ),
    "sms": (Field("body", _non_blank_text, REQUIRED), *_message_controls(), _next()),
    "whatsapp": (Field("body", _non_blank_text, REQUIRED), *_message_controls(), _next()),
    "webhook": (Field("url", _non_blank_text, REQUIRED), Field("body", _json_body), _next()),
}
DELAY_FIELDS: dict[str, tuple[Field, ...]] = {
    "seconds": (Field("seconds", _seconds(0), REQUIRED), _next()),
    "until": (
        Field("until", _non_blank_text, REQUIRED),
        Field("offset_seconds", _seconds(None), 0),
        _next(),
    ),
}
STEP_FIELDS: dict[str, tuple[Field, ...]] = {
    "branch": (Field("condition", _condition, REQUIRED), _next("yes"), _next("no")),
    "split": (),  # paths are checked by _normalize_split_paths
    "webhook": (
        Field("method", _choice(WEBHOOK_METHODS, upper=True), "POST"),
        Field("url", _non_blank_text, REQUIRED),
        Field("headers", _headers, {}),
        Field("body", _json_body),
        _next(),
    ),
    "throttle": (
        Field("limit", _integer(1), REQUIRED),
        Field("period_seconds", _seconds(1), REQUIRED),
        Field("scope", _choice(THROTTLE_SCOPES), "customer"),
        _next(),
        _next("throttled"),
    ),
    "repeat": (
        Field("to", _required_target, REQUIRED),
        Field("times", _integer(1), REQUIRED),
        _next(),
    ),
    "update_customer": (Field("set", _attributes, REQUIRED), _next()),
    "exit": (),
    "wait_for_event": (
        Field("event", _bounded_text(EVENT_MAX_LENGTH), REQUIRED),
        Field("condition", _condition),
        Field("timeout_seconds", _seconds(0), REQUIRED),
        _next("matched"),
        _next("timeout"),
    ),
}
STEP_TYPES = ("send", "delay", *STEP_FIELDS)
ENTRY_FIELD_CHECKS = (
    Field("allow_reentry", _boolean, False),
    Field("max_entries_per_customer", _integer(1)),
    Field("reentry_cooldown_seconds", _seconds(0), 0),
    Field("restart_active", _boolean, True),
    Field("conditions", _condition),
)
ENTRY_FIELDS = tuple(field.name for field in ENTRY_FIELD_CHECKS)


class ProblemCollector:
    """Collects every problem instead of stopping at the first: authors fix all at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, message: str, *, step: str | None = None, field: str | None = None) -> None:
        found = problem_entry(message, field=field, step=step)
        if found not in self.problems:
            self.problems.append(found)

    def fields(
        self,
        source: dict[str, Any],
        fields: tuple[Field, ...],
        *,
        step: str | None = None,
        prefix: str = "",
    ) -> dict[str, Any]:
        """Check and default ``fields`` of ``source``; a null counts as absent."""
        out: dict[str, Any] = {}
        for field in fields:
            value = source.get(field.name)
            location = f"{prefix}{field.name}"
            if value is None:
                if field.default is REQUIRED:
                    self.add(f"{location} is required", step=step, field=location)
                if not field.optional:
                    # A fresh copy, so canonical documents never share a mutable default.
                    default = field.default
                    out[field.name] = None if default is REQUIRED else _copy_json(default)
                continue
            value, problem = field.check(value)
            if problem:
                self.add(f"{location} {problem}", step=step, field=location)
            if not (field.optional and value == field.default):
                out[field.name] = value
        return out

    def unknown(
        self,
        source: dict[str, Any],
        known: tuple[str, ...] | set[str],
        *,
        step: str | None = None,
        prefix: str = "",
    ) -> None:
        for name in source:
            if name not in known:
                location = f"{prefix}{name}"
                self.add(f"unknown field '{location}'", step=step, field=location)


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value


def _inapplicable(
    collector: ProblemCollector,
    step: dict[str, Any],
    allowed: tuple[str, ...],
    variants: dict[str, tuple[Field, ...]],
    *,
    key: str | None,
    prefix: str,
    explain: Callable[[str], str],
) -> None:
    """Report fields that belong to another variant (subject on SMS, offset with seconds).

    A null value of such a field is accepted and dropped: "not applicable" and "null"
    mean the same, and tools that write every field with nulls should not be punished.
    """
    other_variant_fields = {f.name for fields in variants.values() for f in fields}
    for name, value in step.items():
        if name in allowed:
            continue
        location = f"{prefix}{name}"
        if name in other_variant_fields:
            if value is not None:
                collector.add(explain(location), step=key, field=location)
        else:
            collector.add(f"unknown field '{location}'", step=key, field=location)


# --- normalisation --------------------------------------------------------------------


def _normalize_trigger(collector: ProblemCollector, raw: Any) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        collector.add("trigger must be an object", field="trigger")
        raw = {}
    collector.unknown(raw, TRIGGER_FIELDS, prefix="trigger.")
    trigger_type = raw.get("type")
    if trigger_type is None:
        trigger_type = "api"
    elif trigger_type not in TRIGGER_TYPES:
        collector.add(
            f"unknown trigger type {trigger_type!r}; expected api, event, webhook or segment",
            field="trigger.type",
        )
    event = raw.get("event")
    if event == "":
        event = None
    if event is not None:
        _, problem = _bounded_text(EVENT_MAX_LENGTH)(event)
        if problem:
            collector.add(f"trigger.event {problem}", field="trigger.event")
        elif trigger_type != "event":
            collector.add(
                "trigger.event applies only to event triggers (type 'event')",
                field="trigger.event",
            )
    conditions = raw.get("conditions")
    if conditions is not None and not isinstance(conditions, dict):
        collector.add("trigger.conditions must be a condition object", field="trigger.conditions")
    trigger = {
        "type": trigger_type,
        "event": event,
        "schema": _normalize_schema(collector, raw.get("schema")),
        "conditions": conditions,
    }
    if trigger_type == "webhook":
        trigger.update(_normalize_webhook(collector, raw))
    elif trigger_type == "segment":
        trigger.update(_normalize_segment(collector, raw))
    for owner, names in TYPE_FIELDS.items():
        if trigger_type == owner:
            continue
        for name in names:
            if raw.get(name) is not None:
                collector.add(
                    f"trigger.{name} applies only to {owner} triggers (type '{owner}')",
                    field=f"trigger.{name}",
                )
    return trigger


def _normalize_segment(collector: ProblemCollector, raw: dict[str, Any]) -> dict[str, Any]:
    """``segment_id``: the segment (``seg_...``) whose new members enter."""
    segment_id = raw.get("segment_id")
    if segment_id is not None and (not isinstance(segment_id, str) or not segment_id.strip()):
        collector.add(
            "trigger.segment_id must be a segment's id (seg_...)", field="trigger.segment_id"
        )
        segment_id = None
    return {"segment_id": segment_id}


def _normalize_webhook(collector: ProblemCollector, raw: dict[str, Any]) -> dict[str, Any]:
    """``identify`` (one of ``email`` / ``external_id``: the body path holding it, under
    ``data.``), ``signature`` (null, ``standard`` or ``stripe``) and ``create_customers``
    (true unless false)."""
    identify = raw.get("identify")
    if identify is not None:
        where = "trigger.identify"
        if not isinstance(identify, dict) or len(identify) != 1:
            collector.add(
                f'{where} must name one identifier: {{"email": "data.<path>"}} or '
                '{"external_id": "data.<path>"}',
                field=where,
            )
        else:
            ((name, path),) = identify.items()
            if name not in WEBHOOK_IDENTIFIERS:
                collector.add(
                    f"{where}: {name!r} is not an identifier; use email or external_id",
                    field=where,
                )
            elif not _is_body_path(path):
                collector.add(
                    f"{where}.{name} must be a path in the body such as "
                    f"'data.object.customer_email' (got {path!r})",
                    field=f"{where}.{name}",
                )
    signature = raw.get("signature")
    if signature is not None and signature not in WEBHOOK_SIGNATURES:
        collector.add(
            f"trigger.signature must be standard, stripe or null (got {signature!r})",
            field="trigger.signature",
        )
    create = raw.get("create_customers")
    if create is not None and not isinstance(create, bool):
        collector.add(
            "trigger.create_customers must be true or false", field="trigger.create_customers"
        )
    return {"identify": identify, "signature": signature, "create_customers": create is not False}


def _is_body_path(path: Any) -> bool:
    """``data.<key>[.<key>...]``: the webhook's body is the run's ``data``."""
    if not isinstance(path, str):
        return False
    root, *keys = path.split(".")
    return root == "data" and bool(keys) and all(keys)


def _normalize_schema(collector: ProblemCollector, raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        collector.add("trigger.schema must be a list of fields", field="trigger.schema")
        return []
    schema: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        location = f"trigger.schema[{index}]"
        if not isinstance(item, dict):
            collector.add(f"{location} must be an object with name and type", field=location)
            continue
        collector.unknown(item, ("name", "type", "required"), prefix=f"{location}.")
        name, field_type, required = item.get("name"), item.get("type"), item.get("required")
        if not isinstance(name, str) or not name:
            collector.add(f"{location}.name must be a non-empty string", field=f"{location}.name")
        elif name in seen:
            collector.add(f"duplicate schema field {name!r}", field=f"{location}.name")
        else:
            seen.add(name)
        if field_type not in SCHEMA_FIELD_TYPES:
            collector.add(
                f"{location}.type must be one of {', '.join(SCHEMA_FIELD_TYPES)}"
                + (f" (got {field_type!r})" if field_type is not None else ""),
                field=f"{location}.type",
            )
        if not (required is None or isinstance(required, bool)):
            collector.add(
                f"{location}.required must be true or false", field=f"{location}.required"
            )
        entry = {"name": name, "type": field_type}
        if required is True:  # written only when true: documents without it round-trip
            entry["required"] = True
        schema.append(entry)
    return schema


def _normalize_entry(collector: ProblemCollector, raw: Any) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        collector.add("entry must be an object", field="entry")
        raw = {}
    collector.unknown(raw, ENTRY_FIELDS, prefix="entry.")
    return collector.fields(raw, ENTRY_FIELD_CHECKS, prefix="entry.")


def _normalize_split_paths(
    collector: ProblemCollector, raw: Any, *, key: str | None
) -> list[dict[str, Any]]:
    if raw is None:
        collector.add("paths is required", step=key, field="paths")
        return []
    if not isinstance(raw, list) or not raw:
        collector.add(
            "paths must be a non-empty list of {percentage, next}", step=key, field="paths"
        )
        return []
    paths = []
    for index, item in enumerate(raw):
        location = f"paths[{index}]"
        if not isinstance(item, dict):
            collector.add(
                f"{location} must be an object with percentage and next", step=key, field=location
            )
            continue
        collector.unknown(item, ("percentage", "next"), step=key, prefix=f"{location}.")
        percentage = item.get("percentage")
        if (
            not isinstance(percentage, int | float)
            or isinstance(percentage, bool)
            or not math.isfinite(percentage)
            or not 0 <= percentage <= 100
        ):
            collector.add(
                f"{location}.percentage must be a number from 0 to 100",
                step=key,
                field=f"{location}.percentage",
            )
        target = collector.fields(item, (_next(),), step=key, prefix=f"{location}.")
        paths.append({"percentage": percentage, **target})
    return paths


def _normalize_step(collector: ProblemCollector, raw: Any, index: int) -> dict[str, Any] | None:
    location = f"steps[{index}]"
    if not isinstance(raw, dict):
        collector.add(f"{location} must be an object", field=location)
        return None
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        collector.add(f"{location}.key must be a non-empty string", field=f"{location}.key")
        key = None
    elif len(key) > STEP_KEY_MAX_LENGTH or not STEP_KEY_PATTERN.fullmatch(key):
        collector.add(
            f"step key {key!r} must be at most {STEP_KEY_MAX_LENGTH} letters, digits, '_' or '-'",
            step=key,
            field="key",
        )
    # Problems of a step without a usable key are located by index instead.
    step_ref = key
    prefix = "" if key else f"{location}."
    step_type = raw.get("type")
    if step_type not in STEP_TYPES:
        message = (
            f"unknown step type {step_type!r}; expected one of {', '.join(STEP_TYPES)}"
            if step_type is not None
            else f"type is required (one of {', '.join(STEP_TYPES)})"
        )
        collector.add(message, step=step_ref, field=f"{prefix}type")
        return None
    out: dict[str, Any] = {"key": key, "type": step_type}
    body = {name: value for name, value in raw.items() if name not in ("key", "type")}

    if step_type == "send":
        channel = raw.get("channel")
        if channel not in SEND_CHANNELS:
            collector.add(
                f"{prefix}channel must be one of {', '.join(SEND_CHANNELS)}"
                if channel is not None
                else f"{prefix}channel is required (one of {', '.join(SEND_CHANNELS)})",
                step=step_ref,
                field=f"{prefix}channel",
            )
            return None
        fields = SEND_FIELDS[channel]
        out["channel"] = channel
        _inapplicable(
            collector,
            body,
            ("channel", *(f.name for f in fields)),
            SEND_FIELDS,
            key=step_ref,
            prefix=prefix,
            explain=lambda name: f"{name} does not apply to the {channel} channel",
        )
    elif step_type == "delay":
        variant = "until" if raw.get("until") is not None else "seconds"
        if raw.get("until") is not None and raw.get("seconds") is not None:
            collector.add(
                "give either seconds or until, not both", step=step_ref, field=f"{prefix}seconds"
            )
        fields = DELAY_FIELDS[variant]
        _inapplicable(
            collector,
            {name: value for name, value in body.items() if name != "seconds"},
            tuple(f.name for f in fields),
            DELAY_FIELDS,
            key=step_ref,
            prefix=prefix,
            explain=lambda name: f"{name} applies only to delays with until",
        )
    elif step_type == "split":
        collector.unknown(body, ("paths",), step=step_ref, prefix=prefix)
        out["paths"] = _normalize_split_paths(collector, raw.get("paths"), key=step_ref)
        return out
    else:
        fields = STEP_FIELDS[step_type]
        collector.unknown(body, tuple(f.name for f in fields), step=step_ref, prefix=prefix)
    out.update(collector.fields(raw, fields, step=step_ref, prefix=prefix))
    if step_type == "send":
        _send_rules(collector, out, step=step_ref, prefix=prefix)
    return out


def _send_rules(
    collector: ProblemCollector, send: dict[str, Any], *, step: str | None, prefix: str
) -> None:
    """Rules across a send step's fields: an e-mail has a text or an HTML body, and a
    transactional message belongs to no topic."""
    if send["channel"] == "email" and send.get("body") is None and send.get("html") is None:
        collector.add(f"{prefix}body or {prefix}html is required", step=step, field=f"{prefix}body")
    if send.get("transactional") and send.get("topic") is not None:
        collector.add(
            f"{prefix}topic: a transactional message belongs to no topic "
            "(drop the topic, or set transactional to false)",
            step=step,
            field=f"{prefix}topic",
        )


def _normalize_exit(collector: ProblemCollector, raw: Any) -> dict[str, Any] | None:
    """``exit``: events (each a name and an optional condition) or a segment whose
    arrival ends a customer's run at once, wherever it stands."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        collector.add('exit must be an object: {"events": [...], "segment_id": ...}', field="exit")
        return None
    collector.unknown(raw, ("events", "segment_id"), prefix="exit.")
    events = []
    raw_events = raw.get("events")
    if raw_events is None:
        raw_events = []
    if not isinstance(raw_events, list):
        collector.add("exit.events must be a list of {event, condition}", field="exit.events")
        raw_events = []
    for index, item in enumerate(raw_events):
        events.append(_normalize_event_rule(collector, item, f"exit.events[{index}]", ()))
    segment_id = raw.get("segment_id")
    if segment_id is not None and (not isinstance(segment_id, str) or not segment_id.strip()):
        collector.add("exit.segment_id must be a segment's id (seg_...)", field="exit.segment_id")
    return {"events": events, "segment_id": segment_id}


def _normalize_goal(collector: ProblemCollector, raw: Any) -> dict[str, Any] | None:
    """``goal``: the event (and condition) that counts a run as converted when it
    arrives within ``within_seconds`` of the run's entry (null: any time)."""
    if raw is None:
        return None
    extra = (Field("within_seconds", _seconds(1), optional=True),)
    return _normalize_event_rule(collector, raw, "goal", extra)


def _normalize_event_rule(
    collector: ProblemCollector, raw: Any, where: str, extra: tuple[Field, ...]
) -> dict[str, Any]:
    fields = (
        Field("event", _bounded_text(EVENT_MAX_LENGTH), REQUIRED),
        Field("condition", _condition),
        *extra,
    )
    if not isinstance(raw, dict):
        collector.add(f'{where} must be an object: {{"event": ..., "condition": ...}}', field=where)
        raw = {}
    collector.unknown(raw, tuple(field.name for field in fields), prefix=f"{where}.")
    return collector.fields(raw, fields, prefix=f"{where}.")


def definition_normalize(document: object) -> dict[str, Any]:
    """Check a document's structure and return its canonical form.

    Raises ``InvalidRequest("journey definition is not valid", problems=[...])`` listing
    every structural problem found. Graph, Liquid and condition checks are left to
    :func:`definition_publish_problems`, so a half-finished draft can still be saved.
    """
    collector = ProblemCollector()
    if not isinstance(document, dict):
        collector.add("a journey definition must be a JSON object", field=None)
        raise InvalidRequest("journey definition is not valid", problems=collector.problems)
    # The canonical document shares nothing with the caller's, so neither can change the other.
    document = copy.deepcopy(document)
    collector.unknown(document, DOCUMENT_FIELDS)

    name = document.get("name")
    _, problem = _bounded_text(NAME_MAX_LENGTH)(name)
    if name is None:
        collector.add("name is required", field="name")
    elif problem:
        collector.add(f"name {problem}", field="name")

    trigger = _normalize_trigger(collector, document.get("trigger"))
    entry = _normalize_entry(collector, document.get("entry"))
    # Journey-wide controls, written only when set (see Field.optional).
    controls = collector.fields(
        document,
        (
            Field("sender", _sender, optional=True),
            Field("send_window", _send_window, optional=True),
        ),
    )
    for control, normalize in (("exit", _normalize_exit), ("goal", _normalize_goal)):
        value = normalize(collector, document.get(control))
        if value is not None:
            controls[control] = value

    cancellation_key = document.get("cancellation_key")
    if cancellation_key == "":
        cancellation_key = None
    if cancellation_key is not None:
        _, problem = _bounded_text(CANCELLATION_KEY_MAX_LENGTH)(cancellation_key)
        if problem:
            collector.add(f"cancellation_key {problem}", field="cancellation_key")

    raw_steps = document.get("steps")
    steps: list[dict[str, Any]] = []
    if raw_steps is None:
        collector.add("steps is required (a list of steps)", field="steps")
    elif not isinstance(raw_steps, list):
        collector.add("steps must be a list", field="steps")
    else:
        first_index: dict[str, int] = {}
        for index, raw_step in enumerate(raw_steps):
            step = _normalize_step(collector, raw_step, index)
            key = raw_step.get("key") if isinstance(raw_step, dict) else None
            if isinstance(key, str) and key:
                if key in first_index:
                    collector.add(
                        f"duplicate step key {key!r} (steps[{first_index[key]}] and "
                        f"steps[{index}])",
                        step=key,
                        field="key",
                    )
                else:
                    first_index[key] = index
            if step is not None:
                steps.append(step)

    start = document.get("start")
    if start == "":
        start = None
    if start is not None and not isinstance(start, str):
        collector.add("start must be a step key", field="start")
    if start is None and steps and isinstance(steps[0].get("key"), str):
        # The natural default: a journey starts at its first step.
        start = steps[0]["key"]

    if collector.problems:
        raise InvalidRequest("journey definition is not valid", problems=collector.problems)
    return {
        "name": name,
        "trigger": trigger,
        "entry": entry,
        "cancellation_key": cancellation_key,
        **controls,
        "start": start,
        "steps": steps,
    }


# --- publish checks -------------------------------------------------------------------


def definition_step_targets(step: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The ``(field, target)`` edges leaving a canonical step, in field order."""
    step_type = step["type"]
    if step_type == "branch":
        return [("yes", step["yes"]), ("no", step["no"])]
    if step_type == "split":
        return [(f"paths[{i}].next", path["next"]) for i, path in enumerate(step["paths"])]
    if step_type == "throttle":
        return [("next", step["next"]), ("throttled", step["throttled"])]
    if step_type == "repeat":
        return [("to", step["to"]), ("next", step["next"])]
    if step_type == "wait_for_event":
        return [("matched", step["matched"]), ("timeout", step["timeout"])]
    if step_type == "exit":
        return []
    return [("next", step["next"])]
