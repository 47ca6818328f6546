"""SQL expressions the condition compiler needs, for PostgreSQL and SQLite.

Why not Django's own JSONField lookups: they coerce across types (``attributes__age=1`` is
built from a JSON-encoded parameter on one back end and an unquoted one on the other),
order strings by the database collation, and SQLite's ``LIKE`` ignores case. And a comparison
with a missing key yields SQL NULL, which ``NOT`` keeps NULL rather than turning into true.
Every expression here is therefore a *two-valued* boolean (never NULL) that tests the JSON type
before the value, so ``~Q(expression)`` is exactly the negation the Python evaluator computes.

The semantics they implement are documented in ``segments.conditions``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import NotSupportedError
from django.db.models import BooleanField, Expression, F, Func

#: Positive operators a JsonTest understands; the compiler negates for ne, not_in, ...
JSON_TEST_OPS = ("eq", "gt", "gte", "lt", "lte", "contains", "starts_with", "in", "exists")

_SQL_COMPARISON = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_SQLITE_INT64 = (-(2**63), 2**63 - 1)


class CodePointOrder(Func):
    """Order text by Unicode code point, whatever the database's default collation.

    PostgreSQL needs ``COLLATE "C"`` (in UTF-8 byte order is code-point order); SQLite's
    default BINARY collation already compares UTF-8 bytes.
    """

    template = "%(expressions)s"
    arity = 1

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler, connection, template='(%(expressions)s) COLLATE "C"', **extra_context
        )


class JsonTest(Expression):
    """``<op>(source -> keys, value)`` for a JSON column, true or false but never NULL.

    ``keys`` walk object keys only: a key never indexes into an array, so ``tags.0`` is
    missing even when ``tags`` is a list (the Python evaluator walks mappings only, too).
    """

    output_field = BooleanField()

    def __init__(self, source: str | Expression, keys: Sequence[str], op: str, value: Any = None):
        if op not in JSON_TEST_OPS:
            raise ValueError(f"JsonTest does not implement {op!r}")
        if not keys:
            raise ValueError("JsonTest needs at least one key")
        super().__init__()
        self.source = F(source) if isinstance(source, str) else source
        self.keys = tuple(keys)
        self.op = op
        self.value = value

    def get_source_expressions(self) -> list[Any]:
        return [self.source]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.source,) = exprs

    def as_sql(self, compiler, connection):
        raise NotSupportedError(f"conditions over JSON are not implemented for {connection.vendor}")

    # --- PostgreSQL: jsonb -> 'key' chains, jsonb_typeof, jsonb comparison --------------------

    def as_postgresql(self, compiler, connection):
        source_sql, source_params = compiler.compile(self.source)
        source_params = list(source_params)
        hops = " -> %s::text" * (len(self.keys) - 1)
        # ``->`` with a text key returns NULL on arrays and scalars: objects only, as intended.
        node = (f"({source_sql}{hops} -> %s::text)", [*source_params, *self.keys])
        text = (f"({source_sql}{hops} ->> %s::text)", [*source_params, *self.keys])
        sql, params = _postgresql_test(self.op, self.value, node, text)
        return f"COALESCE({sql}, FALSE)", params

    # --- SQLite: json_type / json_extract / json_each over a JSON path ------------------------

    def as_sqlite(self, compiler, connection):
        source_sql, source_params = compiler.compile(self.source)
        path = _sqlite_path(self.keys)
        kind = (f"json_type({source_sql}, %s)", [*source_params, path])
        value = (f"json_extract({source_sql}, %s)", [*source_params, path])
        elements = (f"json_each({source_sql}, %s)", [*source_params, path])
        sql, params = _sqlite_test(self.op, self.value, kind, value, elements)
        return f"COALESCE({sql}, 0)", params


SqlPart = tuple[str, list[Any]]


def _json_literal(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def _postgresql_test(op: str, value: Any, node: SqlPart, text: SqlPart) -> tuple[str, list[Any]]:
    """jsonb equality/order compares numbers as numeric (1 = 1.0), never across types."""
    (n, np), (t, tp) = node, text
    typeof = f"jsonb_typeof({n})"
    if op == "exists":
        return f"{typeof} <> 'null'", np
    if op == "eq":
        return f"{n} = %s::jsonb", [*np, _json_literal(value)]
    if op == "in":
        if not value:
            return "FALSE", []
        placeholders = ", ".join(["%s::jsonb"] * len(value))
        return f"{n} IN ({placeholders})", [*np, *(_json_literal(item) for item in value)]
    if op in _SQL_COMPARISON:
        symbol = _SQL_COMPARISON[op]
        if isinstance(value, str):
            return (
                f"({typeof} = 'string' AND {t} COLLATE \"C\" {symbol} %s::text)",
                [*np, *tp, value],
            )
        return f"({typeof} = 'number' AND {n} {symbol} %s::jsonb)", [*np, *np, _json_literal(value)]
    if op == "starts_with":
        return f"({typeof} = 'string' AND starts_with({t}, %s::text))", [*np, *tp, value]
    if op == "contains":
        # Containment of a one-element array matches top-level elements only.
        in_array = f"{n} @> %s::jsonb"
        if isinstance(value, str):
            return (
                f"CASE {typeof} WHEN 'string' THEN strpos({t}, %s::text) > 0 "
                f"WHEN 'array' THEN {in_array} ELSE FALSE END",
                [*np, *tp, value, *np, _json_literal([value])],
            )
        return f"({typeof} = 'array' AND {in_array})", [*np, *np, _json_literal([value])]
    raise AssertionError(op)


def _sqlite_path(keys: Sequence[str]) -> str:
    """A JSON path whose labels match keys as Django stored them.

    SQLite (3.40) compares a quoted path label with the key's *escaped* JSON text, and Django
    writes JSON with ``ensure_ascii``: so the label for ``é`` must be ``\\u00e9``. A double
    quote cannot appear inside a label at all.
    """
    labels = []
    for key in keys:
        if '"' in key:
            raise NotSupportedError(f"SQLite JSON paths cannot name the key {key!r}")
        labels.append(f'."{json.dumps(key)[1:-1]}"')
    return "$" + "".join(labels)


def _sqlite_number(value: int | float) -> int | float:
    """sqlite3 cannot bind integers outside int64; SQLite's JSON holds those as reals anyway."""
    if isinstance(value, int) and not _SQLITE_INT64[0] <= value <= _SQLITE_INT64[1]:
        return float(value)
    return value


def _placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _sqlite_test(
    op: str, value: Any, kind: SqlPart, extracted: SqlPart, elements: SqlPart
) -> tuple[str, list[Any]]:
    """json_type tells integer/real/text/true/false apart; json_extract yields the SQL value."""
    (k, kp), (x, xp), (each, ep) = kind, extracted, elements
    if op == "exists":
        return f"{k} <> 'null'", kp
    if op in ("eq", "in"):
        values = [value] if op == "eq" else list(value)
        if not values:
            return "0", []
        return _sqlite_membership(k, kp, x, xp, values)
    if op in _SQL_COMPARISON:
        symbol = _SQL_COMPARISON[op]
        if isinstance(value, str):
            return f"({k} = 'text' AND {x} {symbol} %s)", [*kp, *xp, value]
        return (
            f"({k} IN ('integer', 'real') AND {x} {symbol} %s)",
            [*kp, *xp, _sqlite_number(value)],
        )
    if op == "starts_with":
        return f"({k} = 'text' AND substr({x}, 1, length(%s)) = %s)", [*kp, *xp, value, value]
    if op == "contains":
        element_sql, element_params = _sqlite_membership(
            "element.type", [], "element.value", [], [value]
        )
        in_array = f"EXISTS (SELECT 1 FROM {each} AS element WHERE {element_sql})"
        if isinstance(value, str):
            return (
                f"CASE {k} WHEN 'text' THEN instr({x}, %s) > 0 WHEN 'array' THEN {in_array} "
                "ELSE 0 END",
                [*kp, *xp, value, *ep, *element_params],
            )
        return f"({k} = 'array' AND {in_array})", [*kp, *ep, *element_params]
    raise AssertionError(op)


def _sqlite_membership(
    kind_sql: str, kind_params: list, value_sql: str, value_params: list, values: Sequence[Any]
) -> tuple[str, list[Any]]:
    """``value IN values`` with matching JSON types, as one OR per type of value."""
    strings = [v for v in values if isinstance(v, str)]
    numbers = [_sqlite_number(v) for v in values if not isinstance(v, (str, bool))]
    booleans = sorted({"true" if v else "false" for v in values if isinstance(v, bool)})
    parts: list[str] = []
    params: list[Any] = []
    if strings:
        parts.append(f"({kind_sql} = 'text' AND {value_sql} IN ({_placeholders(strings)}))")
        params += [*kind_params, *value_params, *strings]
    if numbers:
        parts.append(
            f"({kind_sql} IN ('integer', 'real') AND {value_sql} IN ({_placeholders(numbers)}))"
        )
        params += [*kind_params, *value_params, *numbers]
    if booleans:
        quoted = ", ".join(f"'{name}'" for name in booleans)
        parts.append(f"{kind_sql} IN ({quoted})")
        params += kind_params
    return "(" + " OR ".join(parts) + ")", params
