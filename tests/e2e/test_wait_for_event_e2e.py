"""The abandoned cart end to end (issue 12, section 1), on PostgreSQL and Redis with a real
Celery worker and beat and an SMTP sink: a customer who orders the same cart is thanked
within seconds of the order (another cart's order does not wake the run), and one who
does not is reminded when the wait times out."""

import gzip
import json
import time

import pytest

from journeys.models import Enrollment, StepRun
from tests.e2e.conftest import wait_until
from tests.factories import journey_create

TIMEOUT_SECONDS = 6
STEPS = [
    {"key": "wait", "type": "wait_for_event", "event": "Order Completed",
     "condition": {"field": "event.properties.cart_id", "op": "eq",
                   "value_from": "data.cart_id"},
     "timeout_seconds": TIMEOUT_SECONDS, "matched": "thanks", "timeout": "remind"},
    {"key": "thanks", "type": "send", "channel": "email",
     "subject": "Thanks for order {{ event.properties.order_id }}",
     "body": "Cart {{ data.cart_id }}", "next": None},
    {"key": "remind", "type": "send", "channel": "email",
     "subject": "You left cart {{ data.cart_id }}", "body": "Come back", "next": None},
]  # fmt: skip


def post_batch(client, api_base, *messages):
    body = gzip.compress(json.dumps({"batch": list(messages)}).encode())
    response = client.post(
        f"{api_base}/events/batch", body, content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )  # fmt: skip
    assert response.status_code == 200, response.content


def identify(user):
    return {"type": "identify", "userId": user, "traits": {"email": f"{user}@example.com"}}


def track(user, event, **properties):
    return {"type": "track", "userId": user, "event": event, "properties": properties}


def mails(smtp_server):
    return {mail["To"]: mail["Subject"] for mail in smtp_server.messages}


@pytest.mark.django_db(transaction=True)
def test_the_abandoned_cart_is_thanked_on_its_order_and_reminded_on_timeout(
    processes, client, api_base, workspace, smtp_server
):
    group = processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    group.worker()
    group.beat()
    journey_create(workspace, trigger={"type": "event", "event": "Cart Abandoned"}, steps=STEPS)

    post_batch(
        client, api_base, identify("ada"), identify("grace"),
        track("ada", "Cart Abandoned", cart_id="c1"),
        track("grace", "Cart Abandoned", cart_id="g1"),
    )  # fmt: skip
    assert wait_until(
        lambda: Enrollment.objects.filter(current_step="wait").count() == 2, timeout=30
    ), group.log("worker")
    started = time.monotonic()

    # Another cart's order (and Grace's own, of the wrong cart) wakes nobody.
    post_batch(
        client, api_base,
        track("ada", "Order Completed", cart_id="c2", order_id="O-2"),
        track("grace", "Order Completed", cart_id="c1", order_id="O-3"),
    )  # fmt: skip
    time.sleep(1.5)
    assert not smtp_server.messages

    post_batch(client, api_base, track("ada", "Order Completed", cart_id="c1", order_id="O-1"))
    ordered = time.monotonic()
    assert wait_until(lambda: "ada@example.com" in mails(smtp_server), timeout=10), group.log(
        "worker"
    )
    thanked_after = time.monotonic() - ordered
    assert thanked_after < 3, thanked_after  # woken at once, not at a poll or the deadline
    assert mails(smtp_server)["ada@example.com"] == "Thanks for order O-1"

    assert wait_until(lambda: "grace@example.com" in mails(smtp_server), timeout=30), group.log(
        "worker"
    )
    assert mails(smtp_server)["grace@example.com"] == "You left cart g1"
    assert time.monotonic() - started >= TIMEOUT_SECONDS - 1.5  # not before the timeout
    assert wait_until(
        lambda: set(Enrollment.objects.values_list("state", flat=True)) == {"completed"},
        timeout=10,
    )
    outcomes = dict(
        StepRun.objects.filter(step_key="wait").values_list(
            "enrollment__customer__external_id", "outcome"
        )
    )
    assert outcomes == {"ada": "matched", "grace": "timed out"}
