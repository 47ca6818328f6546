"""Trying a journey out: trigger commands, message previews, dry runs and test sends
(:mod:`journeys.authoring.previews`)."""

import base64
import json
import shlex

import pytest

from customers.errors import InvalidRequest
from customers.models import Event
from delivery.models import FrequencyCap, Message
from journeys.authoring.previews import (
    entry_dry_run,
    preview_messages,
    sample_payload,
    send_test,
    trigger_examples,
)
from journeys.entry.service import payload_problems
from journeys.models import Enrollment, IdempotencyRecord, Journey
from segments.models import SegmentMembership
from tests.factories import journey_create, segment_create

pytestmark = pytest.mark.django_db

SCHEMA = [
    {"name": "plan", "type": "string", "required": True},
    {"name": "total", "type": "number"},
    {"name": "first", "type": "boolean"},
    {"name": "ends_at", "type": "datetime", "required": True},
    {"name": "it's", "type": "string"},
]
STEPS = [
    {
        "key": "welcome",
        "type": "send",
        "channel": "email",
        "subject": "Welcome to {{ data.plan }}, {{ customer.first_name }}",
        "body": "Plan {{ plan }} until {{ api.payload.ends_at }}",
        "html": "<p>Hi {{ customer.first_name }}, note: {{ data.note }}</p>",
        "transactional": True,
        "next": "sms",
    },
    {
        "key": "sms",
        "type": "send",
        "channel": "sms",
        "body": "Code {{ data.coupon }}",
        "transactional": True,
        "next": None,
    },
]
PAYLOAD = {"plan": "pro", "ends_at": "2026-05-12T00:00:00Z", "note": "<b>&</b>"}
NO_NOTE = {"plan": "pro", "ends_at": "2026-05-12T00:00:00Z"}


@pytest.fixture
def journey(workspace) -> Journey:
    return journey_create(workspace, trigger={"schema": SCHEMA}, steps=STEPS)


def served_examples(journey, workspace):
    return trigger_examples(journey=journey, base_url="http://testserver", workspace=workspace)


def command_argv(command: str) -> list[str]:
    """The words the shell would pass to curl (line continuations joined)."""
    return shlex.split(command.replace("\\\n", " "))


def command_request(command: str, key: str) -> tuple[str, dict[str, str], str]:
    """The URL, headers and body curl would send, ``$KEY`` being ``key``."""
    argv = command_argv(command.replace("$KEY", key))
    assert argv[:4] == ["curl", "-sS", "-X", "POST"]
    url, headers, body = argv[4], {}, ""
    for flag, value in zip(argv[5::2], argv[6::2], strict=True):
        if flag == "-H":
            name, _, header = value.partition(": ")
            headers[name] = header
        elif flag == "-u":
            headers["Authorization"] = "Basic " + base64.b64encode(value.encode()).decode()
        elif flag == "-d":
            body = value
        else:
            raise AssertionError(f"unexpected curl option {flag}")
    return url, headers, body


def command_run(client, command: str, key: str):
    """Send the command's request through the test client (the host is testserver)."""
    url, headers, body = command_request(command, key)
    assert url.startswith("http://testserver/")
    content_type = headers.pop("Content-Type")
    return client.generic(
        "POST", url.removeprefix("http://testserver"), body, content_type, headers=headers
    )


def test_sample_payload_has_every_field_with_a_value_of_its_type(journey):
    payload = sample_payload(journey)

    assert payload == {
        "plan": "text",
        "total": 42,
        "first": True,
        "ends_at": "2026-02-10T14:30:00Z",
        "it's": "text",
    }
    assert payload_problems(journey.live_version.spec.trigger, payload) == []


def test_an_api_journey_has_native_and_dialect_commands(journey, workspace):
    examples = trigger_examples(journey=journey, base_url="https://h.example/", workspace=workspace)

    titles = [example.title for example in examples]
    # Not Enroll (no payload, and fields are required), nor Sprinklr (strings only).
    assert titles == ["Native API", "Courier invoke", "Spotzee trigger"]
    native = examples[0]
    assert native.url == (
        f"https://h.example/api/v1/workspaces/{workspace.public_id}"
        f"/journeys/{journey.public_id}/trigger"
    )
    for example in examples:
        assert '"Authorization: Bearer $KEY"' in example.command
        assert "sk_" not in example.command
        _url, _headers, body = command_request(example.command, "sk_x")
        assert json.loads(body) == example.body  # the quote in "it's" survived the shell


def test_sprinklr_is_offered_when_every_field_is_a_string(workspace):
    journey = journey_create(
        workspace, trigger={"schema": [{"name": "plan", "type": "string"}]}, steps=STEPS
    )

    examples = trigger_examples(journey=journey, base_url="http://h", workspace=workspace)

    by_title = {example.title: example for example in examples}
    assert list(by_title)[3:] == ["Enroll API", "Sprinklr trigger"]
    sprinklr = by_title["Sprinklr trigger"]
    assert sprinklr.body["contextParams"] == {"plan": "text"}


def test_the_native_command_enrolls_through_the_api(client, journey, raw_api_key, workspace):
    workspace_customer = workspace.customers.create(external_id="user_123", email="u@example.com")
    examples = served_examples(journey, workspace)
    native = examples[0]
    url, headers, body = command_request(native.command, raw_api_key)

    response = client.generic(
        "POST",
        url.removeprefix("http://testserver"),
        body,
        content_type=headers["Content-Type"],
        headers={"Authorization": headers["Authorization"]},
    )

    assert response.status_code == 202, response.content
    run = Enrollment.objects.get(public_id=response.json()["run_id"])
    assert run.customer == workspace_customer
    assert run.context["payload"]["it's"] == "text"


def test_the_courier_and_spotzee_commands_enroll_too(client, journey, raw_api_key, workspace):
    workspace.customers.create(external_id="user_123", email="u@example.com")
    courier, spotzee = trigger_examples(
        journey=journey, base_url="http://testserver", workspace=workspace
    )[1:3]

    for example, expected in ((courier, 202), (spotzee, 202)):
        url, headers, body = command_request(example.command, raw_api_key)
        Enrollment.objects.all().delete()
        response = client.generic(
            "POST",
            url.removeprefix("http://testserver"),
            body,
            content_type="application/json",
            headers={"Authorization": headers["Authorization"]},
        )
        assert response.status_code == expected, (example.title, response.content)
        assert Enrollment.objects.count() == 1


def test_the_enroll_and_sprinklr_commands_enroll_too(anonymous_client, raw_api_key, workspace):
    journey = journey_create(
        workspace, trigger={"schema": [{"name": "plan", "type": "string"}]}, steps=STEPS
    )
    workspace.customers.create(external_id="user_123", email="user@example.com")
    examples = served_examples(journey, workspace)
    enroll, sprinklr = examples[3:]

    for example, expected in ((enroll, 200), (sprinklr, 204)):
        Enrollment.objects.all().delete()
        response = command_run(anonymous_client, example.command, raw_api_key)
        assert response.status_code == expected, (example.title, response.content)
        assert Enrollment.objects.count() == 1


def test_the_event_commands_are_accepted(anonymous_client, raw_api_key, workspace):
    journey = journey_create(
        workspace, trigger={"type": "event", "event": "Order Completed"}, steps=STEPS
    )
    examples = served_examples(journey, workspace)

    for example in examples:
        response = command_run(anonymous_client, example.command, raw_api_key)
        assert response.status_code == 200, (example.title, response.content)
    assert Event.objects.filter(name="Order Completed").count() == 2


def test_the_webhook_command_enrolls_without_a_key(anonymous_client, workspace):
    journey = journey_create(
        workspace,
        trigger={
            "type": "webhook",
            "identify": {"email": "data.object.customer_email"},
            "schema": [{"name": "plan", "type": "string", "required": True}],
        },
        steps=STEPS,
    )
    (webhook,) = served_examples(journey, workspace)

    assert webhook.body == {"plan": "text", "object": {"customer_email": "user@example.com"}}
    assert "$KEY" not in webhook.command
    response = command_run(anonymous_client, webhook.command, "unused")
    assert response.status_code == 202, response.content
    assert Enrollment.objects.get().customer.email == "user@example.com"


def test_the_segment_command_adds_a_member(anonymous_client, raw_api_key, workspace):
    customer = workspace.customers.create(external_id="user_123")
    segment = segment_create(workspace, [])
    journey = journey_create(
        workspace, trigger={"type": "segment", "segment_id": segment.public_id}, steps=STEPS
    )
    (member,) = served_examples(journey, workspace)

    response = command_run(anonymous_client, member.command, raw_api_key)

    assert response.status_code in (200, 201), response.content
    assert SegmentMembership.objects.filter(segment=segment, customer=customer).exists()


def test_an_event_journey_has_track_commands(workspace):
    journey = journey_create(
        workspace, trigger={"type": "event", "event": "Order Completed"}, steps=STEPS
    )

    native, segment = trigger_examples(journey=journey, base_url="http://h", workspace=workspace)

    assert native.url.endswith("/events/track")
    assert native.body["event"] == "Order Completed"
    assert segment.url == "http://h/compat/segment/v1/track"
    assert '-u "$KEY:"' in segment.command


def test_preview_renders_each_send_step_as_a_run_would(journey, ada):
    welcome, sms = preview_messages(journey=journey, customer=ada, payload=PAYLOAD)

    assert welcome.error == ""
    assert welcome.subject == "Welcome to pro, Ada"
    assert welcome.body == "Plan pro until 2026-05-12T00:00:00Z"
    assert welcome.html == "<p>Hi Ada, note: &lt;b&gt;&amp;&lt;/b&gt;</p>"
    assert welcome.recipient == "ada@example.com"
    assert sms.error == "data.coupon is undefined"
    assert Message.objects.count() == 0 and Enrollment.objects.count() == 0


def test_dry_run_answers_like_the_api_and_writes_nothing(client, api_base, journey, ada):
    answer = entry_dry_run(journey=journey, customer=ada, payload=PAYLOAD)

    api = client.post(
        f"{api_base}/journeys/{journey.public_id}/trigger?dry_run=true",
        {"external_id": ada.external_id, "payload": PAYLOAD},
        format="json",
    )
    assert (answer.status, answer.body) == (api.status_code, api.json())
    assert answer.body == {"status": "enrolled", "dry_run": True}
    assert (Enrollment.objects.count(), IdempotencyRecord.objects.count()) == (0, 0)


def test_dry_run_names_a_missing_required_field(journey, ada):
    answer = entry_dry_run(journey=journey, customer=ada, payload={"plan": "pro"})

    assert answer.status == 400
    assert "payload.ends_at is required" in answer.body["error"]


def test_send_test_reaches_smtp_marked_as_a_test(smtp_server, journey, ada, workspace):
    FrequencyCap.objects.create(workspace=workspace, channel="email", limit=1, period_seconds=3600)

    sent = send_test(
        journey=journey, step_key="welcome", address="me@example.com", customer=ada, payload=PAYLOAD
    )
    send_test(
        journey=journey, step_key="welcome", address="me@example.com", customer=ada, payload=PAYLOAD
    )

    assert sent.subject == "[Test] Welcome to pro, Ada"
    assert len(smtp_server.messages) == 2  # the cap of one did not hold the second back
    mail = smtp_server.messages[0]
    assert (mail["To"], mail["Subject"], mail["X-Journeys-Test"]) == (
        "me@example.com",
        "[Test] Welcome to pro, Ada",
        "true",
    )
    assert Message.objects.count() == 0 and Enrollment.objects.count() == 0


@pytest.mark.parametrize(
    ("step_key", "address", "payload", "error"),
    [
        ("sms", "me@example.com", PAYLOAD, "only e-mail steps can be tested"),
        ("nope", "me@example.com", PAYLOAD, "'nope' is not a send step"),
        ("welcome", "not an address", PAYLOAD, "'not an address' is not an e-mail address"),
        ("welcome", "me@example.com", NO_NOTE, "data.note is undefined"),
    ],
)
def test_send_test_refuses_with_a_clear_error(
    smtp_server, journey, ada, step_key, address, payload, error
):
    with pytest.raises(InvalidRequest) as raised:
        send_test(
            journey=journey, step_key=step_key, address=address, customer=ada, payload=payload
        )

    assert error in raised.value.message
    assert smtp_server.messages == []
