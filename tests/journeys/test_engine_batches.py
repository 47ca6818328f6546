"""The engine walks a claimed batch together: shared writes, per-run leases, isolation.

A worker hands ``runs_walk`` up to 100 runs at once. These tests check what batching
must not change (each message sent once, each run written only under its own lease,
one broken run not holding up the others) and what it is for (statements per batch
that do not grow with the number of runs, beyond one record per message sent).
"""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from delivery.models import Message
from journeys import steps
from journeys.engine import runs_claim, runs_walk
from journeys.entry import journey_enroll
from journeys.models import Enrollment, StepRun
from journeys.walker import LeaseLost, RunWalker
from tests.factories import customers_create, journey_create

pytestmark = pytest.mark.django_db

SEND = [{"key": "hello", "type": "send", "channel": "email", "subject": "Hi {{ customer.id }}",
         "body": "Code {{ data.code }}", "next": None}]  # fmt: skip
TAG = [{"key": "tag", "type": "update_customer", "set": {"tagged": True}, "next": None}]


def enroll_all(workspace, journey, prefix, count):
    customers_create(workspace, count, prefix=prefix)
    journey_enroll(
        journey=journey,
        version=journey.live_version,
        customers=Customer.objects.filter(workspace=workspace, external_id__startswith=prefix),
        payload={"code": "SPRING"},
    )
    return list(
        Enrollment.objects.filter(
            journey=journey, customer__external_id__startswith=prefix
        ).values_list("pk", flat=True)
    )


def statements_to_walk(run_ids):
    token, claimed = runs_claim(run_ids=run_ids)
    assert sorted(claimed) == sorted(run_ids)
    with CaptureQueriesContext(connection) as queries:
        runs_walk(run_ids=claimed, token=token)
    return len(queries.captured_queries)


def test_a_batch_of_sends_delivers_each_message_once(workspace, smtp_server):
    journey = journey_create(workspace, steps=SEND)
    run_ids = enroll_all(workspace, journey, "b", 6)
    token, claimed = runs_claim(run_ids=run_ids)

    runs_walk(run_ids=claimed, token=token)

    assert sorted(mail["To"] for mail in smtp_server.messages) == [
        f"b{i}@example.com" for i in range(6)
    ]
    assert set(Enrollment.objects.values_list("state", flat=True)) == {"completed"}
    assert Message.objects.filter(status="sent", attempts=1).count() == 6
    for visit in StepRun.objects.select_related("message", "enrollment__customer"):
        assert (visit.outcome, visit.message.recipient) == ("sent", visit.enrollment.customer.email)
    assert not Enrollment.objects.filter(lease_token__isnull=False).exists()


def test_statements_per_batch_grow_only_by_each_messages_own_record(workspace, smtp_server):
    journey = journey_create(workspace, steps=SEND)
    few = statements_to_walk(enroll_all(workspace, journey, "few", 3))
    many = statements_to_walk(enroll_all(workspace, journey, "many", 15))

    # Twelve more e-mails cost twelve more statements (each message's sent record, written
    # the moment the SMTP server accepts it); the rest of the batch's work is shared.
    assert many - few <= 12, (few, many)
    assert len(smtp_server.messages) == 18


def test_runs_whose_lease_moved_on_are_left_to_their_new_owner(workspace):
    journey = journey_create(workspace, steps=TAG)
    first, second = enroll_all(workspace, journey, "l", 2)
    token, _ = runs_claim(run_ids=[first, second])
    other_owner = uuid.uuid4()
    Enrollment.objects.filter(pk=second).update(lease_token=other_owner)

    runs_walk(run_ids=[first, second], token=token)

    assert Enrollment.objects.get(pk=first).state == "completed"
    untouched = Enrollment.objects.get(pk=second)
    assert (untouched.state, untouched.lease_token) == ("active", other_owner)
    assert not StepRun.objects.filter(enrollment_id=second).exists()


def test_a_run_that_breaks_does_not_hold_up_its_batch(workspace, monkeypatch):
    journey = journey_create(workspace, steps=TAG)
    good, bad = enroll_all(workspace, journey, "x", 2)
    real = steps.EXECUTORS["update_customer"]

    def breaks_for_one_run(inp):
        if inp.run.pk == bad:
            raise RuntimeError("unexpected")
        return real(inp)

    monkeypatch.setitem(steps.EXECUTORS, "update_customer", breaks_for_one_run)
    token, claimed = runs_claim(run_ids=[good, bad])

    runs_walk(run_ids=claimed, token=token)

    assert Enrollment.objects.get(pk=good).state == "completed"
    broken = Enrollment.objects.get(pk=bad)
    # Nothing of its walk is written; it keeps the lease until it lapses, then is retried.
    assert (broken.state, broken.current_step, broken.lease_token) == ("active", "tag", token)
    assert not StepRun.objects.filter(enrollment_id=bad).exists()


def test_a_walker_renews_its_lease_before_acting_late_in_a_batch(workspace):
    journey = journey_create(workspace, steps=TAG)
    (run_id,) = enroll_all(workspace, journey, "r", 1)
    token, _ = runs_claim(run_ids=[run_id])
    run = Enrollment.objects.select_related("journey", "customer", "version").get(pk=run_id)
    walker = RunWalker(run, token, visits={}, open_visit=None)

    walker.lease_until = timezone.now() + timedelta(seconds=5)  # most of the lease is gone
    walker.lease_keep()
    renewed = Enrollment.objects.get(pk=run_id).lease_expires_at
    assert renewed > timezone.now() + timedelta(seconds=50)
    assert walker.lease_until == renewed

    Enrollment.objects.filter(pk=run_id).update(lease_token=uuid.uuid4())  # claimed again
    walker.lease_until = timezone.now()
    with pytest.raises(LeaseLost):
        walker.lease_keep()


def test_a_run_replaced_by_a_new_entry_during_its_walk_stays_exited(workspace, monkeypatch):
    journey = journey_create(
        workspace, steps=TAG, entry={"allow_reentry": True, "restart_active": True}
    )
    (first,) = enroll_all(workspace, journey, "re", 1)
    real = steps.EXECUTORS["update_customer"]

    def customer_re_enters_meanwhile(inp):
        journey_enroll(
            journey=journey,
            version=journey.live_version,
            customers=Customer.objects.filter(pk=inp.run.customer_id),
            payload={},
        )
        return real(inp)

    monkeypatch.setitem(steps.EXECUTORS, "update_customer", customer_re_enters_meanwhile)
    token, claimed = runs_claim(run_ids=[first])

    runs_walk(run_ids=claimed, token=token)

    replaced = Enrollment.objects.get(pk=first)
    assert (replaced.state, replaced.exit_reason, replaced.lease_token) == (
        "exited", "restarted", None
    )  # fmt: skip
    assert not StepRun.objects.filter(enrollment_id=first).exists()
    assert Enrollment.objects.filter(journey=journey, state="active").count() == 1
