"""The ESPs' tracking webhooks (/esp/<esp>/tracking/), posted the ESPs' own payloads
(tests/delivery/esp_payloads.py) through django-anymail's views: what each event records
on its message, in suppressions and subscriptions, and in the customer's event stream."""

import base64
import hashlib
import hmac
import json

import pytest
from django.test import Client

from customers.models import Event
from delivery.models import Message, MessageEvent, Subscription, Suppression
from tests.delivery import esp_payloads as p

SECRET = "anymail:webhook-secret"
MAILGUN_KEY = "mailgun-signing-key"
# SendGrid works through anymail 14, which warns that it no longer supports it officially.
pytestmark = pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}


@pytest.fixture(autouse=True)
def _anymail(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}


@pytest.fixture
def web() -> Client:
    return Client()


def sent_email(customer, provider_message_id: str, *, topic: str = "news") -> Message:
    return Message.objects.create(
        workspace=customer.workspace,
        customer=customer,
        idempotency_key=f"run_1:welcome:{provider_message_id}",
        channel=Message.Channel.EMAIL,
        recipient=customer.email,
        subject="Welcome",
        body="Hi",
        topic=topic,
        run_public_id="run_1",
        step_key="welcome",
        status=Message.Status.SENT,
        provider_message_id=provider_message_id,
    )


def post_json(web, esp: str, payload, **headers):
    return web.post(
        f"/esp/{esp}/tracking/", json.dumps(payload), content_type="application/json", **headers
    )


def post_mailgun(web, event_data: dict, token: str):
    body = p.mailgun_event(event_data, token)
    signature = body["signature"]
    signature["signature"] = hmac.new(
        MAILGUN_KEY.encode(),
        f"{signature['timestamp']}{signature['token']}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return post_json(web, "mailgun", body, **AUTH)


def post_ses(web, ses_event: dict, sns_message_id: str):
    return post_json(
        web,
        "amazon_ses",
        p.sns_notification(ses_event, sns_message_id),
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
        HTTP_X_AMZ_SNS_MESSAGE_ID=sns_message_id,
        **AUTH,
    )


def engagement(message: Message) -> dict:
    message.refresh_from_db()
    return {
        name: getattr(message, f"{name}_at") is not None
        for name in ("delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")
    }


def event_types(message: Message) -> list[str]:
    return sorted(message.events.values_list("event_type", flat=True))


def customer_events(customer) -> dict[str, dict]:
    return {event.name: event.properties for event in Event.objects.filter(customer=customer)}


# --- Postmark -------------------------------------------------------------------------


@pytest.mark.django_db
def test_postmark_delivery_open_and_click_land_on_the_message_and_the_customer(web, ada):
    message = sent_email(ada, p.POSTMARK_ID)

    for payload in (p.POSTMARK_DELIVERY, p.POSTMARK_OPEN, p.POSTMARK_CLICK):
        assert post_json(web, "postmark", payload, **AUTH).status_code == 200

    assert event_types(message) == ["clicked", "delivered", "opened"]
    assert engagement(message) == {
        "delivered": True,
        "opened": True,
        "clicked": True,
        "bounced": False,
        "complained": False,
        "unsubscribed": False,
    }
    assert message.opened_at.isoformat() == "2019-11-05T16:33:54.907025+00:00"
    common = {
        "message_id": message.public_id,
        "run_id": "run_1",
        "step": "welcome",
        "topic": "news",
        "esp": "Postmark",
    }
    assert customer_events(ada) == {
        "email.delivered": common,
        "email.opened": common,
        "email.clicked": {**common, "url": "https://example.com"},
    }
    opened = Event.objects.get(name="email.opened")
    assert opened.timestamp == message.opened_at
    assert Suppression.objects.count() == 0


@pytest.mark.django_db
def test_postmark_hard_bounce_suppresses_the_address_lower_cased(web, ada):
    message = sent_email(ada, p.POSTMARK_ID)

    assert post_json(web, "postmark", p.POSTMARK_HARD_BOUNCE, **AUTH).status_code == 200

    stored = message.events.get()
    assert (stored.event_type, stored.provider_event_id, stored.esp) == (
        "bounced",
        "4323372036854775807",
        "Postmark",
    )
    assert stored.detail["bounce"] == "hard"
    assert engagement(message)["bounced"]
    suppression = Suppression.objects.get()
    assert (suppression.workspace, suppression.address, suppression.reason) == (
        ada.workspace,
        "john@example.com",
        Suppression.Reason.HARD_BOUNCE,
    )
    assert suppression.message == message
    assert customer_events(ada)["email.bounced"]["bounce"] == "hard"


@pytest.mark.django_db
def test_postmark_soft_bounce_marks_the_message_but_suppresses_nothing(web, ada):
    message = sent_email(ada, p.POSTMARK_ID)

    assert post_json(web, "postmark", p.POSTMARK_SOFT_BOUNCE, **AUTH).status_code == 200

    assert message.events.get().detail["bounce"] == "soft"
    assert engagement(message)["bounced"]
    assert Suppression.objects.count() == 0
    assert customer_events(ada)["email.bounced"]["bounce"] == "soft"


@pytest.mark.django_db
def test_postmark_spam_complaint_suppresses_the_address(web, ada):
    message = sent_email(ada, p.POSTMARK_ID)

    assert post_json(web, "postmark", p.POSTMARK_SPAM_COMPLAINT, **AUTH).status_code == 200

    assert engagement(message)["complained"]
    assert Suppression.objects.values_list("address", "reason").get() == (
        "john@example.com",
        "complaint",
    )
    assert "email.complained" in customer_events(ada)


@pytest.mark.django_db
def test_postmark_unsubscribe_unsubscribes_the_customer_from_the_messages_topic(web, ada):
    message = sent_email(ada, p.POSTMARK_ID, topic="news")

    response = post_json(web, "postmark", p.POSTMARK_SUBSCRIPTION_CHANGE, **AUTH)

    assert response.status_code == 200
    assert engagement(message)["unsubscribed"]
    subscription = Subscription.objects.get()
    assert (subscription.customer, subscription.topic, subscription.subscribed) == (
        ada,
        "news",
        False,
    )
    assert subscription.source == "esp"
    assert Suppression.objects.count() == 0
    assert customer_events(ada)["email.unsubscribed"]["topic"] == "news"


@pytest.mark.django_db
def test_an_unsubscribe_from_a_message_without_topic_unsubscribes_from_all_marketing(web, ada):
    sent_email(ada, p.POSTMARK_ID, topic="")
    Subscription.objects.create(
        workspace=ada.workspace, customer=ada, topic="", subscribed=True, source="api"
    )

    post_json(web, "postmark", p.POSTMARK_SUBSCRIPTION_CHANGE, **AUTH)

    assert Subscription.objects.values_list("topic", "subscribed", "source").get() == (
        "",
        False,
        "esp",
    )


@pytest.mark.django_db
def test_a_retried_webhook_is_recorded_once(web, ada):
    message = sent_email(ada, p.POSTMARK_ID)

    for _ in range(2):
        assert post_json(web, "postmark", p.POSTMARK_HARD_BOUNCE, **AUTH).status_code == 200
        # No event id in an open: the payload's digest names the report.
        assert post_json(web, "postmark", p.POSTMARK_OPEN, **AUTH).status_code == 200

    assert event_types(message) == ["bounced", "opened"]
    assert Suppression.objects.count() == 1
    assert sorted(Event.objects.values_list("name", flat=True)) == [
        "email.bounced",
        "email.opened",
    ]


@pytest.mark.django_db
def test_the_earliest_occurrence_sets_the_timestamp_in_any_order(web, ada):
    message = sent_email(ada, p.POSTMARK_ID)
    later = {**p.POSTMARK_OPEN, "FirstOpen": False, "ReceivedAt": "2019-11-06T08:00:00Z"}

    post_json(web, "postmark", later, **AUTH)
    post_json(web, "postmark", p.POSTMARK_OPEN, **AUTH)
    post_json(web, "postmark", later, **AUTH)

    message.refresh_from_db()
    assert message.opened_at.isoformat() == "2019-11-05T16:33:54.907025+00:00"
    assert message.events.count() == 2
    assert Event.objects.filter(name="email.opened").count() == 2


def test_a_report_that_arrives_before_the_sends_answer_was_recorded_finds_its_message(web, ada):
    """The ESP names the message by its own id, which we store once its API answered the
    send; a report faster than that finds the message by the id we sent as metadata."""
    from delivery.email import METADATA_KEY

    message = sent_email(ada, "")
    payload = {**p.POSTMARK_HARD_BOUNCE, "Metadata": {METADATA_KEY: message.public_id}}

    assert post_json(web, "postmark", payload, **AUTH).status_code == 200

    message.refresh_from_db()
    assert message.bounced_at is not None
    assert Suppression.objects.get().reason == "hard_bounce"


@pytest.mark.django_db
def test_an_event_for_an_unknown_message_is_answered_200_and_recorded_nowhere(web, ada, caplog):
    sent_email(ada, "some-other-id")

    with caplog.at_level("INFO", logger="delivery.tracking"):
        response = post_json(web, "postmark", p.POSTMARK_HARD_BOUNCE, **AUTH)

    assert response.status_code == 200
    assert MessageEvent.objects.count() == 0
    assert Suppression.objects.count() == 0
    assert Event.objects.count() == 0
    assert "unknown message '883953f4-6105-42a2-a16a-77a8eac79483'" in caplog.text


@pytest.mark.django_db
def test_an_unauthenticated_webhook_is_refused_and_records_nothing(web, ada):
    sent_email(ada, p.POSTMARK_ID)
    wrong = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"anymail:guess").decode()}

    # Anymail answers a missing or wrong secret 400 (a SuspiciousOperation); SES's view
    # answers a request without credentials 401, as SNS expects before it sends them.
    assert post_json(web, "postmark", p.POSTMARK_HARD_BOUNCE).status_code == 400
    assert post_json(web, "postmark", p.POSTMARK_HARD_BOUNCE, **wrong).status_code == 400
    unauthenticated_ses = post_json(
        web,
        "amazon_ses",
        p.sns_notification(p.SES_BOUNCE_PERMANENT, "sns-1"),
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
        HTTP_X_AMZ_SNS_MESSAGE_ID="sns-1",
    )
    assert unauthenticated_ses.status_code == 401

    assert MessageEvent.objects.count() == 0
    assert Suppression.objects.count() == 0


@pytest.mark.django_db
def test_an_event_the_receiver_fails_on_leaves_nothing_of_its_call(web, ada, monkeypatch):
    # A SendGrid call carries several events; one failing refuses the call (500, the
    # ESP retries it) and the events before it are not kept either.
    message = sent_email(ada, p.SENDGRID_SMTP_ID)
    from journeys.entry import receivers

    def broken(*args, **kwargs):
        raise RuntimeError("event stream down")

    monkeypatch.setattr(receivers, "events_ingest", broken)
    web.raise_request_exception = False

    response = post_json(web, "sendgrid", p.SENDGRID_EVENTS, **AUTH)

    assert response.status_code == 500
    assert message.events.count() == 0
    assert engagement(message)["delivered"] is False


# --- SendGrid -------------------------------------------------------------------------


@pytest.mark.django_db
def test_sendgrid_batch_records_every_event(web, ada):
    message = sent_email(ada, p.SENDGRID_SMTP_ID)

    assert post_json(web, "sendgrid", p.SENDGRID_EVENTS, **AUTH).status_code == 200

    assert event_types(message) == [
        "bounced",
        "clicked",
        "complained",
        "deferred",
        "delivered",
        "opened",
        "queued",
        "unsubscribed",
    ]
    assert all(engagement(message).values())
    assert Suppression.objects.values_list("address", "reason").get() == (
        "example@test.com",
        "hard_bounce",  # the first reason stays; the complaint finds it suppressed
    )
    assert set(customer_events(ada)) == {
        "email.delivered",
        "email.opened",
        "email.clicked",
        "email.bounced",
        "email.complained",
        "email.unsubscribed",
    }
    assert customer_events(ada)["email.clicked"]["url"] == "http://www.sendgrid.com/"
    assert Subscription.objects.values_list("topic", "subscribed").get() == ("news", False)


@pytest.mark.django_db
def test_sendgrid_blocked_bounce_is_soft(web, ada):
    message = sent_email(ada, p.SENDGRID_SMTP_ID)

    post_json(web, "sendgrid", [p.SENDGRID_BLOCKED], **AUTH)

    assert message.events.get().detail["bounce"] == "soft"
    assert Suppression.objects.count() == 0


@pytest.mark.django_db
def test_sendgrid_deferred_is_stored_and_does_nothing_else(web, ada):
    message = sent_email(ada, p.SENDGRID_SMTP_ID)

    post_json(web, "sendgrid", [p.SENDGRID_EVENTS[1]], **AUTH)

    assert event_types(message) == ["deferred"]
    assert not any(engagement(message).values())
    assert Event.objects.count() == 0


# --- Mailgun --------------------------------------------------------------------------


@pytest.mark.django_db
def test_mailgun_events_by_their_message_id_header(web, ada):
    message = sent_email(ada, f"<{p.MAILGUN_MESSAGE_ID}>")

    for token, data in [
        ("t-delivered", p.MAILGUN_DELIVERED),
        ("t-opened", p.MAILGUN_OPENED),
        ("t-clicked", p.MAILGUN_CLICKED),
        ("t-unsubscribed", p.MAILGUN_UNSUBSCRIBED),
    ]:
        assert post_mailgun(web, data, token).status_code == 200

    assert event_types(message) == ["clicked", "delivered", "opened", "unsubscribed"]
    assert customer_events(ada)["email.clicked"]["url"] == "https://example.com/path"
    assert customer_events(ada)["email.opened"]["run_id"] == "run_1"
    assert Subscription.objects.values_list("topic", "subscribed").get() == ("news", False)


@pytest.mark.django_db
def test_mailgun_permanent_failure_suppresses_and_temporary_does_not(web, ada, grace):
    hard = sent_email(ada, f"<{p.MAILGUN_MESSAGE_ID}>")

    post_mailgun(web, p.MAILGUN_FAILED_TEMPORARY, "t-temporary")
    assert event_types(hard) == ["deferred"]
    assert Suppression.objects.count() == 0

    post_mailgun(web, p.MAILGUN_FAILED_PERMANENT, "t-permanent")
    post_mailgun(web, p.MAILGUN_COMPLAINED, "t-complained")

    assert event_types(hard) == ["bounced", "complained", "deferred"]
    assert Suppression.objects.values_list("address", "reason").get() == (
        "alice@example.com",
        "hard_bounce",
    )


@pytest.mark.django_db
def test_mailgun_badly_signed_webhook_is_refused(web, ada):
    message = sent_email(ada, f"<{p.MAILGUN_MESSAGE_ID}>")
    body = p.mailgun_event(p.MAILGUN_DELIVERED, "t-forged")
    body["signature"]["signature"] = "0" * 64

    assert post_json(web, "mailgun", body, **AUTH).status_code == 400
    assert message.events.count() == 0


# --- Amazon SES -----------------------------------------------------------------------


@pytest.mark.django_db
def test_ses_delivery_open_and_click(web, ada):
    message = sent_email(ada, p.SES_MESSAGE_ID)

    assert post_ses(web, p.SES_DELIVERY, "sns-delivery").status_code == 200
    assert post_ses(web, p.SES_OPEN, "sns-open").status_code == 200
    assert post_ses(web, p.SES_CLICK, "sns-click").status_code == 200

    assert event_types(message) == ["clicked", "delivered", "opened"]
    assert message.events.get(event_type="opened").provider_event_id == "sns-open"
    assert customer_events(ada)["email.opened"]["esp"] == "Amazon SES"
    assert customer_events(ada)["email.clicked"]["url"] == (
        "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html"
    )


@pytest.mark.django_db
def test_ses_permanent_bounce_and_complaint_suppress_a_transient_bounce_does_not(web, ada):
    message = sent_email(ada, p.SES_MESSAGE_ID)

    post_ses(web, p.SES_BOUNCE_TRANSIENT, "sns-transient")
    assert message.events.get().detail["bounce"] == "soft"
    assert Suppression.objects.count() == 0

    post_ses(web, p.SES_BOUNCE_PERMANENT, "sns-permanent")
    post_ses(web, p.SES_COMPLAINT, "sns-complaint")

    assert event_types(message) == ["bounced", "bounced", "complained"]
    assert Suppression.objects.values_list("address", "reason").get() == (
        "recipient@example.com",
        "hard_bounce",
    )
    assert engagement(message)["complained"]


# --- Brevo ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_brevo_events(web, ada):
    message = sent_email(ada, p.BREVO_MESSAGE_ID)

    for payload in (
        p.BREVO_DELIVERED,
        p.BREVO_OPENED,
        p.BREVO_CLICK,
        p.BREVO_SOFT_BOUNCE,
        p.BREVO_UNSUBSCRIBED,
    ):
        assert post_json(web, "brevo", payload, **AUTH).status_code == 200
    assert Suppression.objects.count() == 0  # the soft bounce suppresses nothing

    post_json(web, "brevo", p.BREVO_HARD_BOUNCE, **AUTH)
    post_json(web, "brevo", p.BREVO_COMPLAINT, **AUTH)

    assert event_types(message) == [
        "bounced",
        "bounced",
        "clicked",
        "complained",
        "delivered",
        "opened",
        "unsubscribed",
    ]
    assert all(engagement(message).values())
    assert Suppression.objects.values_list("address", "reason").get() == (
        "example@domain.com",
        "hard_bounce",
    )
    assert customer_events(ada)["email.clicked"]["url"] == "https://domain.com/path"


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b'{"RecordType":', b"\xff\xfe not text", b"[1, 2"])
def test_a_body_that_is_no_report_is_answered_400_and_records_nothing(web, ada, body):
    sent_email(ada, p.POSTMARK_ID)

    response = web.post("/esp/postmark/tracking/", body, content_type="application/json", **AUTH)

    assert response.status_code == 400
    assert "the body cannot be read" in response.json()["error"]
    assert MessageEvent.objects.count() == 0
