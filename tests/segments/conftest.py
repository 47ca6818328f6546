"""Stores that hold customers and run a compiled condition, on PostgreSQL and on SQLite.

The suite runs on PostgreSQL; SQLite is the product's embedded default, so the condition
compiler is also checked against a private in-memory SQLite database built from the models.
Both stores take unsaved ``Customer`` objects and answer with the public ids a Q selects.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import transaction
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.db.models import Q
from django.db.models.sql import InsertQuery
from django.db.utils import ConnectionHandler

from customers.models import Customer, Workspace


class _Rollback(Exception):
    """Raised to leave an atomic block by rolling it back."""


@contextmanager
def rolled_back() -> Iterator[None]:
    """A savepoint that is always rolled back: one per hypothesis example."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


class PostgresStore:
    vendor = "postgresql"

    def __init__(self, workspace: Workspace):
        self.workspace = workspace

    def add(self, customers: list[Customer]) -> list[Customer]:
        for customer in customers:
            customer.workspace = self.workspace
        return Customer.objects.bulk_create(customers)

    def select(self, q: Q) -> set[str]:
        rows = Customer.objects.filter(workspace=self.workspace).filter(q)
        return set(rows.values_list("public_id", flat=True))

    def clear(self) -> None:
        Customer.objects.filter(workspace=self.workspace).delete()


class SQLiteStore:
    """Customers in an in-memory SQLite database with the real ``customers_customer`` table."""

    vendor = "sqlite"
    WORKSPACE_ID = 1

    def __init__(self):
        # Built outside django.db.connections, so nothing else in the process can see it;
        # the handler only fills in the settings a connection needs.
        handler = ConnectionHandler(
            {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
        )
        self.connection = SQLiteWrapper(handler.settings["default"], alias="conditions_sqlite")
        # atomic=False: an atomic block would look the alias up in django.db.connections.
        with self.connection.schema_editor(atomic=False) as editor:
            editor.create_model(Workspace)
            editor.create_model(Customer)
        with self.connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO customers_workspace (id, public_id, name, created_at) "
                "VALUES (%s, 'ws_sqlite', 'SQLite', '2024-01-01')",
                [self.WORKSPACE_ID],
            )

    def add(self, customers: list[Customer]) -> list[Customer]:
        if not customers:
            return customers
        for customer in customers:
            customer.workspace_id = self.WORKSPACE_ID
        fields = [f for f in Customer._meta.concrete_fields if not f.primary_key]
        query = InsertQuery(Customer)
        query.insert_values(fields, customers)
        with self.connection.cursor() as cursor:
            for sql, params in query.get_compiler(connection=self.connection).as_sql():
                cursor.execute(sql, params)
        return customers

    def select(self, q: Q) -> set[str]:
        rows = Customer.objects.filter(workspace_id=self.WORKSPACE_ID).filter(q)
        sql, params = (
            rows.values_list("public_id").query.get_compiler(connection=self.connection).as_sql()
        )
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {public_id for (public_id,) in cursor.fetchall()}

    def clear(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("DELETE FROM customers_customer")

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def postgresql_store(workspace) -> PostgresStore:
    return PostgresStore(workspace)


@pytest.fixture
def sqlite_store(django_db_blocker) -> Iterator[SQLiteStore]:
    with django_db_blocker.unblock():
        store = SQLiteStore()
        yield store
        store.close()


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request):
    """Each compile test runs once per back end."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def rollback():
    """``with rollback(): ...`` runs the block in a savepoint that is then rolled back."""
    return rolled_back
