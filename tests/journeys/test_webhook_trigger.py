"""Webhook triggers (issue 12, section 2): a journey's secret URL takes any JSON a third
party sends; the body is the run's data and names the customer at ``trigger.identify``;
signatures are checked with Standard Webhooks' library or Stripe's scheme; retries of a
delivery enter once; the entry rules and a rate limit apply; the URL can be rotated."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
import stripe
from django.test import override_settings
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from customers.models import Customer
from journeys.authoring.services import journey_webhook_secret_set
from journeys.models import Enrollment, Journey
from tests.factories import journey_create

pytestmark = pytest.mark.django_db

STEPS = [
    {"key": "tag", "type": "update_customer", "set": {"paid": "{{ data.object.amount }}"},
     "next": None},
]  # fmt: skip
#: Stripe's checkout.session.completed, trimmed to what the journeys read.
STRIPE_EVENT = {
    "id": "evt_1PqA2b",
    "object": "event",
    "type": "checkout.session.completed",
    "data": {"object": {"id": "cs_test_1", "amount_total": 4900,
                        "customer_details": {"email": "Ada@Example.com"}}},
}  # fmt: skip
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STRIPE_SECRET = "whsec_test_4eC39HqLyjWDarjtT1zdp7dc"


def hook_journey(workspace, **trigger):
    trigger = {"type": "webhook", "identify": {"email": "data.object.email"}, **trigger}
    return journey_create(workspace, trigger=trigger, steps=STEPS)


@pytest.fixture
def sender():
    """A third party: no API key, only the URL."""
    return APIClient()


def post(sender, journey, body, **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return sender.post(
        f"/hooks/{journey.webhook_token}", raw, content_type="application/json", **headers
    )


def standard_headers(body: bytes, message_id="msg_2Kq", secret=STANDARD_SECRET):
    stamp = datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=stamp, data=body.decode())
    return {
        "HTTP_WEBHOOK_ID": message_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(stamp.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


def stripe_header(body: bytes, secret=STRIPE_SECRET, at=None):
    """``Stripe-Signature`` as Stripe makes it (its own library verifies it below)."""
    stamp = str(int(at if at is not None else time.time()))
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def test_a_post_enters_the_customer_the_body_names_with_the_body_as_data(workspace, sender):
    journey = hook_journey(workspace)
    body = {"object": {"email": "new@example.com", "amount": 49}}

    response = post(sender, journey, body)

    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "enrolled"
    run = Enrollment.objects.get(public_id=response.json()["run_id"])
    assert run.customer.email == "new@example.com"  # made: create_customers by default
    assert run.context["payload"] == body


def test_an_external_id_may_be_named_and_may_be_a_number(workspace, sender):
    journey = hook_journey(workspace, identify={"external_id": "data.user.id"})
    Customer.objects.create(workspace=workspace, external_id="42")

    response = post(sender, journey, {"user": {"id": 42}})

    assert response.status_code == 202, response.json()
    assert Enrollment.objects.get().customer.external_id == "42"


def test_the_entry_rules_apply(workspace, sender):
    journey = hook_journey(workspace)
    body = {"object": {"email": "ada@example.com"}}
    post(sender, journey, body)

    again = post(sender, journey, body)

    assert (again.status_code, again.json()) == (200, {"status": "already_enrolled"})
    assert Enrollment.objects.count() == 1


def test_an_unknown_or_rotated_url_is_a_404(workspace, sender, client, api_base):
    journey = hook_journey(workspace)
    old = journey.webhook_token

    rotated = client.post(f"{api_base}/journeys/{journey.public_id}/webhook/rotate")
    journey.refresh_from_db()

    assert rotated.status_code == 200
    assert rotated.json()["webhook_url"] == f"http://testserver/hooks/{journey.webhook_token}"
    assert journey.webhook_token != old
    for token in (old, "nope"):
        response = sender.post(f"/hooks/{token}", {"object": {}}, format="json")
        assert (response.status_code, response.json()) == (
            404, {"error": "no webhook trigger at this URL"}
        )  # fmt: skip
    assert post(sender, journey, {"object": {"email": "a@example.com"}}).status_code == 202


@pytest.mark.parametrize("status", [Journey.Status.PAUSED, Journey.Status.DRAFT])
def test_a_journey_that_is_not_live_is_a_404(workspace, sender, status):
    journey = hook_journey(workspace)
    Journey.objects.filter(pk=journey.pk).update(status=status)

    response = post(sender, journey, {"object": {"email": "a@example.com"}})

    assert response.status_code == 404
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    "body", [{"object": {}}, {"object": {"email": ""}}, {"object": "x"}, {"object": {"email": 7}}]
)
def test_a_body_that_names_no_customer_is_a_422_and_writes_nothing(workspace, sender, body):
    journey = hook_journey(workspace)

    response = post(sender, journey, body)

    assert response.status_code == 422
    assert response.json()["error"] == (
        "the body names no customer: data.object.email must be the customer's email"
    )
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("raw", "status"), [(b"[1, 2]", 400), (b'{"object": ', 400), (b'{"a": "\\u0000"}', 400)]
)
def test_a_body_that_is_no_json_object_is_a_400(workspace, sender, raw, status):
    journey = hook_journey(workspace)

    response = post(sender, journey, raw)

    assert response.status_code == status
    assert "error" in response.json()
    assert not Enrollment.objects.exists()


def test_a_body_the_trigger_refuses_makes_no_customer(workspace, sender):
    journey = journey_create(
        workspace,
        trigger={"type": "webhook", "identify": {"email": "data.object.email"},
                 "schema": [{"name": "plan", "type": "string", "required": True}]},
        steps=STEPS,
    )  # fmt: skip

    response = post(sender, journey, {"object": {"email": "new@example.com"}})

    assert response.status_code == 400
    assert response.json()["error"].startswith("data.plan")
    assert not Customer.objects.exists()


def test_without_create_customers_an_unknown_customer_is_not_made(workspace, sender):
    journey = hook_journey(workspace, create_customers=False)

    response = post(sender, journey, {"object": {"email": "who@example.com"}})

    assert response.status_code == 404
    assert response.json()["error"] == "Customer not found"
    assert not Customer.objects.exists()


# --- signatures -------------------------------------------------------------------------


def test_a_standard_webhooks_signature_is_checked(workspace, sender):
    journey = hook_journey(workspace, signature="standard")
    journey_webhook_secret_set(journey=journey, secret=STANDARD_SECRET)
    body = json.dumps({"object": {"email": "ada@example.com"}}).encode()

    forged = post(sender, journey, body, **standard_headers(body, secret="whsec_" + "A" * 32))
    unsigned = post(sender, journey, body)
    tampered = post(sender, journey, body + b" ", **standard_headers(body))
    signed = post(sender, journey, body, **standard_headers(body))

    for refused in (forged, unsigned, tampered):
        assert (refused.status_code, refused.json()) == (
            401, {"error": "invalid standard webhook signature"}
        )  # fmt: skip
    assert signed.status_code == 202
    assert Enrollment.objects.count() == 1


def test_a_retried_standard_delivery_is_answered_again_not_entered_twice(workspace, sender):
    journey = hook_journey(workspace, signature="standard")
    journey_webhook_secret_set(journey=journey, secret=STANDARD_SECRET)
    body = json.dumps({"object": {"email": "ada@example.com"}}).encode()

    first = post(sender, journey, body, **standard_headers(body, message_id="msg_1"))
    retry = post(sender, journey, body, **standard_headers(body, message_id="msg_1"))

    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Enrollment.objects.count() == 1


def test_a_stripe_signature_is_checked_as_stripe_makes_it(workspace, sender):
    journey = hook_journey(
        workspace,
        identify={"email": "data.data.object.customer_details.email"},
        signature="stripe",
    )
    journey_webhook_secret_set(journey=journey, secret=STRIPE_SECRET)
    body = json.dumps(STRIPE_EVENT).encode()
    header = stripe_header(body)
    # Stripe's own library accepts the header: it is the real scheme.
    assert stripe.WebhookSignature.verify_header(body.decode(), header, STRIPE_SECRET)

    wrong_secret = post(sender, journey, body, HTTP_STRIPE_SIGNATURE=stripe_header(body, "x"))
    stale = post(
        sender, journey, body, HTTP_STRIPE_SIGNATURE=stripe_header(body, at=time.time() - 600)
    )
    garbled = post(sender, journey, body, HTTP_STRIPE_SIGNATURE="t=,v1")
    signed = post(sender, journey, body, HTTP_STRIPE_SIGNATURE=header)
    retried = post(sender, journey, body, HTTP_STRIPE_SIGNATURE=stripe_header(body))

    for refused in (wrong_secret, stale, garbled):
        assert (refused.status_code, refused.json()) == (
            401, {"error": "invalid stripe webhook signature"}
        )  # fmt: skip
    assert signed.status_code == 202, signed.json()
    assert retried.json() == signed.json()  # the same event id: entered once
    run = Enrollment.objects.get()
    assert run.customer.email == "ada@example.com"
    assert run.context["payload"]["type"] == "checkout.session.completed"


def test_a_signed_trigger_without_a_secret_refuses_everything_saying_why(workspace, sender):
    journey = hook_journey(workspace, signature="stripe")
    body = json.dumps({"object": {"email": "ada@example.com"}}).encode()

    response = post(sender, journey, body, HTTP_STRIPE_SIGNATURE=stripe_header(body))

    assert response.status_code == 401
    assert "has no signing secret yet" in response.json()["error"]
    assert not Customer.objects.exists()


@override_settings(RATELIMIT_TRIGGER_PER_MINUTE=2)
def test_a_webhook_url_has_a_trigger_budget_of_its_own(workspace, sender):
    journey = hook_journey(workspace)

    answers = [post(sender, journey, {"object": {"email": f"c{n}@example.com"}}) for n in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[0]["RateLimit-Policy"] == '"trigger";q=2;w=60'
    assert Enrollment.objects.count() == 2


# --- the journey API ------------------------------------------------------------------


def test_the_journey_shows_its_webhook_url(workspace, client, api_base):
    journey = hook_journey(workspace)

    body = client.get(f"{api_base}/journeys/{journey.public_id}").json()

    assert body["webhook_url"] == f"http://testserver/hooks/{journey.webhook_token}"
    assert len(journey.webhook_token) >= 40


def test_the_signing_secret_is_set_and_removed_through_the_api(workspace, client, api_base):
    journey = hook_journey(workspace, signature="standard")
    url = f"{api_base}/journeys/{journey.public_id}/webhook/secret"

    bad = client.put(url, {"secret": "has space"}, format="json")
    put = client.put(url, {"secret": STANDARD_SECRET}, format="json")
    journey.refresh_from_db()
    stored = journey.webhook_secret
    deleted = client.delete(url)
    journey.refresh_from_db()

    assert bad.status_code == 400
    assert (put.status_code, stored) == (204, STANDARD_SECRET)
    assert (deleted.status_code, journey.webhook_secret) == (204, "")
    assert STANDARD_SECRET not in json.dumps(
        client.get(f"{api_base}/journeys/{journey.public_id}").json()
    )


def test_a_journey_without_a_webhook_trigger_has_no_url_to_rotate(workspace, client, api_base):
    journey = journey_create(workspace)

    rotate = client.post(f"{api_base}/journeys/{journey.public_id}/webhook/rotate")
    secret = client.put(
        f"{api_base}/journeys/{journey.public_id}/webhook/secret", {"secret": "x"}, format="json"
    )

    assert rotate.status_code == secret.status_code == 409
    assert client.get(f"{api_base}/journeys/{journey.public_id}").json()["webhook_url"] is None
