"""The event stream end to end on PostgreSQL and Redis: a tracked event's journey sends
its e-mail, matched and walked by a real Celery worker; and beat matches what a lost
kick left waiting."""

import gzip
import json

import pytest

from customers.models import Event
from journeys.models import Enrollment
from tests.e2e.conftest import wait_until
from tests.factories import journey_create

STEPS = [
    {"key": "mail", "type": "send", "channel": "email",
     "subject": "Order {{ event.properties.order_id }} confirmed",
     "body": "Total {{ data.total }} for {{ customer.email }}", "next": None},
]  # fmt: skip


def post_batch(client, url, messages):
    body = gzip.compress(json.dumps({"batch": messages}).encode())
    return client.post(url, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")


@pytest.mark.django_db(transaction=True)
def test_a_tracked_event_sends_its_journeys_email(
    processes, client, api_base, workspace, smtp_server
):
    group = processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    group.worker()
    journey_create(
        workspace,
        trigger={
            "type": "event",
            "event": "Order Completed",
            "conditions": {"field": "event.properties.total", "op": "gt", "value": 20},
        },
        steps=STEPS,
    )

    response = post_batch(
        client,
        f"{api_base}/events/batch",
        [
            {"type": "identify", "userId": "u1", "traits": {"email": "buyer@example.com"}},
            {"type": "track", "userId": "u1", "event": "Order Completed",
             "properties": {"order_id": "A-7", "total": 99}},
            {"type": "track", "userId": "u2", "event": "Order Completed",
             "properties": {"order_id": "A-8", "total": 5}},
        ],
    )  # fmt: skip

    assert response.status_code == 200
    # No beat: the kick after the request's commit matched the events.
    assert wait_until(lambda: smtp_server.messages, timeout=30), group.log("worker")
    (mail,) = smtp_server.messages
    assert mail["To"] == "buyer@example.com"
    assert mail["Subject"] == "Order A-7 confirmed"
    assert "Total 99 for buyer@example.com" in mail.get_payload()
    run = Enrollment.objects.get()
    assert wait_until(lambda: Enrollment.objects.get().state == "completed", timeout=30)
    assert run.customer.external_id == "u1"


@pytest.mark.django_db(transaction=True)
def test_beat_matches_events_whose_kick_was_lost(
    processes, client, api_base, workspace, smtp_server, monkeypatch
):
    from journeys.entry import tasks

    monkeypatch.setattr(tasks.events_match, "delay", lambda: None)  # the kick is lost
    journey_create(workspace, trigger={"type": "event", "event": "Order Completed"}, steps=STEPS)
    post_batch(
        client,
        f"{api_base}/events/batch",
        [
            {"type": "identify", "userId": "u1", "traits": {"email": "late@example.com"}},
            {"type": "track", "userId": "u1", "event": "Order Completed",
             "properties": {"order_id": "A-9", "total": 1}},
        ],
    )  # fmt: skip
    assert Event.objects.get().matched_at is None

    group = processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    group.worker()
    group.beat()

    assert wait_until(lambda: smtp_server.messages, timeout=45), group.log("worker")
    assert smtp_server.messages[0]["Subject"] == "Order A-9 confirmed"
    assert Event.objects.get().matched_at is not None
