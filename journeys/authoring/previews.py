"""Trying a journey out before customers meet it (issue 14, "trigger helpers" and
"live preview"): the calls that trigger it, its messages rendered, a dry run of its
entry rules and a test send.

Nothing here has rules of its own. A preview composes each message through the send
step's own :func:`~journeys.engine.steps.send.send_compose`, on an unsaved run whose
context is :func:`~journeys.engine.context.run_template_context`'s, so it renders
exactly what a run would; a dry run is the trigger service's own ``dry_run``; a test
send hands the composed message to delivery without a Message row, so it belongs to
no run and no frequency cap counts it. The cURL commands are built from the same data
(:class:`TriggerExample`) that tests post through the API.
"""

import json
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.urls import reverse
from django.utils import timezone

from customers.errors import DomainError, InvalidRequest, NotFound
from customers.models import Customer, Workspace, normalize_email
from customers.selectors import customers_by_identifiers
from delivery.services import SendError, message_send_test
from journeys.authoring.documents import definition_from_journey
from journeys.engine.context import run_template_context
from journeys.engine.steps import ComposeError, StepInput, send_compose
from journeys.entry.api import trigger_result_body, trigger_result_status
from journeys.entry.service import Audience, journey_trigger
from journeys.models import Enrollment, Journey, JourneyVersion

#: A schema field's sample value, by type (seed 002's examples).
SAMPLE_VALUES: dict[str, Any] = {
    "string": "text",
    "number": 42,
    "boolean": True,
    "datetime": "2026-02-10T14:30:00Z",
}
#: Who the examples trigger for: placeholders a developer replaces.
SAMPLE_EXTERNAL_ID = "user_123"
SAMPLE_EMAIL = "user@example.com"
#: Stands for the API key in every command; a real key is never printed.
KEY_VARIABLE = "$KEY"
TEST_SUBJECT_PREFIX = "[Test] "


@dataclass(frozen=True)
class TriggerExample:
    """One way to trigger the journey: the request, and the cURL command that sends it.

    ``auth`` is ``"bearer"`` (``Authorization: Bearer $KEY``), ``"basic"`` (Segment's
    write key as the Basic user) or ``""`` (a webhook: its URL is the secret)."""

    title: str
    url: str
    body: dict[str, Any]
    auth: str = "bearer"
    note: str = ""
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def command(self) -> str:
        parts = [f"curl -sS -X POST {shlex.quote(self.url)}"]
        if self.auth == "bearer":
            parts.append(f'-H "Authorization: Bearer {KEY_VARIABLE}"')
        elif self.auth == "basic":
            parts.append(f'-u "{KEY_VARIABLE}:"')
        for name, value in self.headers:
            parts.append(f"-H {shlex.quote(f'{name}: {value}')}")
        parts.append("-H 'Content-Type: application/json'")
        parts.append(f"-d {shlex.quote(json.dumps(self.body, ensure_ascii=False))}")
        return " \\\n  ".join(parts)


def sample_payload(journey: Journey) -> dict[str, Any]:
    """A payload with every field of the trigger schema (required or not), each with a
    sample value of its type."""
    return {
        item["name"]: SAMPLE_VALUES.get(item.get("type"), "text")
        for item in journey.trigger_schema or ()
        if isinstance(item, dict) and item.get("name")
    }


def trigger_examples(
    *, journey: Journey, base_url: str, workspace: Workspace
) -> list[TriggerExample]:
    """The calls that trigger ``journey``, native first, then each dialect that can.

    ``base_url`` is this server's public address (``https://host``); the key is always
    ``$KEY``."""
    base = base_url.rstrip("/")
    payload = sample_payload(journey)
    api = f"{base}/api/v1/workspaces/{workspace.public_id}"
    kind = journey.trigger_type
    if kind == Journey.TriggerType.API:
        examples = [
            TriggerExample(
                "Native API",
                f"{api}/journeys/{journey.public_id}/trigger",
                {"external_id": SAMPLE_EXTERNAL_ID, "payload": payload},
                note='Add "?dry_run=true" to the URL to see the answer without enrolling.',
            ),
            TriggerExample(
                "Courier invoke",
                f"{base}/compat/courier/journeys/{journey.public_id}/invoke",
                {"user_id": SAMPLE_EXTERNAL_ID, "data": payload},
            ),
            TriggerExample(
                "Spotzee trigger",
                f"{base}/compat/spotzee/journeys/{journey.public_id}/trigger",
                {"users": [{"external_id": SAMPLE_EXTERNAL_ID, "data": payload}]},
            ),
        ]
        if not any(item.get("required") for item in journey.trigger_schema or ()):
            # The enroll API carries no payload.
            examples.append(
                TriggerExample(
                    "Enroll API",
                    f"{base}/compat/enroll/v1/journeys/{journey.public_id}/enroll",
                    {"contact_email_addresses": [SAMPLE_EMAIL]},
                    note="It carries no payload.",
                )
            )
        if all(isinstance(value, str) for value in payload.values()):
            # Sprinklr's contextParams are strings only.
            examples.append(
                TriggerExample(
                    "Sprinklr trigger",
                    f"{base}/compat/sprinklr/api/marketing-journey/trigger",
                    {
                        "snType": "EMAIL",
                        "snId": SAMPLE_EMAIL,
                        "journeyId": journey.public_id,
                        "contextParams": payload,
                    },
                )
            )
        return examples
    if kind == Journey.TriggerType.EVENT:
        event = {
            "userId": SAMPLE_EXTERNAL_ID,
            "event": journey.trigger_event,
            "properties": payload,
        }
        return [
            TriggerExample("Native events API (track)", f"{api}/events/track", event),
            TriggerExample(
                "Segment track",
                f"{base}/compat/segment/v1/track",
                {"type": "track", **event},
                "basic",
            ),
        ]
    if kind == Journey.TriggerType.WEBHOOK:
        if not journey.webhook_token:
            return []
        # The body is the run's data: the schema's fields, and the customer where
        # ``identify`` says (a path under ``data.``, the body's root).
        identify = (journey.trigger_options or {}).get("identify") or {}
        body: dict[str, Any] = dict(payload)
        for name, path in identify.items():
            _set_path(body, path, SAMPLE_EMAIL if name == "email" else SAMPLE_EXTERNAL_ID)
        note = "The URL is the secret: no key."
        if (journey.trigger_options or {}).get("signature"):
            note += " The sender must sign the body as the journey's signature setting says."
        url = base + reverse("webhook-trigger", args=[journey.webhook_token])
        return [TriggerExample("Webhook", url, body, auth="", note=note)]
    if kind == Journey.TriggerType.SEGMENT:
        segment_id = (journey.trigger_options or {}).get("segment_id")
        if not segment_id:
            return []
        return [
            TriggerExample(
                "Add a member to the segment",
                f"{api}/segments/{segment_id}/members",
                {"external_ids": [SAMPLE_EXTERNAL_ID]},
                note="A customer who joins the segment enters the journey.",
            )
        ]
    return []


def _set_path(body: dict[str, Any], path: str, value: str) -> None:
    *parents, leaf = path.removeprefix("data.").split(".")
    for name in parents:
        body = body.setdefault(name, {})
    body[leaf] = value


def customer_for_preview(*, workspace: Workspace, identifier: str) -> Customer:
    """The workspace's customer with this external id or, failing that, e-mail address."""
    identifier = identifier.strip()
    email = normalize_email(identifier)
    matches = customers_by_identifiers(
        workspace=workspace, external_ids=[identifier], emails=[email] if email else []
    )
    by_external_id = {customer.external_id: customer for customer in matches}
    customer = by_external_id.get(identifier) or next(iter(matches), None)
    if customer is None:
        raise NotFound(f"no customer has the external id or e-mail address {identifier!r}")
    return customer


@dataclass(frozen=True)
class MessagePreview:
    """One send step's message as a run would write it, or why it cannot be written."""

    step_key: str
    channel: str
    subject: str = ""
    body: str = ""
    html: str = ""
    recipient: str = ""
    sender: str = ""
    error: str = ""


def preview_messages(
    *, journey: Journey, customer: Customer, payload: dict[str, Any]
) -> list[MessagePreview]:
    """Every send step of the journey's draft, rendered for ``customer`` and a trigger
    with ``payload``, in the order the steps are listed.

    Values that only a running journey has (``steps.<key>`` of a webhook step that has
    not run) are missing here, and a template that needs one names it in its error."""
    run = _draft_run(journey, customer, payload)
    context = run_template_context(run)  # once, as a walk computes it once
    return [
        _preview(_step_input(run, step, context))
        for step in journey.steps or ()
        if step.get("type") == "send"
    ]


def _preview(inp: StepInput) -> MessagePreview:
    step = inp.step
    try:
        message = send_compose(inp)
    except ComposeError as error:
        return MessagePreview(step["key"], step.get("channel") or "", error=str(error))
    return MessagePreview(
        step_key=step["key"],
        channel=message.channel,
        subject=message.subject,
        body=message.body,
        html=message.html,
        recipient=message.recipient,
        sender=message.sender,
    )


def _draft_run(journey: Journey, customer: Customer, payload: dict[str, Any]) -> Enrollment:
    """A run just triggered with ``payload``, unsaved, on an unsaved version of the
    draft (the draft is what the marketer is editing)."""
    version = JourneyVersion(
        journey=journey,
        number=journey.live_version.number if journey.live_version_id else 0,
        definition=definition_from_journey(journey),
    )
    return Enrollment(
        workspace=journey.workspace,
        journey=journey,
        version=version,
        customer=customer,
        # The shape the entry core gives a new run (journeys.entry.core).
        context={"payload": payload, "profile": {}, "tenant_id": None, "steps": {}},
    )


def _step_input(run: Enrollment, step: dict[str, Any], context: dict[str, Any]) -> StepInput:
    """What a walker gives ``step`` on its first visit."""
    now = timezone.now()
    return StepInput(
        run=run, step=step, visit=1, resumed=False, started_at=now, now=now, context=context
    )


@dataclass(frozen=True)
class DryRunAnswer:
    """What the native trigger API would answer, status and body."""

    status: int
    body: dict[str, Any]

    @property
    def pretty(self) -> str:
        return json.dumps(self.body, indent=2, ensure_ascii=False)


def entry_dry_run(*, journey: Journey, customer: Customer, payload: dict[str, Any]) -> DryRunAnswer:
    """What triggering ``journey`` for ``customer`` would answer now (the live version's
    schema, trigger conditions and entry rules), through the trigger service's dry run:
    nothing is written."""
    try:
        result = journey_trigger(
            workspace=journey.workspace,
            journey_id=journey.public_id,
            audience=Audience(customer_id=customer.public_id),
            payload=payload,
            dry_run=True,
            trigger_type=journey.trigger_type,
        )
    except DomainError as error:
        return DryRunAnswer(error.status_code, error.as_json())
    return DryRunAnswer(trigger_result_status(result), trigger_result_body(result))


@dataclass(frozen=True)
class TestSend:
    recipient: str
    subject: str
    provider_message_id: str


def send_test(
    *,
    journey: Journey,
    step_key: str,
    address: str,
    customer: Customer,
    payload: dict[str, Any],
) -> TestSend:
    """Send the e-mail of send step ``step_key``, rendered for ``customer`` and
    ``payload``, to ``address`` instead of the customer, its subject prefixed "[Test] ".

    No Message row is written: the test belongs to no run and counts against no
    frequency cap. Raises ``InvalidRequest`` naming the problem (an unknown or non-email
    step, an invalid address, a template error, a refused send)."""
    step = next((s for s in journey.steps or () if s.get("key") == step_key), None)
    if step is None or step.get("type") != "send":
        raise InvalidRequest(f"{step_key!r} is not a send step of this journey", field="step")
    if step.get("channel") != "email":
        raise InvalidRequest(
            f"step {step_key!r} sends {step.get('channel')}: only e-mail steps can be tested",
            field="step",
        )
    address = (address or "").strip()
    try:
        validate_email(address)
    except ValidationError:
        raise InvalidRequest(f"{address!r} is not an e-mail address", field="address") from None
    try:
        run = _draft_run(journey, customer, payload)
        message = send_compose(_step_input(run, step, run_template_context(run)))
    except ComposeError as error:
        raise InvalidRequest(
            f"step {step_key!r} cannot be written: {error}", field="step"
        ) from None
    subject = TEST_SUBJECT_PREFIX + message.subject
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    try:
        provider_id = message_send_test(
            to=address,
            subject=subject,
            body=message.body,
            html=message.html,
            sender=message.sender,
            message_id=f"<test.{journey.public_id}.{step_key}.{stamp}@journeys>",
        )
    except SendError as error:
        raise InvalidRequest(f"the test message was not sent: {error}", field="address") from None
    return TestSend(recipient=address, subject=subject, provider_message_id=provider_id)
