"""A run cancelled while a worker walks it sends nothing more, and stays cancelled.

The worker holds the run's lease; a cancel takes it (as archiving a journey does), so
the walker's next commit drops its work, and its next send, confirmed against the
database before it leaves, does not go (see ``journeys.engine.exits``).
"""

import logging

import pytest

from customers.models import Customer
from delivery.models import Message
from journeys.engine import steps
from journeys.engine.claims import runs_claim
from journeys.engine.exits import run_cancel
from journeys.engine.runner import runs_walk
from journeys.entry.core import journey_enroll
from journeys.models import Enrollment, StepRun
from tests.factories import customers_create, journey_create

pytestmark = pytest.mark.django_db

TWO_SENDS = [
    {"key": "hello", "type": "send", "channel": "email", "subject": "Hello", "body": "1",
     "next": "again"},
    {"key": "again", "type": "send", "channel": "email", "subject": "Again", "body": "2",
     "next": None},
]  # fmt: skip
ONE_SEND = [TWO_SENDS[0] | {"next": None}]


def enroll(workspace, journey, prefix, count):
    customers_create(workspace, count, prefix=prefix)
    journey_enroll(
        journey=journey,
        version=journey.live_version,
        customers=Customer.objects.filter(workspace=workspace),
        payload={},
    )
    return list(Enrollment.objects.order_by("pk").values_list("pk", flat=True))


def cancel_during(monkeypatch, when, cancel):
    """Run ``cancel()`` right after a send step for which ``when(inp)`` holds has sent."""
    real = steps.EXECUTORS["send"]

    def send_then_cancel(inp):
        result = real(inp)
        if when(inp):
            cancel()
        return result

    monkeypatch.setitem(steps.EXECUTORS, "send", send_then_cancel)


def test_a_run_cancelled_after_its_first_send_sends_nothing_more(
    workspace, smtp_server, monkeypatch, caplog
):
    journey = journey_create(workspace, steps=TWO_SENDS)
    (run_id,) = enroll(workspace, journey, "one", 1)
    run = Enrollment.objects.get(pk=run_id)
    cancel_during(
        monkeypatch,
        lambda inp: inp.step["key"] == "hello",
        lambda: run_cancel(workspace=workspace, run_id=run.public_id),
    )

    with caplog.at_level(logging.INFO, logger="journeys.engine.runner"):
        runs_walk(runs_claim(run_ids=[run_id]))

    assert [mail["Subject"] for mail in smtp_server.messages] == ["Hello"]
    # The worker says why it dropped the walk: not a lease another worker took.
    assert [r.getMessage() for r in caplog.records if r.name == "journeys.engine.runner"] == [
        f"{run} ended meanwhile, exited (cancelled): its walk is dropped"
    ]
    run.refresh_from_db()
    assert (run.state, run.exit_reason, run.lease_token) == ("exited", "cancelled", None)
    # The walker's record of the first send was dropped with its lease: the visit shows
    # the cancel, its message was sent all the same.
    (visit,) = StepRun.objects.filter(enrollment=run)
    assert (visit.step_key, visit.outcome) == ("hello", "cancelled")
    assert visit.message.status == "sent"
    assert not StepRun.objects.filter(step_key="again").exists()


def test_a_run_cancelled_while_its_batch_sends_does_not_send(workspace, smtp_server, monkeypatch):
    # Both runs' visits are committed together before either sends; the second run is
    # cancelled while the first one's message leaves. Its send is confirmed against the
    # database first: the cancel waited out the freshness of the worker's last answer.
    journey = journey_create(workspace, steps=ONE_SEND)
    first, second = enroll(workspace, journey, "two", 2)
    second_run = Enrollment.objects.get(pk=second)
    cancel_during(
        monkeypatch,
        lambda inp: inp.run.pk == first,
        lambda: run_cancel(workspace=workspace, run_id=second_run.public_id),
    )

    runs_walk(runs_claim(run_ids=[first, second]))

    assert [mail["To"] for mail in smtp_server.messages] == ["two0@example.com"]
    second_run.refresh_from_db()
    assert (second_run.state, second_run.exit_reason) == ("exited", "cancelled")
    assert Enrollment.objects.get(pk=first).state == "completed"
    unsent = Message.objects.get(customer__external_id="two_1")
    assert unsent.status == "pending"
    visit = StepRun.objects.get(enrollment_id=second)
    assert (visit.outcome, visit.finished_at) == ("cancelled", second_run.finished_at)
