"""Row writes that the ORM makes expensive on the engine's hot path.

``QuerySet.bulk_update`` builds a ``CASE WHEN`` expression per row and field, which for
a batch of runs costs more Python than the database spends on the whole batch, and
``QuerySet.update`` per row compiles the same statement over and over. The engine
writes many rows of one shape at a time, so it sends one statement shape with many
parameter sets instead: psycopg pipelines ``executemany`` into one round trip.

Values go through each field's ``get_db_prep_save``, as the ORM does, so JSON, dates and
UUIDs are stored exactly as a ``save()`` would store them, on PostgreSQL and SQLite.
"""

import functools
import json
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, Expression, F, Model, Q, QuerySet


def rows_update(objs: Sequence[Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of each object to its row (all objects of one model)."""
    if not objs:
        return
    sql, columns = _update_statement(type(objs[0]), fields)
    params = [_values(obj, columns) for obj in objs]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def row_update_unflushed(obj: Model, fields: Sequence[str]) -> None:
    """Write ``fields`` of one object to its row, as its own transaction whose commit, on
    PostgreSQL, does not wait for the write-ahead log to reach the disk.

    The row is visible to every session at once and survives any crash of the caller;
    only a crash of the database server within a fraction of a second can lose it.
    That is the trade for recording the outcome of a call to the outside world, where
    the alternative (a lost record) means the call is repeated with the same
    idempotency key. Inside a transaction the write simply joins it.
    """
    sql, columns = _update_statement(type(obj), fields)
    values = _values(obj, columns)
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
    elif connection.settings_dict["OPTIONS"].get("server_side_binding"):
        # Prepared statements take one command each: an explicit transaction.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(sql, values)
    else:
        # One round trip: a multi-statement query is one implicit transaction.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF; " + sql, values)


def _update_statement(model: type[Model], fields: Sequence[str]) -> tuple[str, list]:
    return _statement_for(connection.vendor, model, tuple(fields))


@functools.lru_cache(maxsize=64)
def _statement_for(vendor: str, model: type[Model], fields: tuple[str, ...]) -> tuple[str, list]:
    """The statement for one (database, model, fields) shape; built once per process."""
    meta = model._meta
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in columns)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    return sql, columns


def _values(obj: Model, columns: list) -> list:
    return [
        *(field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns),
        obj.pk,
    ]


class _InValues(Expression):
    """``<column> IN <the values of one parameter>``: see :func:`in_values`."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, column: str, values: Sequence[Any], cast: str) -> None:
        super().__init__()
        self.column, self.values, self.cast = F(column), values, cast

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.column)
        if connection.vendor == "postgresql":
            # An array constant: the planner knows its length and hashes it, as it does
            # a long IN list (a set-returning function it could not estimate).
            return f"{sql} = ANY(%s::{self.cast}[])", [*params, _array_literal(self.values)]
        text = json.dumps(list(self.values))
        return f"{sql} IN (SELECT value FROM json_each(%s))", [*params, text]


def _array_literal(values: Sequence[Any]) -> str:
    """PostgreSQL's text form of an array of these integers or strings."""
    return (
        "{"
        + ",".join(
            str(value)
            if isinstance(value, int)
            else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for value in values
        )
        + "}"
    )


def in_values(model: type[Model], field: str, values: Sequence[Any]) -> Q:
    """``Q(<field>__in=values)`` with the values sent as one parameter.

    The ORM binds (and, on psycopg's client-side binding, quotes in Python, with a
    regular expression) a parameter per value: for the 10,000 ids of an event batch
    that costs more than the query. Here they are one text: an array constant on
    PostgreSQL, a JSON array expanded by ``json_each`` on SQLite. Integers or strings.
    """
    column = model._meta.pk if field == "pk" else model._meta.get_field(field)
    cast = column.cast_db_type(connection) if connection.vendor == "postgresql" else ""
    return Q(_InValues(column.attname, values, cast))


class _InArrayOf(Expression):
    """``<column> IN <a subquery read once>``: see :func:`in_subquery_once`."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, column: str, subquery: QuerySet) -> None:
        super().__init__()
        self.column, self.subquery = F(column), subquery

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.column)
        inner, inner_params = self.subquery.query.sql_with_params()
        if connection.vendor == "postgresql":
            return f"{sql} = ANY(ARRAY({inner}))", [*params, *inner_params]
        return f"{sql} IN ({inner})", [*params, *inner_params]


def in_subquery_once(field: str, subquery: QuerySet) -> Q:
    """``Q(<field>__in=subquery)`` where the subquery runs once, before the outer scan.

    ``IN (SELECT ...)`` leaves the plan to the statistics, and right after a burst
    (a table that held nothing at its last ANALYZE) the planner believes every side
    has one row: it scanned all of a journey's active runs and, for each, re-read the
    candidates' id array, which took 0.3 s for 5,000 runs and grows with both. On
    PostgreSQL this is ``= ANY(ARRAY(subquery))``: the subquery is an init plan whose
    array drives an index scan of the outer table, whatever the statistics say.
    ``subquery`` selects one column.
    """
    return Q(_InArrayOf(field, subquery))
