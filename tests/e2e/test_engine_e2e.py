"""A journey of delay -> branch -> webhook -> e-mail, end to end on PostgreSQL and Redis:
triggered through the API, walked by a real Celery worker, woken by a real beat."""

import time

import pytest

from journeys.models import Enrollment
from tests.factories import journey_create

JOURNEY_STEPS = [
    {"key": "wait", "type": "delay", "seconds": 2, "next": "plan"},
    {"key": "plan", "type": "branch",
     "condition": {"field": "customer.plan", "op": "eq", "value": "vip"},
     "yes": "coupon", "no": None},
    {"key": "coupon", "type": "webhook", "method": "POST", "url": "{{ data.coupon_url }}",
     "headers": {}, "body": {"customer": "{{ customer.external_id }}"}, "next": "mail"},
    {"key": "mail", "type": "send", "channel": "email",
     "subject": "A gift, {{ customer.first_name }}",
     "body": "Your code is {{ steps.coupon.code }}.", "next": None},
]  # fmt: skip


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.django_db(transaction=True)
def test_delay_branch_webhook_email_completes_through_worker_and_beat(
    processes, client, api_base, workspace, ada, grace, smtp_server, http_server
):
    http_server.routes["/coupon"] = (200, {"code": "VIP-2026"})
    group = processes(
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}",
        OUTBOUND_ALLOWED_NETWORKS="127.0.0.1/32",
    )
    group.worker()
    group.beat()
    journey = journey_create(workspace, steps=JOURNEY_STEPS)
    url = f"{api_base}/journeys/{journey.public_id}/trigger"
    payload = {"coupon_url": http_server.base_url + "/coupon"}

    vip = client.post(url, {"external_id": "user_ada", "payload": payload}, format="json")
    free = client.post(url, {"external_id": "user_grace", "payload": payload}, format="json")
    started = time.monotonic()

    runs = Enrollment.objects.filter(public_id__in=[vip.json()["run_id"], free.json()["run_id"]])
    # The kick runs the delay step at once: both runs are waiting within a second or two.
    assert wait_for(lambda: all(r.current_step == "wait" and r.wake_at for r in runs.all()))
    assert wait_for(lambda: not runs.filter(state="active").exists()), group.log("worker")
    assert time.monotonic() - started >= 2  # the delay really waited

    assert set(runs.values_list("state", flat=True)) == {"completed"}
    (mail,) = smtp_server.messages
    assert mail["To"] == "ada@example.com"
    assert mail["Subject"] == "A gift, Ada"
    assert "Your code is VIP-2026." in mail.get_payload()
    (call,) = http_server.requests
    assert call["body"] == b'{"customer": "user_ada"}'
    detail = client.get(f"{api_base}/runs/{vip.json()['run_id']}").json()
    assert [step["step"] for step in detail["timeline"]] == ["wait", "plan", "coupon", "mail"]
