"""State webhooks end to end against a real HTTP receiver on loopback.

Every attempt goes through :mod:`delivery.outbound` over a real socket to a
``ThreadingHTTPServer``; the tests check what a receiver sees (headers, raw body, a
signature it can verify from the secret alone) and what the database records after
each outcome. Time is moved with time-machine to walk the retry schedule.
"""

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from config.celery import app as celery_app
from customers.models import Workspace
from delivery.models import WebhookDelivery, WebhookEndpoint
from delivery.state_webhooks import outbox
from delivery.state_webhooks.endpoints import webhook_endpoint_create
from delivery.state_webhooks.outbox import webhook_events_record, webhook_events_record_many
from delivery.state_webhooks.sender import (
    LEASE,
    RETRY_SCHEDULE,
    webhook_deliveries_due,
    webhook_delivery_attempt,
)
from delivery.tasks import webhook_deliveries_sweep, webhook_delivery_send

RUN_PAYLOAD = {
    "run_id": "run_0123",
    "journey_id": "jrn_0123",
    "customer_id": "cus_0123",
    "state": "completed",
    "note": "café ☕",  # non-ASCII survives signing and transport byte for byte
}


# --- a real receiver ------------------------------------------------------------------


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records every request; answers the scripted statuses in turn, then ``default``."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.statuses: deque[int] = deque()
        self.default_status = 200
        self.extra_headers: dict[str, str] = {}
        self.delay_seconds = 0.0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    receiver.requests.append(
                        ReceivedRequest(
                            path=self.path,
                            headers={name.lower(): value for name, value in self.headers.items()},
                            body=body,
                        )
                    )
                    status = (
                        receiver.statuses.popleft()
                        if receiver.statuses
                        else receiver.default_status
                    )
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                answer = b'{"ok": true}' if status < 300 else f"status {status}".encode()
                self.send_response(status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def loopback_allowed() -> Iterator[None]:
    """The receiver lives on 127.0.0.1, which outbound calls refuse by default."""
    with override_settings(OUTBOUND_ALLOWED_NETWORKS=["127.0.0.1/32"]):
        yield


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """``.delay()`` runs the task in-process, so kicks and sweeps really send."""
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does with nothing but its secret (Standard Webhooks, v1)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = b".".join(
        [headers["webhook-id"].encode(), headers["webhook-timestamp"].encode(), body]
    )
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [
        part.split(",", 1)[1]
        for part in headers["webhook-signature"].split(" ")
        if part.startswith("v1,")
    ]
    return any(hmac.compare_digest(expected, signature) for signature in offered)


def _endpoint(workspace: Workspace, url: str, **kwargs) -> tuple[WebhookEndpoint, str]:
    return webhook_endpoint_create(workspace=workspace, url=url, **kwargs)


def _record_one(workspace: Workspace, event_type: str = "run.completed") -> WebhookDelivery:
    assert webhook_events_record(workspace=workspace, event_type=event_type, payload=RUN_PAYLOAD)
    return WebhookDelivery.objects.latest("pk")


def _later(seconds: float = 60) -> datetime:
    """A moment safely after every row the test just wrote (they use the real clock)."""
    return timezone.now() + timedelta(seconds=seconds)


# --- signing and delivery -------------------------------------------------------------


def test_delivery_is_a_signed_standard_webhook(workspace, receiver, loopback_allowed):
    _, secret = _endpoint(workspace, receiver.url)
    delivery = _record_one(workspace)

    webhook_delivery_attempt(delivery_id=delivery.pk)

    [request] = receiver.requests
    assert request.path == "/hooks"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == delivery.event_id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["webhook-signature"].startswith("v1,")
    assert verify_standard_webhook(secret, request.headers, request.body)
    assert not verify_standard_webhook(secret, request.headers, request.body + b" ")
    assert not verify_standard_webhook(
        "whsec_" + base64.b64encode(b"x" * 24).decode(), request.headers, request.body
    )

    document = json.loads(request.body)
    assert document["type"] == "run.completed"
    assert document["data"] == RUN_PAYLOAD
    assert datetime.fromisoformat(document["timestamp"]) == delivery.created_at

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (1, 200, "")
    assert delivery.delivered_at is not None
    assert delivery.lease_expires_at is None


def test_the_send_task_runs_one_attempt(workspace, receiver, loopback_allowed):
    _endpoint(workspace, receiver.url)
    delivery = _record_one(workspace)

    webhook_delivery_send(delivery.pk)
    webhook_delivery_send(delivery.pk)  # settled: a duplicate message sends nothing

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED


def test_any_2xx_is_delivered(workspace, receiver, loopback_allowed):
    _endpoint(workspace, receiver.url)
    receiver.default_status = 204
    delivery = _record_one(workspace)

    webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code) == ("delivered", 204)


# --- retries on the schedule ----------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 400, 429])
def test_failure_is_retried_later_on_the_schedule(workspace, receiver, loopback_allowed, status):
    _endpoint(workspace, receiver.url)
    delivery = _record_one(workspace)
    receiver.statuses.append(status)
    first_try = _later()

    with time_machine.travel(first_try, tick=False):
        webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.attempts == 1
    assert delivery.last_status_code == status
    assert str(status) in delivery.last_error
    assert delivery.next_attempt_at == first_try + RETRY_SCHEDULE[1]
    assert delivery.lease_expires_at is None

    with time_machine.travel(first_try + RETRY_SCHEDULE[1] - timedelta(seconds=1), tick=False):
        webhook_delivery_attempt(delivery_id=delivery.pk)  # not due yet: nothing sent
    assert len(receiver.requests) == 1

    with time_machine.travel(delivery.next_attempt_at, tick=False):
        webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.event_id
    assert first.body == second.body  # the event, not the attempt: receivers can dedupe
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == 5


def test_retry_schedule_spans_about_27_hours():
    assert [delay.total_seconds() for delay in RETRY_SCHEDULE] == [
        0, 5, 300, 1800, 7200, 18000, 36000, 36000,
    ]  # fmt: skip
    assert timedelta(hours=27) < sum(RETRY_SCHEDULE, timedelta()) < timedelta(hours=28)


def test_exhausted_schedule_fails_the_delivery(workspace, receiver, loopback_allowed):
    _endpoint(workspace, receiver.url)
    receiver.default_status = 503
    delivery = _record_one(workspace)
    moment = _later()
    started = moment

    for attempt in range(1, len(RETRY_SCHEDULE) + 1):
        with time_machine.travel(moment, tick=False):
            webhook_delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        if attempt < len(RETRY_SCHEDULE):
            assert delivery.status == WebhookDelivery.Status.PENDING
            assert delivery.next_attempt_at == moment + RETRY_SCHEDULE[attempt]
            moment = delivery.next_attempt_at

    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.next_attempt_at is None
    assert (delivery.last_status_code, len(receiver.requests)) == (503, len(RETRY_SCHEDULE))
    assert timedelta(hours=27) < moment - started < timedelta(hours=28)

    with time_machine.travel(moment + timedelta(days=1), tick=False):
        webhook_delivery_attempt(delivery_id=delivery.pk)
        assert webhook_deliveries_due() == []
    assert len(receiver.requests) == len(RETRY_SCHEDULE)


def test_redirect_is_not_followed_and_counts_as_a_failure(workspace, receiver, loopback_allowed):
    _endpoint(workspace, receiver.url)
    receiver.statuses.append(307)
    receiver.extra_headers = {"Location": "/elsewhere"}
    delivery = _record_one(workspace)

    webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert [request.path for request in receiver.requests] == ["/hooks"]
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "redirect" in delivery.last_error


# --- 410 Gone -------------------------------------------------------------------------


def test_410_disables_the_endpoint_and_fails_its_pending_deliveries(
    workspace, receiver, loopback_allowed
):
    gone, _ = _endpoint(workspace, receiver.url)
    healthy, _ = _endpoint(workspace, receiver.url + "/healthy")
    webhook_events_record(workspace=workspace, event_type="run.entered", payload=RUN_PAYLOAD)
    webhook_events_record(workspace=workspace, event_type="run.completed", payload=RUN_PAYLOAD)
    first = WebhookDelivery.objects.filter(endpoint=gone).earliest("pk")
    receiver.statuses.append(410)

    webhook_delivery_attempt(delivery_id=first.pk)

    gone.refresh_from_db()
    assert gone.enabled is False
    assert "410" in gone.disabled_reason
    first.refresh_from_db()
    assert (first.status, first.attempts, first.last_status_code) == ("failed", 1, 410)
    assert set(gone.deliveries.values_list("status", flat=True)) == {"failed"}
    assert set(healthy.deliveries.values_list("status", flat=True)) == {"pending"}
    assert len(receiver.requests) == 1

    # A disabled endpoint gets no new events, and a leftover id sends nothing.
    assert webhook_events_record(workspace=workspace, event_type="run.failed", payload={}) == 1
    assert not gone.deliveries.filter(status="pending").exists()
    for delivery in gone.deliveries.all():
        webhook_delivery_attempt(delivery_id=delivery.pk)
    assert len(receiver.requests) == 1


def test_endpoint_disabled_before_the_attempt_is_not_called(workspace, receiver, loopback_allowed):
    endpoint, _ = _endpoint(workspace, receiver.url)
    delivery = _record_one(workspace)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)

    webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert receiver.requests == []
    assert (delivery.status, delivery.last_error) == ("failed", "endpoint disabled")


# --- blocked destinations -------------------------------------------------------------


@override_settings(OUTBOUND_ALLOWED_NETWORKS=[])
def test_blocked_destination_is_a_final_failure(workspace, receiver):
    _endpoint(workspace, receiver.url)
    delivery = _record_one(workspace)

    webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert receiver.requests == []
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert (delivery.attempts, delivery.next_attempt_at, delivery.last_status_code) == (
        1,
        None,
        None,
    )
    assert "blocked" in delivery.last_error
    assert "loopback" in delivery.last_error


# --- recording: filtering, the outbox, the fast path ----------------------------------


def test_events_go_to_enabled_subscribed_endpoints_of_the_workspace(workspace, other_workspace):
    everything, _ = _endpoint(workspace, "https://example.com/all")
    completions, _ = _endpoint(workspace, "https://example.com/done", event_types=["run.completed"])
    disabled, _ = _endpoint(workspace, "https://example.com/off")
    WebhookEndpoint.objects.filter(pk=disabled.pk).update(enabled=False)
    foreign, _ = _endpoint(other_workspace, "https://example.com/theirs")

    assert webhook_events_record(workspace=workspace, event_type="run.entered", payload={}) == 1
    assert webhook_events_record(workspace=workspace, event_type="run.completed", payload={}) == 2
    assert webhook_events_record(workspace=workspace.pk, event_type="run.exited", payload={}) == 1

    by_endpoint = {
        endpoint: sorted(endpoint.deliveries.values_list("event_type", flat=True))
        for endpoint in (everything, completions, disabled, foreign)
    }
    assert by_endpoint == {
        everything: ["run.completed", "run.entered", "run.exited"],
        completions: ["run.completed"],
        disabled: [],
        foreign: [],
    }
    delivery = everything.deliveries.get(event_type="run.entered")
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.attempts == 0
    assert delivery.next_attempt_at <= timezone.now()
    assert delivery.event_id.startswith("evt_")


def test_recording_costs_one_query_without_endpoints_and_two_with(
    workspace, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert webhook_events_record(workspace=workspace, event_type="run.entered", payload={}) == 0
    for number in range(3):
        _endpoint(workspace, f"https://example.com/{number}")
    with django_assert_num_queries(2):  # the endpoints, then one INSERT for all three
        assert webhook_events_record(workspace=workspace, event_type="run.entered", payload={}) == 3


def test_unknown_event_type_is_a_programming_error(workspace):
    with pytest.raises(ValueError, match=r"run\.exploded"):
        webhook_events_record(workspace=workspace, event_type="run.exploded", payload={})


def test_nothing_is_recorded_or_sent_when_the_transaction_rolls_back(
    workspace, receiver, loopback_allowed, django_capture_on_commit_callbacks
):
    _endpoint(workspace, receiver.url)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        assert webhook_events_record(
            workspace=workspace, event_type="run.failed", payload=RUN_PAYLOAD
        )
        raise RuntimeError("the state change failed")

    assert callbacks == []
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_commit_kicks_the_delivery_at_once(
    workspace, receiver, loopback_allowed, eager_tasks, django_capture_on_commit_callbacks
):
    _, secret = _endpoint(workspace, receiver.url)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            webhook_events_record(workspace=workspace, event_type="run.entered", payload={})
        assert receiver.requests == []  # nothing leaves before the commit

    assert len(callbacks) == 1
    [request] = receiver.requests
    assert verify_standard_webhook(secret, request.headers, request.body)
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED


def test_a_large_batch_kicks_one_sweep_instead_of_a_task_each(
    workspace, receiver, loopback_allowed, eager_tasks, django_capture_on_commit_callbacks,
    monkeypatch,
):  # fmt: skip
    _endpoint(workspace, receiver.url)
    monkeypatch.setattr(outbox, "KICK_LIMIT", 2)
    sweeps = []
    monkeypatch.setattr(webhook_deliveries_sweep, "delay", lambda: sweeps.append(1) or None)

    with django_capture_on_commit_callbacks(execute=True):
        webhook_events_record_many(
            workspace=workspace, events=[("run.entered", {"n": n}) for n in range(3)]
        )

    assert sweeps == [1]
    assert receiver.requests == []  # left to the sweep
    assert webhook_deliveries_sweep() == 3
    assert sorted(json.loads(r.body)["data"]["n"] for r in receiver.requests) == [0, 1, 2]


# --- leases and the sweep -------------------------------------------------------------


def test_a_leased_delivery_waits_for_the_lease_to_expire(workspace, receiver, loopback_allowed):
    """A worker that died mid-attempt leaves its lease; the delivery resumes after it."""
    _endpoint(workspace, receiver.url)
    delivery = _record_one(workspace)
    crashed_at = _later()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_expires_at=crashed_at + LEASE)

    with time_machine.travel(crashed_at + timedelta(seconds=30), tick=False):
        webhook_delivery_attempt(delivery_id=delivery.pk)
        assert webhook_deliveries_due() == []
    assert receiver.requests == []

    with time_machine.travel(crashed_at + LEASE, tick=False):
        assert webhook_deliveries_due() == [delivery.pk]
        webhook_delivery_attempt(delivery_id=delivery.pk)
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.lease_expires_at) == ("delivered", None)


def test_the_sweep_finds_due_deliveries_only(workspace, receiver, loopback_allowed, eager_tasks):
    endpoint, _ = _endpoint(workspace, receiver.url)
    now = timezone.now()
    second, hour = timedelta(seconds=1), timedelta(hours=1)

    def make(**fields) -> WebhookDelivery:
        fields.setdefault("next_attempt_at", now - second)
        return WebhookDelivery.objects.create(
            endpoint=endpoint, event_type="run.entered", payload={}, **fields
        )

    due_later = make(next_attempt_at=now - second)
    due_first = make(next_attempt_at=now - hour)
    lease_expired = make(lease_expires_at=now - second)
    make(next_attempt_at=now + hour)  # not yet
    make(lease_expires_at=now + hour)  # a worker holds it
    make(next_attempt_at=None)
    make(status=WebhookDelivery.Status.DELIVERED)
    make(status=WebhookDelivery.Status.FAILED)

    with time_machine.travel(now, tick=False):
        assert webhook_deliveries_due() == [due_first.pk, due_later.pk, lease_expired.pk]
        assert webhook_deliveries_due(limit=1) == [due_first.pk]
        assert webhook_deliveries_sweep() == 3

    assert set(
        WebhookDelivery.objects.filter(pk__in=[due_first.pk, due_later.pk, lease_expired.pk])
        .values_list("status", flat=True)
    ) == {"delivered"}  # fmt: skip
    assert len(receiver.requests) == 3


def test_the_sweep_runs_every_few_seconds_from_beat():
    [entry] = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == webhook_deliveries_sweep.name
    ]
    assert entry["schedule"] <= 5


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_racing_workers_send_a_delivery_once(workspace, receiver, loopback_allowed):
    _endpoint(workspace, receiver.url)
    delivery = _record_one(workspace)
    receiver.delay_seconds = 0.3  # the first claim is still in flight when the others try
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            webhook_delivery_attempt(delivery_id=delivery.pk)
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
