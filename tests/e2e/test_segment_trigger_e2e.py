"""Segment triggers end to end on PostgreSQL and Redis with a real Celery worker and an
SMTP sink: a customer updated into a dynamic segment gets the journey's e-mail within
seconds (no polling), and so do customers added to a static one."""

import time

import pytest

from customers.models import Customer
from journeys.authoring.services import journey_import, journey_publish
from segments.models import Segment
from tests.e2e.conftest import wait_until
from tests.factories import journey_definition

STEPS = [
    {"key": "hello", "type": "send", "channel": "email",
     "subject": "Welcome to {{ customer.plan }}", "body": "Hi", "next": None},
]  # fmt: skip


def publish_on(workspace, segment):
    document = journey_definition(
        trigger={"type": "segment", "segment_id": segment.public_id}, steps=STEPS
    )
    journey = journey_import(workspace=workspace, document=document)
    journey_publish(journey=journey)
    return journey


@pytest.mark.django_db(transaction=True)
def test_an_update_into_a_dynamic_segment_sends_the_welcome_within_seconds(
    processes, client, api_base, workspace, smtp_server
):
    group = processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    group.worker()
    pros = Segment.objects.create(
        workspace=workspace, name="Pro", kind=Segment.Kind.DYNAMIC,
        conditions={"field": "customer.plan", "op": "eq", "value": "pro"},
    )  # fmt: skip
    bob = Customer.objects.create(
        workspace=workspace, external_id="bob", email="bob@example.com", attributes={"plan": "free"}
    )
    publish_on(workspace, pros)

    updated = time.monotonic()
    response = client.patch(
        f"{api_base}/customers/{bob.public_id}", {"attributes": {"plan": "pro"}}, format="json"
    )

    assert response.status_code == 200
    assert wait_until(lambda: smtp_server.messages, timeout=15), group.log("worker")
    assert time.monotonic() - updated < 5  # a check after the change, not a poll
    (mail,) = smtp_server.messages
    assert (mail["To"], mail["Subject"]) == ("bob@example.com", "Welcome to pro")


@pytest.mark.django_db(transaction=True)
def test_customers_added_to_a_static_segment_get_the_welcome(
    processes, client, api_base, workspace, smtp_server
):
    group = processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    group.worker()
    beta = Segment.objects.create(workspace=workspace, name="Beta", kind=Segment.Kind.STATIC)
    for name in ("ann", "cal"):
        Customer.objects.create(
            workspace=workspace, external_id=name, email=f"{name}@example.com",
            attributes={"plan": "beta"},
        )  # fmt: skip
    publish_on(workspace, beta)

    response = client.post(
        f"{api_base}/segments/{beta.public_id}/members",
        {"external_ids": ["ann", "cal"]},
        format="json",
    )

    assert response.status_code == 200
    assert wait_until(lambda: len(smtp_server.messages) == 2, timeout=30), group.log("worker")
    assert sorted(mail["To"] for mail in smtp_server.messages) == [
        "ann@example.com",
        "cal@example.com",
    ]
