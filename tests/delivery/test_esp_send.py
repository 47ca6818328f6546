"""Sending e-mail through an ESP: anymail's Postmark backend, its API base URL pointed at
a real HTTP server on loopback that answers as Postmark's ``POST /email`` does. Nothing of
anymail is mocked: the request is the one Postmark would receive."""

import json

import pytest

from delivery.messages import SendError, message_deliver
from delivery.models import Message

POSTMARK_MESSAGE_ID = "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
TOKEN = "server-token-for-tests"


@pytest.fixture
def postmark(settings, http_server):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "Acme <hello@acme.example>"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": TOKEN,
        "POSTMARK_API_URL": f"{http_server.base_url}/",
        "REQUESTS_TIMEOUT": 5,
    }
    return http_server


def pending_email(customer) -> Message:
    return Message.objects.create(
        workspace=customer.workspace,
        customer=customer,
        idempotency_key="run_1:welcome:0",
        channel=Message.Channel.EMAIL,
        recipient=customer.email,
        subject="Welcome, Ada",
        body="Hi Ada",
        html="<p>Hi Ada</p>",
        sender="Acme News <news@acme.example>",
        topic="news",
    )


@pytest.mark.django_db
def test_a_message_sent_through_postmark_keeps_postmarks_message_id(postmark, ada):
    postmark.routes["/email"] = (
        200,
        {
            "To": "ada@example.com",
            "SubmittedAt": "2014-02-17T07:25:01.4178645-05:00",
            "MessageID": POSTMARK_MESSAGE_ID,
            "ErrorCode": 0,
            "Message": "OK",
        },
    )
    message = pending_email(ada)

    message_deliver(message)

    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == ("sent", POSTMARK_MESSAGE_ID)
    [request] = postmark.requests
    assert (request["method"], request["path"]) == ("POST", "/email")
    assert request["headers"]["X-Postmark-Server-Token"] == TOKEN
    sent = json.loads(request["body"])
    assert sent["From"] == "Acme News <news@acme.example>"
    assert sent["To"] == "ada@example.com"
    assert sent["Subject"] == "Welcome, Ada"
    assert sent["TextBody"] == "Hi Ada"
    assert sent["HtmlBody"] == "<p>Hi Ada</p>"
    assert sent["Metadata"] == {"journeys_message_id": message.public_id}
    headers = {header["Name"]: header["Value"] for header in sent["Headers"]}
    assert headers["Message-ID"] == "<run_1.welcome.0@journeys>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<http")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (422, {"ErrorCode": 300, "Message": "Invalid 'From' address: 'acme'."}, False),
        (
            422,
            {
                "ErrorCode": 406,
                "Message": "You tried to send to a recipient that has been marked as "
                "inactive.\nFound inactive addresses: ada@example.com.\nInactive "
                "recipients are ones that have generated a hard bounce or a spam complaint.",
            },
            False,
        ),
        (500, {"ErrorCode": 500, "Message": "Internal server error"}, True),
        (429, {"ErrorCode": 429, "Message": "Rate limit exceeded"}, True),
    ],
)
def test_an_esp_refusal_is_final_and_its_trouble_is_retried(postmark, ada, status, body, retryable):
    postmark.routes["/email"] = (status, body)
    message = pending_email(ada)

    with pytest.raises(SendError) as raised:
        message_deliver(message)

    assert raised.value.retryable is retryable
    message.refresh_from_db()
    assert message.status == ("pending" if retryable else "failed")
    assert message.provider_message_id == ""


@pytest.mark.django_db
def test_an_esp_out_of_reach_is_retried(settings, ada):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": TOKEN,
        "POSTMARK_API_URL": "http://127.0.0.1:9/",  # discard: nothing listens
        "REQUESTS_TIMEOUT": 2,
    }

    with pytest.raises(SendError) as raised:
        message_deliver(pending_email(ada))

    assert raised.value.retryable is True


@pytest.mark.django_db
def test_an_smtp_message_keeps_its_message_id_header_as_provider_id(smtp_server, ada):
    message = message_deliver(pending_email(ada))

    assert message.provider_message_id == "<run_1.welcome.0@journeys>"
    assert smtp_server.messages[0]["Message-ID"] == "<run_1.welcome.0@journeys>"
