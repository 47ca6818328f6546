"""A send step: compose the message before the visit commits, deliver it after.

The Message row is committed with the visit, so its idempotency key survives a crash
and a message already sent is never sent twice."""

from email.utils import formataddr
from typing import Any

from customers.ids import PublicId
from customers.models import ChannelIdentity
from delivery.consent import unsubscribe_url
from delivery.html_text import html_to_text
from delivery.models import Message
from delivery.services import (
    Outgoing,
    RenderBudget,
    SendError,
    TemplateRenderError,
    message_attempt_count,
    message_deliver,
    message_give_up,
    message_prepare,
)
from journeys.engine.steps.base import (
    RETRY_DELAYS,
    StepInput,
    StepResult,
    render,
    render_body,
    retry_or_fail,
)


class ComposeError(Exception):
    """A message cannot be written: a template failed or the customer has no address."""


#: A message's public id, made before its content: its unsubscribe link names it.
message_public_id_new = PublicId("msg")


def send_idempotency_key(inp: StepInput) -> str:
    return f"{inp.run.public_id}:{inp.step['key']}:{inp.visit}"


def send_compose(inp: StepInput) -> Message:
    """The unsaved Message a send step will deliver: rendered before its visit begins,
    so that the engine commits the row together with the visit (and the send gate,
    :mod:`delivery.send_gate`, decides in that commit whether it may go at all)."""
    public_id = message_public_id_new()
    try:
        outgoing = _outgoing(inp, public_id)
    except TemplateRenderError as error:
        raise ComposeError(str(error)) from error
    step = inp.step
    return Message(
        public_id=public_id,
        workspace_id=inp.run.workspace_id,
        customer_id=inp.run.customer_id,
        attempts=1,  # counted by the commit that writes the row, just before the send
        idempotency_key=send_idempotency_key(inp),
        channel=outgoing.channel,
        recipient=outgoing.recipient,
        subject=outgoing.subject,
        body=outgoing.body,
        html=outgoing.html,
        sender=outgoing.sender,
        transactional=bool(step.get("transactional")),
        topic=step.get("topic") or "",
        run_public_id=inp.run.public_id,
        step_key=step["key"],
    )


def send_step(inp: StepInput) -> StepResult:
    """Deliver the visit's Message (committed with the visit); a message already sent
    before a crash is not sent again.

    The first attempt was counted when the row was written; a visit resumed (a retry,
    or a re-run after its worker died) counts its attempt before it starts, and gives
    up once the attempts a send may take are spent.
    """
    message = inp.message
    if message is not None and message.status in Message.WITHHELD:
        # The send gate withheld it (suppressed, frequency capped): the run goes on.
        return StepResult(outcome=message.status, next_step=inp.step["next"], message_id=message.pk)
    if message is None:
        # A visit begun without its Message (by an older release): write it now.
        try:
            composed = send_compose(inp)
        except ComposeError as error:
            return StepResult(outcome="failed", error=str(error))
        message = message_prepare(composed)
        if message.status in Message.WITHHELD:
            return StepResult(
                outcome=message.status, next_step=inp.step["next"], message_id=message.pk
            )
    if inp.resumed and message.status == Message.Status.PENDING:
        if message.attempts > len(RETRY_DELAYS):
            error = f"gave up after {message.attempts} attempts"
            message_give_up(message, error)
            return StepResult(outcome="failed", error=error, message_id=message.pk)
        message_attempt_count(message)
    try:
        message_deliver(message)
    except SendError as error:
        result = retry_or_fail(inp, message.attempts, str(error), error.retryable)
        if result.error:
            message_give_up(message, str(error))
        result.message_id = message.pk
        return result
    return StepResult(outcome="sent", next_step=inp.step["next"], message_id=message.pk)


def _profile_contact(inp: StepInput, name: str) -> str | None:
    """A contact the trigger's profile gave this run (Courier's ``profile.email``,
    ``profile.phone_number``): it wins over the customer's own, for this run only."""
    value = (inp.run.context.get("profile") or {}).get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _outgoing(inp: StepInput, public_id: str) -> Outgoing:
    step, customer = inp.step, inp.run.customer
    channel = step["channel"]
    budget = RenderBudget()
    if channel == "webhook":
        return Outgoing(
            channel=channel,
            recipient=render(step["url"], inp.context, budget),
            subject="",
            body=render_body(step.get("body"), inp.context, budget),
        )
    context = _with_unsubscribe_url(inp, public_id)
    if channel == "email":
        email = _profile_contact(inp, "email") or customer.email
        if not email:
            raise ComposeError("customer has no email address")
        subject = render(step.get("subject"), context, budget)
        html = budget.render(step["html"], context, html=True) if step.get("html") else ""
        body = render(step["body"], context, budget) if step.get("body") else html_to_text(html)
        return Outgoing(
            channel=channel,
            recipient=email,
            subject=subject,
            body=body,
            html=html,
            sender=_sender(inp),
        )
    body = render(step.get("body"), context, budget)
    number = _profile_contact(inp, "phone_number") or (
        ChannelIdentity.objects.filter(customer=customer, channel_type=channel)
        .values_list("channel_id", flat=True)
        .first()
    )
    if channel == "whatsapp" and number is None:
        number = (
            ChannelIdentity.objects.filter(customer=customer, channel_type="sms")
            .values_list("channel_id", flat=True)
            .first()
        )
    number = number or customer.attributes.get("phone")
    if not number:
        raise ComposeError(f"customer has no {channel} number")
    return Outgoing(channel=channel, recipient=str(number), subject="", body=body)


def _with_unsubscribe_url(inp: StepInput, public_id: str) -> dict[str, Any]:
    """The context, with ``unsubscribe_url`` when the step's templates use it (signing a
    link for every message that does not show it would be wasted work)."""
    step = inp.step
    if not any("unsubscribe_url" in (step.get(name) or "") for name in ("subject", "body", "html")):
        return inp.context
    return {**inp.context, "unsubscribe_url": unsubscribe_url(public_id)}


def _sender(inp: StepInput) -> str:
    """``Name <address>`` of the step's sender, else the journey's, else the workspace's;
    blank for the configured ``DEFAULT_FROM_EMAIL``."""
    sender = inp.step.get("sender") or inp.run.version.spec.sender
    if sender:
        return formataddr((sender.get("name") or "", sender["email"]))
    workspace = inp.run.workspace
    if workspace.sender_email:
        return formataddr((workspace.sender_name, workspace.sender_email))
    return ""
