"""Workers claiming at the same instant on PostgreSQL never take the same run."""

from collections import Counter

import pytest
from django.utils import timezone

from journeys.engine.claims import runs_claim_due
from tests.concurrency import in_parallel
from tests.factories import customers_create, journey_create, runs_waiting_create

pytestmark = pytest.mark.concurrency

WORKERS = 4
TAG = [{"key": "tag", "type": "update_customer", "set": {"x": 1}, "next": None}]


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_take_every_due_run_exactly_once(workspace):
    campaign = journey_create(workspace, name="Campaign", steps=TAG)
    receipt = journey_create(workspace, name="Receipt", steps=TAG)
    runs = runs_waiting_create(
        campaign, customers_create(workspace, 1000, prefix="c"), wake_at=timezone.now()
    ) + runs_waiting_create(
        receipt, customers_create(workspace, 30, prefix="r"), wake_at=timezone.now()
    )

    def claim_until_none_are_due() -> list[int]:
        claimed = []
        while claim := runs_claim_due(limit=50):
            claimed.extend(claim.run_ids)
        return claimed

    claimed = [pk for taken in in_parallel(claim_until_none_are_due, WORKERS) for pk in taken]

    assert Counter(Counter(claimed).values()) == {1: len(runs)}
    assert set(claimed) == {run.pk for run in runs}
