"""A template that reaches a limit fails its step once, visibly, and nothing leaves.

The issue's run raised ``MemoryError`` at every lease period until its journey was
archived; now the render stops at the limit, the step fails with the limit's name on the
run's timeline, and walking the run again does nothing. The journeys are created as
publishing left them before publish refused such templates (``journey_create`` skips
the publish checks).
"""

import pytest

from customers.models import Customer
from delivery.models import Message
from journeys.models import Enrollment, StepRun
from tests.factories import journey_create
from tests.journeys.test_engine import advance, enroll

pytestmark = pytest.mark.django_db

RANGE_BOMB = '{{ (1..100000000) | join: "," | size }}'


def visits(run):
    return list(StepRun.objects.filter(enrollment=run).values_list("step_key", "outcome", "error"))


def test_a_send_whose_template_reaches_a_limit_fails_the_run_once_and_sends_nothing(
    client, api_base, workspace, ada, smtp_server
):
    journey = journey_create(
        workspace,
        steps=[{"key": "hello", "type": "send", "channel": "email", "subject": "Hi",
                "body": f"Numbers: {RANGE_BOMB}", "next": None}],
    )  # fmt: skip
    run = advance(enroll(client, api_base, journey))

    limit = (
        "loop iteration limit reached: the range (1..100000000) has 100,000,000 items, "
        "over the limit of 10,000"
    )
    assert run.state == Enrollment.State.FAILED
    assert run.error == f"hello: {limit}"
    assert visits(run) == [("hello", "failed", limit)]
    assert smtp_server.messages == []
    assert not Message.objects.exists()

    run = advance(run)  # a later sweep: nothing is due, nothing is retried

    assert run.state == Enrollment.State.FAILED
    assert visits(run) == [("hello", "failed", limit)]


def test_a_webhook_body_of_many_templates_is_bounded_as_one(client, api_base, workspace, ada):
    fields = {f"f{i}": "{{ data.text }}" for i in range(5)}  # 5 x 300,000 characters
    journey = journey_create(
        workspace,
        steps=[{"key": "call", "type": "webhook", "method": "POST",
                "url": "https://hooks.example.com/in", "headers": {}, "body": fields,
                "next": None}],
    )  # fmt: skip
    run = advance(enroll(client, api_base, journey, payload={"text": "x" * 300_000}))

    assert run.state == Enrollment.State.FAILED
    assert run.error == (
        "call: output stream limit reached: the step's templates together write more than "
        "1,000,000 characters"
    )


def test_customer_updates_are_bounded_together_and_nothing_is_written(
    client, api_base, workspace, ada
):
    values = {f"a{i}": "{{ data.text }}" for i in range(5)}
    journey = journey_create(
        workspace, steps=[{"key": "tag", "type": "update_customer", "set": values, "next": None}]
    )
    run = advance(enroll(client, api_base, journey, payload={"text": "x" * 300_000}))

    assert run.state == Enrollment.State.FAILED
    assert run.error.startswith("tag: output stream limit reached")
    assert Customer.objects.get(pk=ada.pk).attributes == ada.attributes
