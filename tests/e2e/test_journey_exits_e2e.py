"""An exit in the middle of a 30-day delay, end to end on PostgreSQL and Redis with a
real Celery worker and beat and an SMTP sink: the first e-mail goes out, the exit event
posted through the events API ends the run within seconds, and the second e-mail never
goes, not even once the delay is made due (another customer's run, due the same way,
gets its second e-mail: the sweep would have sent it)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from journeys.models import Enrollment, StepRun
from tests.e2e.conftest import wait_until
from tests.factories import journey_create

MONTH = 30 * 86400
STEPS = [
    {"key": "hello", "type": "send", "channel": "email",
     "subject": "Hello {{ customer.first_name }}", "body": "Welcome", "next": "wait"},
    {"key": "wait", "type": "delay", "seconds": MONTH, "next": "again"},
    {"key": "again", "type": "send", "channel": "email",
     "subject": "Again {{ customer.first_name }}", "body": "Still there?", "next": None},
]  # fmt: skip
EXIT = {"events": [{"event": "Order Completed", "condition": None}], "segment_id": None}


def subjects(smtp_server, to):
    return [mail["Subject"] for mail in smtp_server.messages if mail["To"] == to]


@pytest.mark.django_db(transaction=True)
def test_an_exit_event_ends_a_run_in_the_middle_of_a_30_day_delay(
    processes, client, api_base, workspace, ada, grace, smtp_server
):
    group = processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    group.worker()
    group.beat()
    journey = journey_create(workspace, steps=STEPS, exit=EXIT)
    trigger = f"{api_base}/journeys/{journey.public_id}/trigger"
    for user in ("user_ada", "user_grace"):
        response = client.post(trigger, {"external_id": user}, format="json")
        assert response.status_code == 202, response.content

    assert wait_until(
        lambda: Enrollment.objects.filter(journey=journey, current_step="wait").count() == 2,
        timeout=30,
    ), group.log("worker")
    assert subjects(smtp_server, "ada@example.com") == ["Hello Ada"]
    ada_run = Enrollment.objects.get(journey=journey, customer=ada)
    assert ada_run.wake_at > timezone.now() + timedelta(days=29)

    response = client.post(
        f"{api_base}/events/track",
        {"userId": "user_ada", "event": "Order Completed", "properties": {"order_id": "O-1"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    posted = time.monotonic()
    assert wait_until(
        lambda: Enrollment.objects.get(pk=ada_run.pk).state == "exited", timeout=10
    ), group.log("worker")
    assert time.monotonic() - posted < 5
    ada_run.refresh_from_db()
    assert (ada_run.exit_reason, ada_run.wake_at) == ("exit_criteria", None)
    assert StepRun.objects.get(enrollment=ada_run, step_key="wait").outcome == "exited"

    # Both delays made due now: beat's sweep walks Grace's run to its second e-mail;
    # Ada's run has ended and sends nothing.
    Enrollment.objects.filter(journey=journey).update(wake_at=timezone.now())
    assert wait_until(
        lambda: subjects(smtp_server, "grace@example.com") == ["Hello Grace", "Again Grace"],
        timeout=30,
    ), group.log("worker")
    time.sleep(3)  # a few more sweeps
    assert subjects(smtp_server, "ada@example.com") == ["Hello Ada"]
    ada_run.refresh_from_db()
    assert ada_run.state == "exited"
    assert not StepRun.objects.filter(enrollment=ada_run, step_key="again").exists()
