"""An ESP's report on a message wakes the run waiting for it: Postmark's open webhook
for the message becomes ``email.opened`` of the message's customer, with the run and
step, and a ``wait_for_event`` on it takes the matched path."""

import base64
import json

import pytest
from django.test import Client

from delivery.models import Message
from journeys.engine.claims import runs_claim, runs_claim_due
from journeys.engine.runner import runs_walk
from journeys.entry.events.matching import events_match
from journeys.models import Enrollment, StepRun
from tests.delivery.esp_payloads import POSTMARK_ID, POSTMARK_OPEN
from tests.factories import journey_create

pytestmark = pytest.mark.django_db

SECRET = "anymail:webhook-secret"
OPENED_STEPS = [
    {"key": "wait", "type": "wait_for_event", "event": "email.opened",
     "condition": {"field": "event.properties.step", "op": "eq", "value": "welcome"},
     "timeout_seconds": 86400, "matched": "opened", "timeout": "not_opened"},
    {"key": "opened", "type": "update_customer", "set": {"opened": "yes"}, "next": None},
    {"key": "not_opened", "type": "update_customer", "set": {"opened": "no"}, "next": None},
]  # fmt: skip


def test_an_esp_open_wakes_the_run_waiting_for_it(workspace, send, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    journey = journey_create(
        workspace, trigger={"type": "event", "event": "Signed Up"}, steps=OPENED_STEPS
    )
    send({"type": "track", "userId": "ada", "event": "Signed Up", "properties": {}})
    events_match()
    run = Enrollment.objects.get(journey=journey)
    runs_walk(runs_claim(run_ids=[run.pk]))
    run.refresh_from_db()
    assert run.current_step == "wait"
    message = Message.objects.create(
        workspace=workspace,
        customer=run.customer,
        idempotency_key=f"{run.public_id}:welcome:0",
        channel=Message.Channel.EMAIL,
        recipient="john@example.com",
        run_public_id=run.public_id,
        step_key="welcome",
        status=Message.Status.SENT,
        provider_message_id=POSTMARK_ID,
    )

    response = Client().post(
        "/esp/postmark/tracking/",
        json.dumps(POSTMARK_OPEN),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(SECRET.encode()).decode(),
    )
    assert response.status_code == 200
    events_match()
    runs_walk(runs_claim_due(limit=100))

    run.refresh_from_db()
    assert run.state == "completed"
    assert run.customer.attributes["opened"] == "yes"
    assert StepRun.objects.get(enrollment=run, step_key="wait").outcome == "matched"
    assert run.context["event"]["properties"] == {
        "message_id": message.public_id,
        "run_id": run.public_id,
        "step": "welcome",
        "topic": None,
        "esp": "Postmark",
    }
