"""The engine walks runs through every step type, on PostgreSQL, with real SMTP and HTTP.

Tests drive the engine's services directly (claim, walk); the real-worker path is in
tests/e2e. Time moves with time_machine, never with sleeps.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from customers.models import Customer
from delivery.models import Message
from journeys.authoring.services import journey_archive, journey_pause, journey_publish
from journeys.engine.claims import runs_claim, runs_claim_due
from journeys.engine.runner import runs_walk
from journeys.models import Enrollment, Journey, StepRun
from tests.factories import journey_create
from tests.walking import advance, enroll

pytestmark = pytest.mark.django_db


def walk_again_after_a_crash_in(run, step_key):
    """The run's worker died in ``step_key`` after its visit was committed: the visit is
    still open and the run still on that step when the next worker walks it."""
    StepRun.objects.filter(enrollment=run, step_key=step_key).update(finished_at=None, outcome="")
    Enrollment.objects.filter(pk=run.pk).update(
        state="active", current_step=step_key, wake_at=timezone.now()
    )
    return advance(run)


HELLO_EMAIL = [{"key": "hello", "type": "send", "channel": "email", "subject": "Hi",
                "body": "x", "next": None}]  # fmt: skip


def timeline(run):
    return [
        (s.step_key, s.visit, s.outcome)
        for s in StepRun.objects.filter(enrollment=run).order_by("started_at", "id")
    ]


def test_branch_split_update_and_exit_walk_in_one_go(client, api_base, workspace, ada):
    journey = journey_create(
        workspace,
        steps=[
            {"key": "vip", "type": "branch",
             "condition": {"field": "customer.plan", "op": "eq", "value": "vip"},
             "yes": "tag", "no": None},
            {"key": "tag", "type": "update_customer",
             "set": {"tier": "gold", "source": "{{ data.source }}"}, "next": "ab"},
            {"key": "ab", "type": "split",
             "paths": [{"percentage": 50, "next": "bye"}, {"percentage": 50, "next": "bye"}]},
            {"key": "bye", "type": "exit"},
        ],
    )  # fmt: skip
    run = advance(enroll(client, api_base, journey, payload={"source": "ads"}))

    assert run.state == Enrollment.State.EXITED
    assert run.exit_reason == "exit step"
    assert [(key, outcome) for key, _, outcome in timeline(run)][:2] == [
        ("vip", "yes"),
        ("tag", "updated"),
    ]
    assert timeline(run)[3] == ("bye", 1, "exited")
    ada.refresh_from_db()
    assert ada.attributes["tier"] == "gold" and ada.attributes["source"] == "ads"
    assert run.lease_token is None


def test_split_takes_the_same_path_for_the_same_run_and_visit(client, api_base, workspace):
    from journeys.engine.steps import StepInput, split_step

    paths = [{"percentage": 30, "next": "a"}, {"percentage": 70, "next": "b"}]
    step = {"key": "ab", "type": "split", "paths": paths}
    runs = [Enrollment(public_id=f"run_{i:032x}") for i in range(400)]
    now = timezone.now()

    def path(run):
        return split_step(StepInput(run, step, 1, False, now, now, {})).next_step

    first = [path(run) for run in runs]
    assert first == [path(run) for run in runs]
    assert 80 < first.count("a") < 160  # about 30% of 400


def test_delay_waits_in_the_database_and_continues_when_due(client, api_base, workspace, ada):
    journey = journey_create(
        workspace,
        steps=[
            {"key": "wait", "type": "delay", "seconds": 3 * 86400, "next": "tag"},
            {"key": "tag", "type": "update_customer", "set": {"waited": True}, "next": None},
        ],
    )
    run = advance(enroll(client, api_base, journey))

    assert (run.state, run.current_step) == ("active", "wait")
    assert run.wake_at > timezone.now() + timedelta(days=2, hours=23)
    assert run.lease_token is None
    assert runs_claim_due(limit=10).run_ids == []

    with time_machine.travel(run.wake_at + timedelta(seconds=1)):
        claim = runs_claim_due(limit=10)
        assert claim.run_ids == [run.pk]
        runs_walk(claim)

    run.refresh_from_db()
    assert run.state == Enrollment.State.COMPLETED
    assert timeline(run) == [("wait", 1, "waited"), ("tag", 1, "updated")]


def test_delay_until_a_rendered_time_in_the_customers_timezone(client, api_base, workspace, ada):
    Customer.objects.filter(pk=ada.pk).update(timezone="America/New_York")
    journey = journey_create(
        workspace,
        steps=[{"key": "wait", "type": "delay", "until": "{{ data.starts_at }}",
                "offset_seconds": -3600, "next": None}],
    )  # fmt: skip
    run = advance(enroll(client, api_base, journey, payload={"starts_at": "2099-01-01T09:00:00"}))

    # 09:00 in New York (UTC-5 in winter) is 14:00 UTC; an hour earlier is 13:00 UTC.
    assert run.wake_at.isoformat() == "2099-01-01T13:00:00+00:00"


def test_email_is_sent_once_even_when_the_step_is_walked_again(
    client, api_base, workspace, ada, smtp_server
):
    journey = journey_create(
        workspace,
        steps=[{"key": "hello", "type": "send", "channel": "email",
                "subject": "Hi {{ customer.first_name }}", "body": "Order {{ data.order }}",
                "next": None}],
    )  # fmt: skip
    run = advance(enroll(client, api_base, journey, payload={"order": "A-1"}))

    assert run.state == Enrollment.State.COMPLETED
    (mail,) = smtp_server.messages
    assert mail["Subject"] == "Hi Ada" and mail["To"] == "ada@example.com"
    assert "Order A-1" in mail.get_payload()
    message = Message.objects.get()
    assert message.status == Message.Status.SENT
    assert StepRun.objects.get().message == message

    # A crash after sending but before the run moved on: the visit is walked again.
    run = walk_again_after_a_crash_in(run, "hello")

    assert run.state == Enrollment.State.COMPLETED  # walked again, this time to the end
    assert len(smtp_server.messages) == 1
    assert Message.objects.count() == 1


def test_a_message_whose_worker_keeps_dying_is_given_up_not_sent_forever(
    client, api_base, workspace, ada, smtp_server
):
    journey = journey_create(workspace, steps=HELLO_EMAIL)
    run = advance(enroll(client, api_base, journey))
    assert Message.objects.get().attempts == 1  # counted when the row was written

    # Its worker died mid-send three more times: each re-run counted its attempt first.
    Message.objects.update(status="pending", attempts=4)
    run = walk_again_after_a_crash_in(run, "hello")

    assert run.state == Enrollment.State.FAILED
    assert run.error == "hello: gave up after 4 attempts"
    assert Message.objects.get().status == Message.Status.FAILED
    assert len(smtp_server.messages) == 1


def test_missing_variable_fails_the_run_naming_it_and_sends_nothing(
    client, api_base, workspace, ada, smtp_server
):
    journey = journey_create(
        workspace,
        steps=[{"key": "hello", "type": "send", "channel": "email", "subject": "Hi",
                "body": "Your code: {{ data.coupon }}", "next": None}],
    )  # fmt: skip
    run = advance(enroll(client, api_base, journey))

    assert run.state == Enrollment.State.FAILED
    assert "data.coupon is undefined" in run.error
    assert run.error.startswith("hello:")
    assert smtp_server.messages == []
    assert not Message.objects.exists()


def test_smtp_failures_are_retried_later_then_fail_visibly(
    client, api_base, workspace, ada, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    journey = journey_create(
        workspace,
        steps=[{"key": "hello", "type": "send", "channel": "email", "subject": "Hi",
                "body": "x", "next": None}],
    )  # fmt: skip
    run = advance(enroll(client, api_base, journey))

    assert (run.state, run.current_step) == ("active", "hello")
    assert run.wake_at > timezone.now()
    for _ in range(5):
        with time_machine.travel(run.wake_at + timedelta(seconds=1)):
            claim = runs_claim_due(limit=10)
            for run_id in claim.run_ids:
                runs_walk(claim.only([run_id]))
        run.refresh_from_db()
        if run.state != "active":
            break

    assert run.state == Enrollment.State.FAILED
    assert "SMTP connection failed" in run.error
    message = Message.objects.get()
    assert (message.status, message.attempts) == (Message.Status.FAILED, 4)
    assert timeline(run) == [("hello", 1, "failed")]


def test_webhook_response_feeds_a_later_email(
    client, api_base, workspace, ada, smtp_server, http_server
):
    http_server.routes["/coupons"] = (200, {"code": "SAVE10", "percent": 10})
    journey = journey_create(
        workspace,
        steps=[
            {"key": "lookup", "type": "webhook", "method": "POST",
             "url": http_server.base_url + "/coupons",
             "headers": {"X-Customer": "{{ customer.external_id }}"},
             "body": {"order": "{{ data.order }}"}, "next": "mail"},
            {"key": "mail", "type": "send", "channel": "email", "subject": "A gift",
             "body": "Use {{ steps.lookup.code }} for {{ steps.lookup.percent }}% off",
             "next": None},
        ],
    )  # fmt: skip
    run = advance(enroll(client, api_base, journey, payload={"order": "A-7"}))

    assert run.state == Enrollment.State.COMPLETED, run.error
    (request,) = http_server.requests
    assert request["headers"]["X-Customer"] == "user_ada"
    assert request["body"] == b'{"order": "A-7"}'
    assert request["headers"]["Idempotency-Key"] == f"{run.public_id}:lookup:1"
    assert "Use SAVE10 for 10% off" in smtp_server.messages[0].get_payload()
    assert run.context["steps"]["lookup"] == {"code": "SAVE10", "percent": 10}


def test_webhook_to_a_private_address_fails_the_run(client, api_base, workspace, ada):
    journey = journey_create(
        workspace,
        steps=[{"key": "call", "type": "webhook", "method": "GET",
                "url": "http://169.254.169.254/latest/meta-data/", "headers": {}, "body": None,
                "next": None}],
    )  # fmt: skip
    run = advance(enroll(client, api_base, journey))

    assert run.state == Enrollment.State.FAILED
    assert run.error.startswith("call: webhook failed")


def test_repeat_goes_back_the_given_number_of_times(client, api_base, workspace, ada):
    journey = journey_create(
        workspace,
        steps=[
            {"key": "wait", "type": "delay", "seconds": 0, "next": "again"},
            {"key": "again", "type": "repeat", "to": "wait", "times": 2, "next": None},
        ],
    )
    run = advance(enroll(client, api_base, journey))

    assert run.state == Enrollment.State.COMPLETED
    assert [(k, v) for k, v, _ in timeline(run)] == [
        ("wait", 1), ("again", 1), ("wait", 2), ("again", 2), ("wait", 3), ("again", 3)
    ]  # fmt: skip


def test_throttle_lets_the_limit_through_per_period(client, api_base, workspace):
    from tests.factories import customers_create

    customers_create(workspace, 3)
    journey = journey_create(
        workspace,
        steps=[
            {"key": "gate", "type": "throttle", "limit": 2, "period_seconds": 3600,
             "scope": "journey", "next": "ok", "throttled": None},
            {"key": "ok", "type": "update_customer", "set": {"passed": True}, "next": None},
        ],
    )  # fmt: skip
    runs = [advance(enroll(client, api_base, journey, f"user_{i}")) for i in range(3)]

    outcomes = [timeline(run)[0][2] for run in runs]
    assert outcomes == ["passed", "passed", "throttled"]
    assert Customer.objects.filter(attributes__passed=True).count() == 2


def test_paused_journeys_hold_their_runs_and_resume_where_they_were(
    client, api_base, workspace, ada
):
    journey = journey_create(
        workspace,
        steps=[
            {"key": "wait", "type": "delay", "seconds": 60, "next": "tag"},
            {"key": "tag", "type": "update_customer", "set": {"x": 1}, "next": None},
        ],
    )
    run = advance(enroll(client, api_base, journey))
    journey_pause(journey=journey)

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert runs_claim_due(limit=10).run_ids == []
        Journey.objects.filter(pk=journey.pk).update(steps=journey.live_version.definition["steps"])
        journey_publish(journey=journey)
        claim = runs_claim_due(limit=10)
        assert claim.run_ids == [run.pk]
        runs_walk(claim)

    run.refresh_from_db()
    assert run.state == Enrollment.State.COMPLETED


def test_archiving_exits_active_runs(client, api_base, workspace, ada):
    journey = journey_create(
        workspace, steps=[{"key": "wait", "type": "delay", "seconds": 60, "next": None}]
    )
    run = advance(enroll(client, api_base, journey))

    journey_archive(journey=journey)

    run.refresh_from_db()
    assert (run.state, run.exit_reason) == ("exited", "journey archived")


def test_a_stale_lease_cannot_write_and_an_expired_one_is_reclaimed(
    client, api_base, workspace, ada
):
    journey = journey_create(
        workspace, steps=[{"key": "tag", "type": "update_customer", "set": {"x": 1}, "next": None}]
    )
    run = enroll(client, api_base, journey)
    stale = runs_claim(run_ids=[run.pk])

    assert runs_claim_due(limit=10).run_ids == []  # leased: nobody else takes it
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        fresh = runs_claim_due(limit=10)
        assert fresh.run_ids == [run.pk]
        runs_walk(stale)  # the old owner wakes up: no effect
        assert StepRun.objects.count() == 0
        runs_walk(fresh)

    run.refresh_from_db()
    assert run.state == Enrollment.State.COMPLETED
    assert StepRun.objects.count() == 1


def test_run_detail_shows_the_timeline_with_messages(client, api_base, workspace, ada, smtp_server):
    journey = journey_create(
        workspace,
        steps=[
            {"key": "hello", "type": "send", "channel": "email", "subject": "Hi", "body": "x",
             "next": "wait"},
            {"key": "wait", "type": "delay", "seconds": 600, "next": None},
        ],
    )  # fmt: skip
    run = advance(enroll(client, api_base, journey))

    body = client.get(f"{api_base}/runs/{run.public_id}").json()

    assert body["state"] == "active" and body["current_step"] == "wait"
    first, second = body["timeline"]
    assert (first["step"], first["type"], first["outcome"]) == ("hello", "send", "sent")
    assert first["message_id"] == Message.objects.get().public_id
    assert (second["step"], second["outcome"], second["finished_at"]) == ("wait", "waiting", None)


def test_run_events_reach_webhook_endpoints_signed(client, api_base, workspace, ada, http_server):
    from delivery.models import WebhookDelivery
    from delivery.state_webhooks.endpoints import webhook_endpoint_create
    from delivery.state_webhooks.sender import webhook_delivery_attempt

    http_server.routes["/hooks"] = (200, {})
    webhook_endpoint_create(workspace=workspace, url=http_server.base_url + "/hooks")
    journey = journey_create(
        workspace, steps=[{"key": "tag", "type": "update_customer", "set": {"x": 1}, "next": None}]
    )
    run = advance(enroll(client, api_base, journey))

    deliveries = WebhookDelivery.objects.order_by("id")
    assert [d.event_type for d in deliveries] == [
        "run.entered", "run.step_completed", "run.completed"
    ]  # fmt: skip
    completed = deliveries.last().payload
    assert completed["run_id"] == run.public_id and completed["state"] == "completed"
    assert completed["customer_id"] == ada.public_id and completed["journey_version"] == 1
    for delivery in deliveries:
        webhook_delivery_attempt(delivery_id=delivery.pk)
    assert len(http_server.requests) == 3
    assert all(r["headers"]["webhook-signature"].startswith("v1,") for r in http_server.requests)
