"""The journey definition as JSON Schema: what ``definition_normalize`` accepts.

Built from :mod:`journeys.authoring.definition`'s field tables, whose checkers each carry
the schema of the values they accept, so a field added there is documented here. The
schema describes a *draft*: publishing checks meaning (the graph, Liquid, conditions)
beyond it. Three structural rules are beyond OpenAPI 3.0 and stated in words only:
step keys are unique, schema field names are unique, and header and attribute names
(``headers``, ``set``) are not blank. The server answers each with a 400 naming it.
"""

from typing import Any

from customers.patterns import NOT_BLANK_PATTERN
from journeys.authoring.definition import (
    CANCELLATION_KEY_MAX_LENGTH,
    DELAY_FIELDS,
    ENTRY_FIELD_CHECKS,
    EVENT_MAX_LENGTH,
    NAME_MAX_LENGTH,
    REQUIRED,
    SCHEMA_FIELD_TYPES,
    SEND_FIELDS,
    STEP_FIELDS,
    STEP_KEY_MAX_LENGTH,
    STEP_KEY_PATTERN,
    WEBHOOK_SIGNATURES,
    Field,
)

#: A field that belongs to another variant of the step: absent or null only.
NULL_ONLY: dict[str, Any] = {"nullable": True, "enum": [None]}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or null: a null optional field counts as absent."""
    if "enum" in schema:
        return {**schema, "nullable": True, "enum": [*schema["enum"], None]}
    if "type" not in schema and "pattern" not in schema:
        return schema  # any JSON value, null included
    return {**schema, "nullable": True}


def _bounded_text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "pattern": NOT_BLANK_PATTERN, "maxLength": max_length}


def _blank_or(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or ``""`` or null, both read as "none"."""
    return {"nullable": True, "anyOf": [{"type": "string", "enum": [""]}, schema]}


def _object(
    properties: dict[str, Any], required: list[str], description: str | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def _fields(fields: tuple[Field, ...]) -> tuple[dict[str, Any], list[str]]:
    properties, required = {}, []
    for field in fields:
        schema = field.check.json_schema  # type: ignore[attr-defined]
        if field.default is REQUIRED:
            properties[field.name] = schema
            required.append(field.name)
        else:
            properties[field.name] = _or_null(schema)
    return properties, required


def _step(
    step_type: str,
    fields: tuple[Field, ...] = (),
    *,
    selector: dict[str, Any] | None = None,
    others: set[str] = frozenset(),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One kind of step: its own fields, and ``others`` (another variant's) null only."""
    properties, required = _fields(fields)
    properties = {
        "key": {
            "type": "string",
            "pattern": STEP_KEY_PATTERN.pattern,
            "maxLength": STEP_KEY_MAX_LENGTH,
        },
        "type": {"type": "string", "enum": [step_type]},
        **(selector or {}),
        **(extra or {}),
        **properties,
        **{name: NULL_ONLY for name in sorted(others - set(properties))},
    }
    return _object(properties, ["key", "type", *(selector or {}), *(extra or {}), *required])


def _variants(
    step_type: str, variants: dict[str, tuple[Field, ...]], selector: str | None
) -> list[dict[str, Any]]:
    every_field = {field.name for fields in variants.values() for field in fields}
    return [
        _step(
            step_type,
            fields,
            selector={selector: {"type": "string", "enum": [name]}} if selector else None,
            others=every_field,
        )
        for name, fields in variants.items()
    ]


def _split_step() -> dict[str, Any]:
    path = _object(
        {
            "percentage": {"type": "number", "minimum": 0, "maximum": 100},
            "next": {"type": "string", "minLength": 1, "nullable": True},
        },
        ["percentage"],
    )
    return _step("split", extra={"paths": {"type": "array", "items": path, "minItems": 1}})


def step_json_schema() -> dict[str, Any]:
    """A step: one branch per type, per channel of a send, and per kind of delay."""
    return {
        "oneOf": [
            *_variants("send", SEND_FIELDS, "channel"),
            # A delay with until is the until kind; without, the seconds kind.
            *_variants("delay", DELAY_FIELDS, None),
            _split_step(),
            *(
                _step(step_type, fields)
                for step_type, fields in STEP_FIELDS.items()
                if step_type != "split"
            ),
        ],
        "description": "Step keys are unique within a journey.",
    }


def _trigger() -> dict[str, Any]:
    schema_field = _object(
        {
            "name": {"type": "string", "minLength": 1},
            "type": {"type": "string", "enum": list(SCHEMA_FIELD_TYPES)},
            "required": {"type": "boolean", "nullable": True},
        },
        ["name", "type"],
    )
    shared = {
        "schema": {
            "type": "array",
            "items": schema_field,
            "nullable": True,
            "description": "Payload fields and their types; names are unique.",
        },
        "conditions": {
            "type": "object",
            "nullable": True,
            "description": "A condition on the trigger, checked when publishing",
        },
    }
    api = _object(
        {
            "type": {"type": "string", "enum": ["api", None], "nullable": True},
            "event": {"nullable": True, "enum": [None, ""]},
            **shared,
        },
        [],
        "Triggered by the API (the default)",
    )
    event = _object(
        {
            "type": {"type": "string", "enum": ["event"]},
            "event": _blank_or(_bounded_text(EVENT_MAX_LENGTH)),
            **shared,
        },
        ["type"],
        "Triggered by a tracked event of this name",
    )
    body_path = {"type": "string", "pattern": r"^data(\.[^.]+)+$"}
    webhook = _object(
        {
            "type": {"type": "string", "enum": ["webhook"]},
            "event": {"nullable": True, "enum": [None, ""]},
            **shared,
            "identify": {
                "oneOf": [
                    _object({"email": body_path}, ["email"]),
                    _object({"external_id": body_path}, ["external_id"]),
                ],
                "nullable": True,
                "description": "Where the body names the customer: "
                '{"email": "data.object.customer_email"} or {"external_id": "data.user.id"}',
            },
            "signature": {
                "type": "string",
                "enum": [*WEBHOOK_SIGNATURES, None],
                "nullable": True,
                "description": "The signature checked with the journey's webhook secret",
            },
            "create_customers": {
                "type": "boolean",
                "nullable": True,
                "description": "Make the customer the body names when unknown (default true)",
            },
        },
        ["type"],
        "Triggered by a POST to the journey's secret webhook URL; the body is the payload",
    )
    segment = _object(
        {
            "type": {"type": "string", "enum": ["segment"]},
            "event": {"nullable": True, "enum": [None, ""]},
            **shared,
            "segment_id": {
                "type": "string",
                "pattern": NOT_BLANK_PATTERN,
                "nullable": True,
                "description": "The segment (seg_...) whose new members enter: added to a "
                "static one, or starting to match a dynamic one",
            },
        },
        ["type"],
        "Triggered when a customer newly joins a segment",
    )
    return {"nullable": True, "oneOf": [api, event, webhook, segment]}


def _entry() -> dict[str, Any]:
    properties, required = _fields(ENTRY_FIELD_CHECKS)
    return {**_object(properties, required), "nullable": True}


def definition_json_schema(*, step_ref: str) -> dict[str, Any]:
    """The whole document; ``step_ref`` points at :func:`step_json_schema`'s component."""
    properties = {
        "name": _bounded_text(NAME_MAX_LENGTH),
        "trigger": _trigger(),
        "entry": _entry(),
        "cancellation_key": _blank_or(_bounded_text(CANCELLATION_KEY_MAX_LENGTH)),
        "start": {
            "type": "string",
            "nullable": True,
            "description": "The first step's key; null or empty: the first step",
        },
        "steps": {"type": "array", "items": {"$ref": step_ref}},
    }
    return _object(
        properties,
        ["name", "steps"],
        "A journey definition (DESIGN.md section 6). Unknown keys are refused.",
    )
