"""Claims take due runs fairly across live journeys, and claimed runs leave the due set."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from journeys.authoring.services import journey_pause
from journeys.engine.claims import due_runs_exist, runs_claim, runs_claim_due
from journeys.models import Enrollment
from tests.factories import customers_create, journey_create, runs_waiting_create

pytestmark = pytest.mark.django_db

TAG = [{"key": "tag", "type": "update_customer", "set": {"x": 1}, "next": None}]


def test_a_claimed_run_leaves_the_due_set_until_its_lease_lapses(workspace, settings):
    settings.RUN_LEASE_SECONDS = 60
    journey = journey_create(workspace, steps=TAG)
    due_at = timezone.now() - timedelta(seconds=5)
    (run,) = runs_waiting_create(journey, customers_create(workspace, 1), wake_at=due_at)

    claim = runs_claim_due(limit=10)

    run.refresh_from_db()
    assert claim.due_at == {run.pk: due_at}  # when it fell due, for the walker
    assert run.lease_token == claim.token
    assert run.wake_at == run.lease_expires_at > timezone.now() + timedelta(seconds=59)
    assert not due_runs_exist()
    assert len(runs_claim_due(limit=10)) == 0
    with time_machine.travel(run.lease_expires_at + timedelta(seconds=1)):
        assert due_runs_exist()
        again = runs_claim_due(limit=10)
    assert again.run_ids == [run.pk]
    assert again.token != claim.token


def test_a_journey_with_one_due_run_is_served_beside_a_backlog(workspace):
    campaign = journey_create(workspace, name="Campaign", steps=TAG)
    receipt = journey_create(workspace, name="Receipt", steps=TAG)
    long_ago = timezone.now() - timedelta(minutes=10)
    backlog = runs_waiting_create(
        campaign, customers_create(workspace, 300, prefix="c"), wake_at=long_ago
    )
    for seconds, run in enumerate(reversed(backlog)):  # the last created are the oldest
        run.wake_at = long_ago + timedelta(seconds=seconds)
    Enrollment.objects.bulk_update(backlog, ["wake_at"])
    (fresh,) = runs_waiting_create(
        receipt, customers_create(workspace, 1, prefix="r"), wake_at=timezone.now()
    )

    claim = runs_claim_due(limit=100)

    assert fresh.pk in claim.due_at  # not after the 300 older runs
    # Half the batch each; the receipt has one run, the campaign takes the rest.
    assert len(claim) == 100
    oldest = sorted(backlog, key=lambda run: run.wake_at)[:99]
    assert {run.pk for run in oldest} <= set(claim.due_at)
    assert claim.more  # the campaign filled its share: more of it is due


@pytest.mark.parametrize(("due", "more"), [(30, False), (100, True)])
def test_a_claim_says_whether_more_may_be_due(workspace, due, more):
    """A journey that filled its share may have more due runs; one that did not has none."""
    journey = journey_create(workspace, steps=TAG)
    runs_waiting_create(journey, customers_create(workspace, due), wake_at=timezone.now())

    claim = runs_claim_due(limit=100)

    assert (len(claim), claim.more) == (due, more)
    assert len(runs_claim_due(limit=100)) == 0


def test_runs_of_paused_journeys_and_runs_not_yet_due_are_left_alone(workspace):
    paused = journey_create(workspace, name="Paused", steps=TAG)
    later = journey_create(workspace, name="Later", steps=TAG)
    runs_waiting_create(paused, customers_create(workspace, 5, prefix="p"), wake_at=timezone.now())
    in_an_hour = timezone.now() + timedelta(hours=1)
    runs_waiting_create(later, customers_create(workspace, 5, prefix="l"), wake_at=in_an_hour)
    journey_pause(journey=paused)

    assert not due_runs_exist()
    assert len(runs_claim_due(limit=100)) == 0
    assert not Enrollment.objects.filter(lease_token__isnull=False).exists()


def test_a_kicked_run_is_leased_only_if_due_and_free(workspace):
    journey = journey_create(workspace, steps=TAG)
    due, later = runs_waiting_create(
        journey, customers_create(workspace, 2), wake_at=timezone.now()
    )
    Enrollment.objects.filter(pk=later.pk).update(wake_at=timezone.now() + timedelta(hours=1))

    first = runs_claim(run_ids=[due.pk, later.pk])
    second = runs_claim(run_ids=[due.pk])

    assert first.run_ids == [due.pk]
    assert second.run_ids == []
    due.refresh_from_db()
    assert due.wake_at == due.lease_expires_at
