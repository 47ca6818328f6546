"""Quiet hours: a send due outside its send window waits for it, durably, or is skipped.

The engine is driven in-process (claim, walk) under a frozen clock. The window is read
in the customer's zone, else the workspace's; the message is composed when the window
opens and goes through the batch's one insert path, once.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from delivery.models import Message, Suppression
from journeys.engine import steps
from journeys.engine.claims import runs_claim, runs_claim_due
from journeys.engine.runner import runs_walk
from journeys.engine.steps import send as send_module
from journeys.entry.core import journey_enroll
from journeys.models import Enrollment, StepRun
from tests.factories import customers_create, journey_create

pytestmark = pytest.mark.django_db

#: Wednesday 2024-06-05 22:00 UTC: midnight in Berlin (UTC+2), 18:00 in New York.
WEDNESDAY_NIGHT = datetime(2024, 6, 5, 22, 0, tzinfo=UTC)
#: Thursday 09:00 in Berlin.
BERLIN_THURSDAY_9 = datetime(2024, 6, 6, 7, 0, tzinfo=UTC)
OFFICE_HOURS = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}

HELLO = {"key": "hello", "type": "send", "channel": "email", "subject": "Hi",
         "body": "Hello {{ customer.first_name }}", "next": None}  # fmt: skip
TAG = {"key": "tag", "type": "update_customer", "set": {"tagged": True}, "next": None}


@pytest.fixture
def clock():
    with time_machine.travel(WEDNESDAY_NIGHT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def berliner(ada):
    ada.timezone = "Europe/Berlin"
    ada.save(update_fields=["timezone"])
    return ada


def enroll(client, api_base, journey, external_id="user_ada"):
    response = client.post(
        f"{api_base}/journeys/{journey.public_id}/trigger",
        {"external_id": external_id, "payload": {}},
        format="json",
    )
    assert response.status_code == 202, response.json()
    return Enrollment.objects.get(public_id=response.json()["run_id"])


def advance(run, *, claimed_at=None):
    """What a worker does with a run: lease it (its clock may differ), walk it."""
    runs_walk(runs_claim(run_ids=[run.pk], now=claimed_at))
    run.refresh_from_db()
    return run


def walk_due():
    """What the sweep does: claim the due runs, walk them."""
    runs_walk(runs_claim_due(limit=100))


def timeline(run):
    return [
        (visit.step_key, visit.visit, visit.outcome, visit.finished_at is not None)
        for visit in StepRun.objects.filter(enrollment=run).order_by("started_at", "id")
    ]


def test_a_send_outside_its_window_waits_then_sends_once_when_it_opens(
    client, api_base, workspace, berliner, smtp_server, clock, monkeypatch
):
    # Every Message is inserted by the batch's write, with its visit (never on its own).
    monkeypatch.setattr(send_module, "message_prepare", None)
    journey = journey_create(workspace, steps=[HELLO], send_window=OFFICE_HOURS)

    run = advance(enroll(client, api_base, journey))

    # Nothing composed, nothing sent: the run waits in the database for Thursday 09:00
    # in Berlin, its visit open on the timeline.
    assert not Message.objects.exists()
    assert smtp_server.messages == []
    assert (run.state, run.current_step, run.lease_token) == ("active", "hello", None)
    assert run.wake_at == BERLIN_THURSDAY_9
    assert timeline(run) == [("hello", 1, "waiting_for_window", False)]
    body = client.get(f"{api_base}/runs/{run.public_id}").json()
    assert [(s["step"], s["outcome"], s["finished_at"]) for s in body["timeline"]] == [
        ("hello", "waiting_for_window", None)
    ]
    assert not runs_claim_due(limit=10)

    # The message says what is true when it leaves, not when the run was triggered.
    Customer.objects.filter(pk=berliner.pk).update(attributes={"first_name": "Augusta"})
    clock.move_to(BERLIN_THURSDAY_9)
    walk_due()
    walk_due()  # nothing is left to do

    run.refresh_from_db()
    assert run.state == "completed"
    assert [mail["To"] for mail in smtp_server.messages] == ["ada@example.com"]
    message = Message.objects.get()
    assert (message.status, message.attempts, message.body) == ("sent", 1, "Hello Augusta")
    assert message.idempotency_key == f"{run.public_id}:hello:1"
    assert timeline(run) == [("hello", 1, "sent", True)]
    assert StepRun.objects.get(enrollment=run).message_id == message.pk


def test_an_address_suppressed_while_the_run_waits_gets_nothing_when_the_window_opens(
    client, api_base, workspace, berliner, smtp_server, clock
):
    journey = journey_create(
        workspace, steps=[HELLO | {"next": "tag"}, TAG], send_window=OFFICE_HOURS
    )
    run = advance(enroll(client, api_base, journey))
    Suppression.objects.create(workspace=workspace, address="ada@example.com", reason="complaint")

    clock.move_to(BERLIN_THURSDAY_9)
    run = advance(run)

    # The send gate decides when the message is written, in the batch's commit.
    assert smtp_server.messages == []
    assert run.state == "completed"
    assert Message.objects.get().status == "suppressed"
    assert timeline(run) == [("hello", 1, "suppressed", True), ("tag", 1, "updated", True)]


def test_a_run_woken_a_little_before_its_window_waits_again(
    client, api_base, workspace, berliner, smtp_server, clock
):
    journey = journey_create(workspace, steps=[HELLO], send_window=OFFICE_HOURS)
    run = advance(enroll(client, api_base, journey))

    # The claiming side's clock is ahead: the run is claimed, but the walker's clock
    # still stands half a minute before the window opens.
    clock.move_to(BERLIN_THURSDAY_9 - timedelta(seconds=30))
    run = advance(run, claimed_at=BERLIN_THURSDAY_9 + timedelta(seconds=1))

    assert not Message.objects.exists()
    assert (run.state, run.wake_at, run.lease_token) == ("active", BERLIN_THURSDAY_9, None)
    assert timeline(run) == [("hello", 1, "waiting_for_window", False)]

    clock.move_to(BERLIN_THURSDAY_9)
    run = advance(run)
    assert run.state == "completed"
    assert len(smtp_server.messages) == 1
    assert timeline(run) == [("hello", 1, "sent", True)]


def test_a_send_outside_a_skip_window_is_skipped_and_the_run_goes_on(
    client, api_base, workspace, berliner, smtp_server, clock
):
    journey = journey_create(
        workspace,
        steps=[HELLO | {"next": "tag"}, TAG],
        send_window=OFFICE_HOURS | {"outside": "skip"},
    )

    run = advance(enroll(client, api_base, journey))

    assert run.state == "completed"
    assert not Message.objects.exists()
    assert smtp_server.messages == []
    assert timeline(run) == [("hello", 1, "skipped_send_window", True), ("tag", 1, "updated", True)]
    berliner.refresh_from_db()
    assert berliner.attributes["tagged"] is True


def test_a_send_inside_its_window_goes_at_once(
    client, api_base, workspace, berliner, smtp_server, clock
):
    journey = journey_create(
        workspace, steps=[HELLO], send_window={"start": "00:00", "end": "01:00"}
    )

    run = advance(enroll(client, api_base, journey))

    assert run.state == "completed"
    assert len(smtp_server.messages) == 1
    assert timeline(run) == [("hello", 1, "sent", True)]


def test_a_steps_own_window_replaces_the_journeys(
    client, api_base, workspace, berliner, smtp_server, clock
):
    # Midnight in Berlin: outside the journey's office hours, inside the first step's
    # own night window. The second step has none of its own: the journey's applies.
    night = {"start": "23:00", "end": "24:00", "outside": "skip"}
    at_night = HELLO | {"key": "night", "subject": "Night", "send_window": night, "next": "day"}
    journey = journey_create(
        workspace,
        steps=[
            at_night | {"send_window": {"start": "00:00", "end": "02:00"}},
            HELLO | {"key": "day"},
        ],
        send_window=OFFICE_HOURS,
    )

    run = advance(enroll(client, api_base, journey))

    assert [mail["Subject"] for mail in smtp_server.messages] == ["Night"]
    assert timeline(run) == [("night", 1, "sent", True), ("day", 1, "waiting_for_window", False)]
    assert (run.current_step, run.wake_at) == ("day", BERLIN_THURSDAY_9)


def test_a_window_on_the_journey_does_not_hold_back_a_send_to_a_webhook(
    client, api_base, workspace, berliner, http_server, clock
):
    http_server.routes["/hook"] = (200, {})
    to_webhook = {"key": "hook", "type": "send", "channel": "webhook",
                  "url": http_server.base_url + "/hook", "body": "{}", "next": None}  # fmt: skip
    journey = journey_create(workspace, steps=[to_webhook], send_window=OFFICE_HOURS)

    run = advance(enroll(client, api_base, journey))

    assert run.state == "completed"
    assert timeline(run) == [("hook", 1, "sent", True)]
    assert len(http_server.requests) == 1


@pytest.mark.parametrize("customer_zone", ["", "Not/A_Zone"])
def test_without_a_valid_customer_zone_the_workspaces_zone_decides(
    client, api_base, workspace, ada, smtp_server, clock, customer_zone
):
    workspace.timezone = "America/New_York"
    workspace.save(update_fields=["timezone"])
    ada.timezone = customer_zone
    ada.save(update_fields=["timezone"])
    journey = journey_create(workspace, steps=[HELLO], send_window=OFFICE_HOURS)

    run = advance(enroll(client, api_base, journey))

    # Wednesday 18:00 in New York: it opens on Thursday at 09:00 there (13:00 UTC).
    assert run.wake_at == datetime(2024, 6, 6, 13, 0, tzinfo=UTC)
    assert timeline(run) == [("hello", 1, "waiting_for_window", False)]


def test_without_any_valid_zone_utc_decides(client, api_base, workspace, ada, clock):
    workspace.timezone = "Nowhere/Special"
    workspace.save(update_fields=["timezone"])
    journey = journey_create(workspace, steps=[HELLO], send_window=OFFICE_HOURS)

    run = advance(enroll(client, api_base, journey))

    assert run.wake_at == datetime(2024, 6, 6, 9, 0, tzinfo=UTC)


def test_a_worker_dying_in_the_send_after_the_window_opened_does_not_send_twice(
    client, api_base, workspace, berliner, smtp_server, clock, monkeypatch
):
    journey = journey_create(workspace, steps=[HELLO], send_window=OFFICE_HOURS)
    run = advance(enroll(client, api_base, journey))
    real = steps.EXECUTORS["send"]

    def dies_once(inp):
        monkeypatch.setitem(steps.EXECUTORS, "send", real)
        raise RuntimeError("worker died")

    monkeypatch.setitem(steps.EXECUTORS, "send", dies_once)
    clock.move_to(BERLIN_THURSDAY_9)
    run = advance(run)

    # The Message was committed with the visit before the send; nothing left.
    assert run.state == "active"
    message = Message.objects.get()
    assert (message.status, message.attempts) == ("pending", 1)
    assert StepRun.objects.get(enrollment=run).message_id == message.pk
    assert smtp_server.messages == []

    clock.move_to(run.wake_at)
    run = advance(run)
    assert run.state == "completed"
    assert len(smtp_server.messages) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)
    assert Message.objects.count() == 1
    assert timeline(run) == [("hello", 1, "sent", True)]

    # Walked again as if the worker had died after the send, before recording it.
    StepRun.objects.filter(enrollment=run).update(finished_at=None, outcome="")
    Enrollment.objects.filter(pk=run.pk).update(
        state="active", current_step="hello", wake_at=timezone.now()
    )
    run = advance(run)
    assert run.state == "completed"
    assert len(smtp_server.messages) == 1
    assert Message.objects.count() == 1
    assert timeline(run) == [("hello", 1, "sent", True)]


# --- batches ---------------------------------------------------------------------------


def enroll_all(workspace, journey, prefix, count):
    customers_create(workspace, count, prefix=prefix)
    journey_enroll(
        journey=journey,
        version=journey.live_version,
        customers=Customer.objects.filter(workspace=workspace, external_id__startswith=prefix),
        payload={},
    )
    return list(
        Enrollment.objects.filter(
            journey=journey, customer__external_id__startswith=prefix
        ).values_list("pk", flat=True)
    )


def statements_to_walk(run_ids):
    claim = runs_claim(run_ids=run_ids)
    assert sorted(claim.run_ids) == sorted(run_ids)
    with CaptureQueriesContext(connection) as queries:
        runs_walk(claim)
    return len(queries.captured_queries)


def test_runs_waiting_for_the_same_window_wait_and_send_as_one_batch(workspace, smtp_server, clock):
    # Customers without a zone of their own: the workspace's decides, read with the batch.
    workspace.timezone = "Europe/Berlin"
    workspace.save(update_fields=["timezone"])
    journey = journey_create(workspace, steps=[HELLO | {"body": "Hi"}], send_window=OFFICE_HOURS)
    warm, few, many = (
        enroll_all(workspace, journey, p, n) for p, n in [("w", 1), ("f", 3), ("m", 15)]
    )

    waiting = [statements_to_walk(run_ids) for run_ids in (warm, few, many)]

    assert waiting[1] == waiting[2], waiting  # no statement per run
    assert not Message.objects.exists()
    assert set(Enrollment.objects.values_list("wake_at", flat=True)) == {BERLIN_THURSDAY_9}

    clock.move_to(BERLIN_THURSDAY_9)
    sending = [statements_to_walk(run_ids) for run_ids in (warm, few, many)]

    # Twelve more e-mails cost one statement each (the sent record), as any batch of
    # sends does (tests/journeys/test_engine_batches.py); the rest is shared.
    assert sending[2] - sending[1] == 12, sending
    assert len(smtp_server.messages) == 19
    assert Message.objects.filter(status="sent", attempts=1).count() == 19
    assert set(Enrollment.objects.values_list("state", flat=True)) == {"completed"}
    assert set(StepRun.objects.values_list("outcome", flat=True)) == {"sent"}
