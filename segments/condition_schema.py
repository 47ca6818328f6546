"""The condition language as JSON Schema: what ``condition_problems`` accepts, for the
OpenAPI schema (see :mod:`segments.conditions` for the language itself).

Everything the validator checks is stated here except its two size limits (nesting
depth and node count), which JSON Schema cannot count.
"""

from typing import Any

#: Which values each operator takes (``condition_problems``); ``None``: no value. Every
#: operator of ``segments.conditions.OPERATORS`` is here (a test holds them together).
_SCALAR: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
}
OPERATOR_VALUES: dict[tuple[str, ...], dict[str, Any] | None] = {
    ("eq", "ne", "contains", "not_contains"): _SCALAR,
    ("gt", "gte", "lt", "lte"): {"anyOf": [{"type": "string"}, {"type": "number"}]},
    ("starts_with",): {"type": "string"},
    ("in", "not_in"): {"type": "array", "items": _SCALAR},
    ("exists", "not_exists"): None,
}

#: A dotted path with no empty segment, e.g. ``customer.plan``.
FIELD_PATH_PATTERN = r"^[^.]+(\.[^.]+)*$"
#: A segment's conditions read the customer only: ``customer`` or ``customer.<path>``.
CUSTOMER_FIELD_PATTERN = r"^customer(\.[^.]+)*$"
#: ``value_from`` reads the run's or trigger's context, never the customer.
VALUE_FROM_PATTERN = r"^(?!customer(\.|$))[^.]+(\.[^.]+)*$"


def _leaf(
    ops: tuple[str, ...], value: dict[str, Any] | None, field_pattern: str, *, read: bool = False
) -> dict:
    """A leaf of these operators: with its ``value`` (or none), or, ``read``, with a
    ``value_from`` path instead."""
    properties: dict[str, Any] = {
        "field": {"type": "string", "pattern": field_pattern},
        "op": {"type": "string", "enum": list(ops)},
    }
    required = ["field", "op"]
    if read:
        properties["value_from"] = {
            "type": "string",
            "pattern": VALUE_FROM_PATTERN,
            "description": "A context path to read the value from (data.cart_id)",
        }
        required.append("value_from")
    elif value is None:
        properties["value"] = {"nullable": True, "enum": [None]}
    else:
        properties["value"] = value
        required.append("value")
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def condition_json_schema(*, ref: str, field_pattern: str = FIELD_PATH_PATTERN) -> dict:
    """The schema of one condition; ``ref`` is where the schema itself is found, for
    the groups that nest conditions (``#/components/schemas/...``)."""
    nested = {"$ref": ref}
    groups = [
        {
            "type": "object",
            "properties": {"all": {"type": "array", "items": nested, "minItems": 1}},
            "required": ["all"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"any": {"type": "array", "items": nested, "minItems": 1}},
            "required": ["any"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"not": nested},
            "required": ["not"],
            "additionalProperties": False,
        },
    ]
    leaves = [_leaf(ops, value, field_pattern) for ops, value in OPERATOR_VALUES.items()]
    if field_pattern != CUSTOMER_FIELD_PATTERN:  # a segment has no context to read from
        valued = tuple(op for ops, value in OPERATOR_VALUES.items() if value for op in ops)
        leaves.append(_leaf(valued, None, field_pattern, read=True))
    return {
        "description": (
            'A condition: {"all": [...]}, {"any": [...]}, {"not": {...}} or a leaf '
            '{"field", "op", "value"} (or "value_from", a context path to read the value '
            "from). At most 20 levels deep and 1,000 nodes."
        ),
        "oneOf": groups + leaves,
    }
