"""A claim's cost does not grow with the runs other workers hold (PostgreSQL's plan).

Runs that are leased have left the due set, so the claim's index scans never visit
them: the rows a claim reads are the same whether none or thousands are leased.
"""

import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from journeys.engine.claims import claim_due_statement, runs_claim_due
from journeys.models import Enrollment
from tests.factories import customers_create, journey_create, runs_waiting_create

pytestmark = pytest.mark.django_db

TAG = [{"key": "tag", "type": "update_customer", "set": {"x": 1}, "next": None}]


def rows_read_from_runs(plan: dict) -> int:
    """Rows that the plan's scans of the runs table produced or filtered out."""
    total = 0
    if plan.get("Relation Name") == Enrollment._meta.db_table and "Scan" in plan["Node Type"]:
        loops = plan["Actual Loops"]
        total += (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * loops
    return total + sum(rows_read_from_runs(child) for child in plan.get("Plans", []))


def claim_plan_rows(limit: int) -> int:
    now = timezone.now()
    sql, params = claim_due_statement(
        token=uuid.uuid4(), now=now, until=now + timedelta(minutes=1), limit=limit
    )
    with connection.cursor() as cursor:
        cursor.execute("SAVEPOINT plan")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        (document,) = cursor.fetchone()
        cursor.execute("ROLLBACK TO SAVEPOINT plan")
    plan = document if isinstance(document, list) else json.loads(document)
    return rows_read_from_runs(plan[0]["Plan"])


def test_the_claim_reads_the_same_rows_with_none_or_thousands_of_runs_leased(workspace):
    journey = journey_create(workspace, steps=TAG)
    due_at = timezone.now() - timedelta(seconds=30)
    runs_waiting_create(journey, customers_create(workspace, 2005), wake_at=due_at)
    Enrollment.objects.filter(pk__in=Enrollment.objects.order_by("pk").values("pk")[:5]).update(
        wake_at=due_at + timedelta(seconds=1)  # the five that stay due: the newest
    )
    # Leased by no one: the claim would read the five and stop.
    baseline = claim_plan_rows(limit=5)

    for _ in range(20):  # 2,000 runs leased by other workers, the oldest ones
        assert len(runs_claim_due(limit=100)) == 100
    with_leases = claim_plan_rows(limit=5)

    assert Enrollment.objects.filter(lease_token__isnull=False).count() == 2000
    assert with_leases == baseline
    assert baseline <= 2 * 5 + 1  # the probe's row, and each claimed row read at most twice
    with CaptureQueriesContext(connection) as queries:
        assert len(runs_claim_due(limit=5)) == 5
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 1
