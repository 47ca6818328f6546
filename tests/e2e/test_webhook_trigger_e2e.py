"""A webhook trigger end to end on PostgreSQL and Redis: a Stripe-signed checkout event
POSTed to the journey's secret URL sends the customer it names their e-mail, through a
real Celery worker and an SMTP sink."""

import hashlib
import hmac
import json
import time

import pytest
from rest_framework.test import APIClient

from journeys.authoring.services import journey_webhook_secret_set
from journeys.models import Enrollment
from tests.e2e.conftest import wait_until
from tests.factories import journey_create

SECRET = "whsec_e2e_0123456789abcdef"
STEPS = [
    {"key": "receipt", "type": "send", "channel": "email",
     "subject": "Receipt {{ data.data.object.id }}",
     "body": "Paid {{ data.data.object.amount_total }}", "next": None},
]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_signed_stripe_event_sends_its_customer_the_journeys_email(
    processes, workspace, smtp_server
):
    group = processes(EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    group.worker()
    journey = journey_create(
        workspace,
        trigger={
            "type": "webhook",
            "identify": {"email": "data.data.object.customer_details.email"},
            "signature": "stripe",
        },
        steps=STEPS,
    )
    journey_webhook_secret_set(journey=journey, secret=SECRET)
    body = json.dumps(
        {"id": "evt_e2e", "type": "checkout.session.completed",
         "data": {"object": {"id": "cs_42", "amount_total": 4900,
                             "customer_details": {"email": "buyer@example.com"}}}}
    ).encode()  # fmt: skip
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()

    response = APIClient().post(
        f"/hooks/{journey.webhook_token}", body, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=f"t={stamp},v1={digest}",
    )  # fmt: skip

    assert response.status_code == 202, response.json()
    assert wait_until(lambda: smtp_server.messages, timeout=30), group.log("worker")
    (mail,) = smtp_server.messages
    assert (mail["To"], mail["Subject"]) == ("buyer@example.com", "Receipt cs_42")
    assert "Paid 4900" in mail.get_payload()
    assert wait_until(lambda: Enrollment.objects.get().state == "completed", timeout=10)
