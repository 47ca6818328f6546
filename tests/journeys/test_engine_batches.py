"""The engine walks a claimed batch together: shared writes, per-run leases, isolation.

A worker hands ``runs_walk`` up to 100 runs at once. These tests check what batching
must not change (each message sent once, each run written only under its own lease,
one broken run not holding up the others) and what it is for (statements per batch
that do not grow with the number of runs, beyond one record per message sent).
"""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from delivery import messages
from delivery.models import Message
from journeys.authoring.services import journey_archive
from journeys.engine import steps
from journeys.engine.claims import runs_claim
from journeys.engine.leases import LeaseLost, LeaseWatch
from journeys.engine.runner import runs_walk
from journeys.entry.core import journey_enroll
from journeys.models import Enrollment, StepRun
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
    claim = runs_claim(run_ids=run_ids)
    claimed = claim.run_ids
    assert sorted(claimed) == sorted(run_ids)
    # The clock stands still, so the batch confirms its leases once however slow the
    # machine is (see LeaseWatch.FRESHNESS).
    with (
        time_machine.travel(timezone.now(), tick=False),
        CaptureQueriesContext(connection) as queries,
    ):
        runs_walk(claim)
    return len(queries.captured_queries)


def test_a_batch_of_sends_delivers_each_message_once(workspace, smtp_server):
    journey = journey_create(workspace, steps=SEND)
    run_ids = enroll_all(workspace, journey, "b", 6)
    claim = runs_claim(run_ids=run_ids)

    runs_walk(claim)

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
    statements_to_walk(enroll_all(workspace, journey, "warm", 1))  # per-process caches
    few = statements_to_walk(enroll_all(workspace, journey, "few", 3))
    many = statements_to_walk(enroll_all(workspace, journey, "many", 15))

    # Twelve more e-mails cost one statement each: the sent record, written the moment
    # the SMTP server accepts the message. The rest of the batch's work is shared.
    assert many - few == 12, (few, many)
    assert len(smtp_server.messages) == 19


def test_runs_whose_lease_moves_on_during_the_walk_are_left_to_their_new_owner(
    workspace, monkeypatch
):
    journey = journey_create(workspace, steps=TAG)
    first, second = enroll_all(workspace, journey, "l", 2)
    other_owner = uuid.uuid4()
    real = steps.EXECUTORS["update_customer"]

    def second_run_reclaimed_meanwhile(inp):
        if inp.run.pk == first:
            Enrollment.objects.filter(pk=second).update(lease_token=other_owner)
        return real(inp)

    monkeypatch.setitem(steps.EXECUTORS, "update_customer", second_run_reclaimed_meanwhile)
    claim = runs_claim(run_ids=[first, second])

    runs_walk(claim)

    assert Enrollment.objects.get(pk=first).state == "completed"
    untouched = Enrollment.objects.get(pk=second)
    assert (untouched.state, untouched.current_step) == ("active", "tag")
    assert untouched.lease_token == other_owner
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
    claim = runs_claim(run_ids=[good, bad])

    runs_walk(claim)

    assert Enrollment.objects.get(pk=good).state == "completed"
    broken = Enrollment.objects.get(pk=bad)
    # Nothing of its walk is written; it gives its lease back and is tried again later
    # (tests/journeys/test_walk_failures.py follows it to the end).
    assert (broken.state, broken.current_step, broken.lease_token) == ("active", "tag", None)
    assert broken.error.startswith("RuntimeError: unexpected (walk 1 of ")
    assert not StepRun.objects.filter(enrollment_id=bad).exists()


def test_a_lease_watch_asks_the_database_and_renews_leases_late_in_a_batch(workspace):
    journey = journey_create(workspace, steps=TAG)
    (run_id,) = enroll_all(workspace, journey, "r", 1)
    claim = runs_claim(run_ids=[run_id])
    token = claim.token
    run = Enrollment.objects.get(pk=run_id)
    watch = LeaseWatch(token, run_ids=lambda: [run_id])

    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert watch.confirm(run, run.lease_expires_at) == run.lease_expires_at  # fresh
        renewed = watch.confirm(run, timezone.now() + timedelta(seconds=5))  # mostly gone
        assert renewed == timezone.now() + timedelta(seconds=60)
        stored = Enrollment.objects.get(pk=run_id)
        assert stored.lease_expires_at == stored.wake_at == renewed  # still out of the due set

        Enrollment.objects.filter(pk=run_id).update(lease_token=uuid.uuid4())  # claimed again
        watch.confirm(run, renewed)  # trusted for a fraction of a second...
        clock.shift(LeaseWatch.FRESHNESS * 2)
        with pytest.raises(LeaseLost):
            watch.confirm(run, renewed)  # ...then asked again


def test_no_message_leaves_for_a_run_whose_journey_is_archived_mid_batch(
    workspace, smtp_server, monkeypatch
):
    journey = journey_create(workspace, steps=SEND)
    first, second = enroll_all(workspace, journey, "arch", 2)
    real = steps.EXECUTORS["send"]

    def archive_after_the_first_send(inp):
        result = real(inp)
        if inp.run.pk == first:
            journey_archive(journey=journey)
            clock.shift(LeaseWatch.FRESHNESS * 2)  # the next send asks the database
        return result

    monkeypatch.setitem(steps.EXECUTORS, "send", archive_after_the_first_send)
    claim = runs_claim(run_ids=[first, second])

    with time_machine.travel(timezone.now(), tick=True) as clock:
        runs_walk(claim)

    assert [mail["To"] for mail in smtp_server.messages] == ["arch0@example.com"]
    archived = Enrollment.objects.get(pk=second)
    assert (archived.state, archived.exit_reason) == ("exited", "journey archived")
    assert Message.objects.get(customer__external_id="arch_1").status == "pending"


def test_each_sent_record_is_written_before_the_next_message_leaves(
    workspace, smtp_server, monkeypatch
):
    journey = journey_create(workspace, steps=SEND)
    enroll_all(workspace, journey, "rec", 3)
    real_send = messages.email_send
    seen = []

    def send_checking_earlier_records(**kwargs):
        seen.append(list(Message.objects.values_list("status", flat=True).order_by("pk")))
        return real_send(**kwargs)

    monkeypatch.setattr(messages, "email_send", send_checking_earlier_records)
    claim = runs_claim(run_ids=list(Enrollment.objects.values_list("pk", flat=True)))

    runs_walk(claim)

    assert seen == [
        ["pending", "pending", "pending"],
        ["sent", "pending", "pending"],
        ["sent", "sent", "pending"],
    ]


def test_a_webhooks_outcome_is_written_before_the_next_run_acts(
    workspace, http_server, monkeypatch
):
    http_server.routes["/hook"] = (200, {"ok": True})
    journey = journey_create(
        workspace,
        steps=[{"key": "call", "type": "webhook", "method": "POST",
                "url": http_server.base_url + "/hook", "headers": {}, "body": None,
                "next": None}],
    )  # fmt: skip
    first, second = enroll_all(workspace, journey, "wh", 2)
    real = steps.EXECUTORS["webhook"]
    seen = []

    def webhook_checking_the_first(inp):
        if inp.run.pk == second:
            seen.append(Enrollment.objects.get(pk=first).current_step)
            seen.append(StepRun.objects.get(enrollment_id=first).outcome)
        return real(inp)

    monkeypatch.setitem(steps.EXECUTORS, "webhook", webhook_checking_the_first)
    claim = runs_claim(run_ids=[first, second])

    runs_walk(claim)

    # The first run has moved past its webhook in the database: a crash now would not
    # call it again.
    assert seen == ["", "200"]
    assert set(Enrollment.objects.values_list("state", flat=True)) == {"completed"}


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
    claim = runs_claim(run_ids=[first])

    runs_walk(claim)

    replaced = Enrollment.objects.get(pk=first)
    assert (replaced.state, replaced.exit_reason, replaced.lease_token) == (
        "exited", "restarted", None
    )  # fmt: skip
    assert not StepRun.objects.filter(enrollment_id=first).exists()
    assert Enrollment.objects.filter(journey=journey, state="active").count() == 1


def test_a_run_written_mid_walk_stays_out_of_the_due_set(workspace, smtp_server, monkeypatch):
    """Its step changed before a send: the run is written with the send's visit, and its
    wake_at moves with the renewed lease, so no other claim takes it meanwhile."""
    journey = journey_create(
        workspace, steps=[{**TAG[0], "next": "hello"}, {**SEND[0], "key": "hello"}]
    )
    (run_id,) = enroll_all(workspace, journey, "m", 1)
    seen_while_sending = []
    real_send = messages.email_send

    def send_looking_at_the_run(*args, **kwargs):
        seen_while_sending.append(
            Enrollment.objects.values_list("current_step", "wake_at", "lease_expires_at").get(
                pk=run_id
            )
        )
        return real_send(*args, **kwargs)

    monkeypatch.setattr(messages, "email_send", send_looking_at_the_run)

    runs_walk(runs_claim(run_ids=[run_id]))

    ((step, wake_at, lease_expires_at),) = seen_while_sending
    assert step == "hello"
    assert wake_at == lease_expires_at > timezone.now()
    assert Enrollment.objects.get(pk=run_id).state == "completed"


def test_a_batch_written_again_run_by_run_inserts_its_visits_and_decides_its_sends_anew(
    workspace, smtp_server, monkeypatch
):
    """A batch whose commit fails after its inserts is written again run by run. Each
    run's visit and Message are then inserted again (the failed insert had given them
    ids), and the send gate decides again: a send capped only because of a run whose
    writes never commit goes out."""
    from delivery.models import FrequencyCap
    from journeys.engine import runner

    FrequencyCap.objects.create(workspace=workspace, channel="email", limit=1, period_seconds=60)
    (customer,) = customers_create(workspace, 1, prefix="capped")
    first, second = (journey_create(workspace, steps=SEND) for _ in range(2))
    for journey in (first, second):
        journey_enroll(
            journey=journey, version=journey.live_version,
            customers=Customer.objects.filter(pk=customer.pk), payload={"code": "A"},
        )  # fmt: skip
    doomed = Enrollment.objects.get(journey=first)
    kept = Enrollment.objects.get(journey=second)
    real = runner._events_record

    def fails_with_the_doomed_run(writes):
        real(writes)
        if any(walker.run.pk == doomed.pk for walker in writes):
            raise RuntimeError("the doomed run's writes cannot be stored")

    monkeypatch.setattr(runner, "_events_record", fails_with_the_doomed_run)

    runs_walk(runs_claim(run_ids=[doomed.pk, kept.pk]))

    kept.refresh_from_db()
    assert kept.state == Enrollment.State.COMPLETED
    assert StepRun.objects.get(enrollment=kept).outcome == "sent"
    assert Message.objects.get(step_key="hello", run_public_id=kept.public_id).status == "sent"
    assert not StepRun.objects.filter(enrollment=doomed).exists()
    assert len(smtp_server.messages) == 1
