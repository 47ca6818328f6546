"""Migration 0013 renames journeys that share a name in a workspace before names become
unique per workspace."""

import importlib

migration = importlib.import_module("journeys.migrations.0013_journey_names_unique_and_runs")


def test_later_duplicates_get_a_number_and_the_first_keeps_its_name():
    journeys = [
        (1, 10, "Welcome"),
        (2, 10, "Welcome"),
        (3, 20, "Welcome"),  # another workspace: not a duplicate
        (4, 10, "Welcome"),
        (5, 10, "Other"),
    ]

    assert migration.unique_names(journeys) == {2: "Welcome (2)", 4: "Welcome (3)"}


def test_a_number_another_journey_already_has_is_skipped():
    journeys = [(1, 10, "Welcome"), (2, 10, "Welcome (2)"), (3, 10, "Welcome")]

    assert migration.unique_names(journeys) == {3: "Welcome (3)"}


def test_a_long_name_is_cut_so_that_the_number_fits():
    long = "x" * 200

    renamed = migration.unique_names([(1, 10, long), (2, 10, long)])

    assert renamed == {2: "x" * 196 + " (2)"}


def test_the_migration_renames_the_rows(workspace):
    from django.apps import apps
    from django.db import connection

    from journeys.models import Journey
    from tests.factories import journey_create

    first = journey_create(workspace, name="Welcome")
    second = journey_create(workspace, name="Other")
    # As the rows stood before the constraint: two journeys named "Welcome".
    with connection.cursor() as cursor:
        # The inserts above queued foreign key checks, which ALTER TABLE may not leave.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE journeys_journey DROP CONSTRAINT journey_name_unique")
        Journey.objects.filter(pk=second.pk).update(name="Welcome")

        migration.rename_duplicates(apps, None)

        cursor.execute(
            "ALTER TABLE journeys_journey ADD CONSTRAINT journey_name_unique "
            "UNIQUE (workspace_id, name)"
        )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.name, second.name) == ("Welcome", "Welcome (2)")
