"""A send step: compose the message before the visit commits, deliver it after.

The Message row is committed with the visit, so its idempotency key survives a crash
and a message already sent is never sent twice."""

from customers.models import ChannelIdentity
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


def send_idempotency_key(inp: StepInput) -> str:
    return f"{inp.run.public_id}:{inp.step['key']}:{inp.visit}"


def send_compose(inp: StepInput) -> Message:
    """The unsaved Message a send step will deliver: rendered before its visit begins,
    so that the engine commits the row together with the visit."""
    try:
        outgoing = _outgoing(inp)
    except TemplateRenderError as error:
        raise ComposeError(str(error)) from error
    return Message(
        workspace_id=inp.run.workspace_id,
        customer_id=inp.run.customer_id,
        attempts=1,  # counted by the commit that writes the row, just before the send
        idempotency_key=send_idempotency_key(inp),
        channel=outgoing.channel,
        recipient=outgoing.recipient,
        subject=outgoing.subject,
        body=outgoing.body,
    )


def send_step(inp: StepInput) -> StepResult:
    """Deliver the visit's Message (committed with the visit); a message already sent
    before a crash is not sent again.

    The first attempt was counted when the row was written; a visit resumed (a retry,
    or a re-run after its worker died) counts its attempt before it starts, and gives
    up once the attempts a send may take are spent.
    """
    message = inp.message
    if message is None:
        # A visit begun without its Message (by an older release): write it now.
        try:
            composed = send_compose(inp)
        except ComposeError as error:
            return StepResult(outcome="failed", error=str(error))
        message = message_prepare(composed)
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


def _outgoing(inp: StepInput) -> Outgoing:
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
    body = render(step.get("body"), inp.context, budget)
    if channel == "email":
        email = _profile_contact(inp, "email") or customer.email
        if not email:
            raise ComposeError("customer has no email address")
        subject = render(step.get("subject"), inp.context, budget)
        return Outgoing(channel=channel, recipient=email, subject=subject, body=body)
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
