"""The condition language: one JSON shape, a Python evaluator and a compiler to Django Q.

A condition is a leaf ``{"field": "customer.plan", "op": "eq", "value": "vip"}`` or a group
``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}``. Branches, trigger and entry
conditions and event filters evaluate it in Python (``condition_evaluate``) over a context such
as ``{"customer": ..., "api": {"payload": ...}, "event": ...}``; dynamic segments compile it to
SQL (``condition_to_q``). The two must agree on every customer, so the semantics are defined
here once, in terms of JSON values, and both back ends implement exactly this table.

Resolving a field
    A field is a dotted path. Each segment looks up a key in an object (a mapping); it never
    indexes into an array, so ``customer.tags.0`` is *missing*. A path that runs into a
    missing key or a non-object is missing. A missing value and JSON ``null`` are the same for
    every operator: below, "absent" means missing or null.

Kinds of value
    string, number (int or float, but never a boolean; non-finite floats count as neither),
    boolean, array, object, absent. Numbers compare as the decimal numbers their JSON text
    denotes (``1 == 1.0``; a float counts as ``Decimal(repr(f))``), which is what PostgreSQL's
    jsonb numeric does. Strings compare exactly, case-sensitively, by Unicode code point (no
    normalisation, no locale: ``COLLATE "C"`` in PostgreSQL). A value of one kind never
    equals or orders against a value of another kind (``true`` is not ``1``; ``"1"`` is not
    ``1``).

=====================  ======================================================================
op                     true when (the field's value is F, the condition's value V)
=====================  ======================================================================
``eq``                 F and V have the same kind and are equal (V: string/number/boolean)
``gt gte lt lte``      F and V are both numbers, or both strings, and F <op> V
``contains``           F is a string and V a string contained in it (``""`` is in every
                       string); or F is an array with a top-level element that ``eq`` V
``starts_with``        F is a string that starts with the string V
``in``                 F ``eq`` some element of the list V (so F is a string/number/boolean)
``exists``             F is not absent (an empty string, ``false``, ``0``, ``[]`` exist)
``ne``, ``not_contains``, ``not_in``, ``not_exists``
                       exactly the negation of ``eq``, ``contains``, ``in``, ``exists``: so
                       an absent field or one of another kind is ``ne`` anything, and
                       ``{"not": leaf}`` always means the same as the negated operator
=====================  ======================================================================

``all`` is true when every child is, ``any`` when at least one is, ``not`` negates. There is
no third "unknown" value: SQL NULL never leaks out of a compiled leaf.

Comparing with the context
    A leaf may take ``"value_from": "<path>"`` instead of ``"value"``: the value is read
    from the context at that path when the condition is evaluated, e.g. a wait for
    ``Order Completed`` whose ``event.properties.cart_id`` ``eq`` the trigger's
    ``data.cart_id``. When what is read is absent, or not a value the operator takes (a
    list for ``in``, a string for ``starts_with``...), the positive operator is false and
    its negation true. The path reads the run's or trigger's context, never
    ``customer``: the SQL back end reads one customer row at a time and folds every
    other root to a constant, so ``value_from`` is a constant there too, and both back
    ends agree by construction. (Compare a customer field with the context by putting
    the customer field in ``field``.)

Valid values (``condition_problems``): a leaf has ``value`` or ``value_from``, not both;
eq, ne, contains, not_contains take a string, finite
number or boolean (not null: test null with exists / not_exists); gt, gte, lt, lte a number
or string; starts_with a string; in, not_in a list (possibly empty) of those scalars; exists
and not_exists no value (an explicit null is tolerated). Groups are non-empty; nesting is at
most ``MAX_DEPTH`` levels and a condition at most ``MAX_NODES`` nodes. Evaluating or compiling
an invalid condition raises ``ConditionError`` (a ValueError) listing the problems.

What a condition sees as ``customer`` (``customer_condition_context``): the customer's JSON
attributes, overlaid by its columns ``Customer.CONDITION_FIELDS`` (a column wins a clash, even
when it is NULL) and ``id`` (the public id). In SQL ``customer.id`` is ``public_id``, a column
name is that column, and any other name is a key of ``attributes`` (``customer.address.city``
is ``attributes -> 'address' -> 'city'``). A path below a column (``customer.email.x``) is
missing. Leaves on any other root (``api.payload.total``, ``event.properties.x``, ``data.x``)
are the same for every customer: the compiler evaluates them in Python against ``constants``
and folds them into the query as true or false.

Known limits on SQLite (PostgreSQL is exact): SQLite holds JSON integers beyond 64 bits as
floats and compares integers with floats in binary, so numbers beyond 2**53 may compare
differently; an attribute key containing a double quote cannot be addressed
(``NotSupportedError``); keys are matched in the escaped form Django writes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from functools import reduce
from typing import Any, Final

from django.db.models import F, Q, Value
from django.db.models.functions import Left, StrIndex
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
)

from customers.models import Customer
from segments.condition_sql import CodePointOrder, JsonTest

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "OPERATORS",
    "ConditionError",
    "condition_evaluate",
    "condition_problems",
    "condition_to_q",
    "customer_condition_context",
]

OPERATORS: Final = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "not_contains",
    "starts_with",
    "in",
    "not_in",
    "exists",
    "not_exists",
)
#: Each negative operator is defined as the negation of a positive one.
_NEGATED: Final = {"ne": "eq", "not_contains": "contains", "not_in": "in", "not_exists": "exists"}
_GROUPS: Final = ("all", "any", "not")
_LEAF_KEYS: Final = ("field", "op", "value", "value_from")

#: Deeper nesting than this is almost certainly generated by mistake, and it bounds recursion.
MAX_DEPTH: Final = 20
#: Condition objects plus ``in`` list items; keeps compiled SQL and evaluation small.
MAX_NODES: Final = 1000

_CUSTOMER: Final = "customer"


class ConditionError(ValueError):
    """A condition that ``condition_problems`` rejects was evaluated or compiled."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("invalid condition: " + "; ".join(self.problems))


# --- Validation ---------------------------------------------------------------------------


def condition_fields(
    condition: Mapping[str, Any], *, path: str = "conditions"
) -> Iterator[tuple[str, str]]:
    """``(location, path)`` of every path a valid condition reads (each leaf's ``field``,
    and its ``value_from``), e.g. ``("conditions.all[0].field", "customer.plan")``: for
    checks of what a condition reads."""
    if "not" in condition:
        yield from condition_fields(condition["not"], path=f"{path}.not")
    elif "all" in condition or "any" in condition:
        group = "all" if "all" in condition else "any"
        for index, child in enumerate(condition[group]):
            yield from condition_fields(child, path=f"{path}.{group}[{index}]")
    else:
        yield f"{path}.field", condition["field"]
        if "value_from" in condition:
            yield f"{path}.value_from", condition["value_from"]


def condition_problems(condition: object, *, path: str = "conditions") -> list[str]:
    """Every problem with ``condition``, each naming where it is; empty when it is valid.

    Callers show these to API clients, so they say what was expected, not just "invalid".
    """
    problems: list[str] = []
    size = _problems(condition, path, 1, problems)
    if size > MAX_NODES:
        problems.append(f"{path}: too large ({size} nodes); at most {MAX_NODES} are allowed")
    return problems


def _problems(node: object, path: str, depth: int, problems: list[str]) -> int:
    """Append the problems of ``node`` and return how many nodes it holds."""
    if depth > MAX_DEPTH:
        problems.append(f"{path}: nested deeper than {MAX_DEPTH} levels")
        return 1
    if not isinstance(node, Mapping):
        problems.append(
            f"{path}: expected an object with 'all', 'any', 'not' or 'field'; got {_describe(node)}"
        )
        return 1
    groups = [key for key in _GROUPS if key in node]
    if not node:
        problems.append(f"{path}: empty; expected an object with 'all', 'any', 'not' or 'field'")
        return 1
    if not groups:
        return _leaf_problems(node, path, problems)
    if len(node) != 1:
        others = ", ".join(repr(key) for key in node if key != groups[0])
        problems.append(
            f"{path}: a group has exactly one key ('all', 'any' or 'not'); also got {others}"
        )
        return 1
    key = groups[0]
    children = node[key]
    if key == "not":
        return 1 + _problems(children, f"{path}.not", depth + 1, problems)
    if not isinstance(children, list) or not children:
        problems.append(f"{path}.{key}: expected a non-empty list of conditions")
        return 1
    return 1 + sum(
        _problems(child, f"{path}.{key}[{index}]", depth + 1, problems)
        for index, child in enumerate(children)
    )


def _leaf_problems(node: Mapping, path: str, problems: list[str]) -> int:
    unknown = [key for key in node if key not in _LEAF_KEYS]
    if unknown:
        problems.append(
            f"{path}: unknown key(s) {', '.join(repr(key) for key in unknown)}; a condition is "
            "'all', 'any', 'not' or a leaf with 'field', 'op' and 'value'"
        )
    field = node.get("field")
    if "field" not in node:
        problems.append(f"{path}.field: required, a dotted path such as 'customer.plan'")
    elif not isinstance(field, str) or not field:
        problems.append(f"{path}.field: expected a non-empty string; got {_describe(field)}")
    elif "" in field.split("."):
        problems.append(f"{path}.field: {field!r} has an empty segment between dots")

    op = node.get("op")
    expected_ops = ", ".join(OPERATORS)
    if "op" not in node:
        problems.append(f"{path}.op: required; expected one of {expected_ops}")
        return 1
    if not isinstance(op, str) or op not in OPERATORS:
        shown = repr(op) if isinstance(op, str) else _describe(op)
        problems.append(f"{path}.op: unknown operator {shown}; expected one of {expected_ops}")
        return 1

    where = f"{path}.value"
    value = node.get("value")
    if "value_from" in node:
        return _value_from_problems(node, path, op, problems)
    if op in ("exists", "not_exists"):
        if value is not None:
            problems.append(f"{where}: {op!r} takes no value")
        return 1
    if "value" not in node:
        problems.append(f"{where}: required by {op!r} (or value_from, a path to read it from)")
        return 1
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            problems.append(f"{where}: {op!r} needs a list of strings, numbers or booleans")
            return 1
        for index, item in enumerate(value):
            if not _is_scalar(item):
                problems.append(
                    f"{where}[{index}]: expected a string, number or boolean; got {_describe(item)}"
                )
        return 1 + len(value)
    if op == "starts_with":
        accepted, ok = "a string", isinstance(value, str)
    elif op in ("gt", "gte", "lt", "lte"):
        accepted, ok = "a number or a string", isinstance(value, str) or _is_number(value)
    else:
        accepted, ok = "a string, number or boolean", _is_scalar(value)
    if not ok:
        hint = "; use exists/not_exists to test for missing or null" if value is None else ""
        problems.append(f"{where}: {op!r} needs {accepted}; got {_describe(value)}{hint}")
    return 1


def _value_from_problems(node: Mapping, path: str, op: str, problems: list[str]) -> int:
    where = f"{path}.value_from"
    source = node["value_from"]
    if "value" in node:
        problems.append(f"{path}: give value or value_from, not both")
    elif op in ("exists", "not_exists"):
        problems.append(f"{where}: {op!r} takes no value")
    elif not isinstance(source, str) or not source:
        expected = "expected a dotted path such as 'data.cart_id'"
        problems.append(f"{where}: {expected}; got {_describe(source)}")
    elif "" in source.split("."):
        problems.append(f"{where}: {source!r} has an empty segment between dots")
    elif source.split(".")[0] == _CUSTOMER:
        problems.append(
            f"{where}: {source!r} reads the customer; value_from reads the run's context "
            "(data., event., api.payload., steps.): put the customer field in 'field'"
        )
    return 1


def _fits(op: str, value: Any) -> bool:
    """Whether ``value`` (read by ``value_from``) is one the positive ``op`` takes."""
    if op == "in":
        return isinstance(value, list)
    if op == "starts_with":
        return isinstance(value, str)
    if op in _ORDER:
        return isinstance(value, str) or _is_number(value)
    return _is_scalar(value)


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def _is_scalar(value: object) -> bool:
    return isinstance(value, (str, bool)) or _is_number(value)


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _require_valid(condition: object) -> None:
    problems = condition_problems(condition)
    if problems:
        raise ConditionError(problems)


# --- The Python evaluator -----------------------------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()


def condition_evaluate(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Whether ``condition`` holds in ``context``; raises ConditionError if it is invalid."""
    _require_valid(condition)
    return _evaluate(condition, context)


def _evaluate(node: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    if "all" in node:
        return all(_evaluate(child, context) for child in node["all"])
    if "any" in node:
        return any(_evaluate(child, context) for child in node["any"])
    if "not" in node:
        return not _evaluate(node["not"], context)
    op = node["op"]
    if "value_from" in node:
        expected = _resolve(context, node["value_from"])
        if not _fits(_NEGATED.get(op, op), expected):
            return op in _NEGATED  # the positive operator is false
    else:
        expected = node.get("value")
    return _leaf_holds(op, expected, _resolve(context, node["field"]))


def _resolve(context: Mapping[str, Any], field: str) -> Any:
    current: Any = context
    for key in field.split("."):
        if not isinstance(current, Mapping) or key not in current:
            return _MISSING
        current = current[key]
    return current


def _leaf_holds(op: str, expected: Any, actual: Any) -> bool:
    if op in _NEGATED:
        return not _leaf_holds(_NEGATED[op], expected, actual)
    kind = _kind(actual)
    if op == "exists":
        return kind != "absent"
    if op == "eq":
        return _equal(actual, expected)
    if op == "in":
        return any(_equal(actual, item) for item in expected)
    if op == "starts_with":
        return kind == "string" and actual.startswith(expected)
    if op == "contains":
        if kind == "string":
            return isinstance(expected, str) and expected in actual
        return kind == "array" and any(_equal(item, expected) for item in actual)
    compare = _ORDER[op]
    if kind == "number" and _is_number(expected):
        return compare(_decimal(actual), _decimal(expected))
    return kind == "string" and isinstance(expected, str) and compare(actual, expected)


_ORDER: Final = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _kind(value: Any) -> str:
    if value is _MISSING or value is None:
        return "absent"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number" if _decimal(value).is_finite() else "other"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "other"


def _decimal(value: int | float | Decimal) -> Decimal:
    """The number a JSON text denotes: floats by their shortest repr, as PostgreSQL reads them."""
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    return Decimal(value)


def _equal(actual: Any, expected: Any) -> bool:
    kind = _kind(actual)
    if kind != _kind(expected) or kind not in ("string", "number", "boolean"):
        return False
    if kind == "number":
        return _decimal(actual) == _decimal(expected)
    return actual == expected


# --- The compiler to Q over Customer ------------------------------------------------------


def condition_to_q(
    condition: Mapping[str, Any], *, constants: Mapping[str, Any] | None = None
) -> Q:
    """A Q over ``Customer`` selecting exactly the customers for whom ``condition`` holds.

    Leaves outside ``customer.`` are evaluated against ``constants`` (the trigger's payload,
    event, ...); ConditionError if there is such a leaf and no constants were given.
    """
    _require_valid(condition)
    compiled = _compile(condition, constants)
    return _always(compiled) if isinstance(compiled, bool) else compiled


def _always(value: bool) -> Q:
    """A Q that is true, or false, for every row (Django 5 takes lookups as conditions)."""
    return Q(Exact(Value(1), Value(1 if value else 0)))


def _compile(node: Mapping[str, Any], constants: Mapping[str, Any] | None) -> Q | bool:
    """A Q, or a plain bool when the answer is the same for every customer (folded upwards)."""
    if "not" in node:
        inner = _compile(node["not"], constants)
        return (not inner) if isinstance(inner, bool) else ~inner
    if "all" in node or "any" in node:
        is_all = "all" in node
        parts = [_compile(child, constants) for child in node["all" if is_all else "any"]]
        decisive = not is_all  # a false child decides "all", a true one decides "any"
        if any(part is decisive for part in parts):
            return decisive
        queries = [part for part in parts if not isinstance(part, bool)]
        if not queries:
            return is_all
        return reduce(operator.and_ if is_all else operator.or_, queries)

    field, op, value = node["field"], node["op"], node.get("value")
    root, *keys = field.split(".")
    if root != _CUSTOMER or "value_from" in node:
        if constants is None:
            outside = field if root != _CUSTOMER else node["value_from"]
            raise ConditionError(
                [f"{outside!r} is not a customer field: pass constants= to compile it"]
            )
        if root != _CUSTOMER:
            return _evaluate(node, constants)
        value = _resolve(constants, node["value_from"])  # the same for every customer
        if not _fits(_NEGATED.get(op, op), value):
            return op in _NEGATED
    if op in _NEGATED:
        positive = _compile_customer_leaf(keys, _NEGATED[op], value)
        return (not positive) if isinstance(positive, bool) else ~positive
    return _compile_customer_leaf(keys, op, value)


def _compile_customer_leaf(keys: list[str], op: str, value: Any) -> Q | bool:
    if not keys:  # "customer" itself: an object, whoever the customer is.
        return _leaf_holds(op, value, {})
    name = keys[0]
    column = "public_id" if name == "id" else name if name in Customer.CONDITION_FIELDS else None
    if column is None:
        if op == "in" and not value:
            return False
        return Q(JsonTest("attributes", keys, op, value))
    if len(keys) > 1:  # below a text column: always missing.
        return _leaf_holds(op, value, _MISSING)
    return _column_leaf(column, op, value)


_LOOKUPS: Final = {
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
    "lt": LessThan,
    "lte": LessThanOrEqual,
}


def _column_leaf(column: str, op: str, value: Any) -> Q | bool:
    """Columns hold text or NULL, so only string values can match.

    ``eq``, ``in`` and ``exists`` use plain lookups (indexable; Django adds ``IS NOT NULL``
    when negating them). The others AND a comparison with ``IS NOT NULL``, which makes them
    false rather than NULL on a NULL column, so that ``~`` negates them exactly.
    """
    present = Q(**{f"{column}__isnull": False})
    if op == "exists":
        return present
    if op == "in":
        strings = [item for item in value if isinstance(item, str)]
        return Q(**{f"{column}__in": strings}) if strings else False
    if not isinstance(value, str):
        return False
    if op == "eq":
        return Q(**{column: value})
    if op == "starts_with":
        if not value:
            return present
        return present & Q(Exact(Left(F(column), len(value)), Value(value)))
    if op == "contains":
        return present & Q(GreaterThan(StrIndex(F(column), Value(value)), 0))
    return present & Q(_LOOKUPS[op](CodePointOrder(F(column)), Value(value)))


# --- The customer as a condition sees it --------------------------------------------------


def customer_condition_context(customer: Customer) -> dict[str, Any]:
    """``customer`` in a condition's context: attributes, overlaid by columns and ``id``.

    Must mirror how ``condition_to_q`` maps ``customer.<name>`` to columns and attributes.
    """
    attributes = customer.attributes if isinstance(customer.attributes, Mapping) else {}
    columns = {name: getattr(customer, name) for name in Customer.CONDITION_FIELDS}
    return {**attributes, **columns, "id": customer.public_id}
