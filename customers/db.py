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
from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models import Model


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
