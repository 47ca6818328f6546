"""What each step type does: one executor per type, no persistence of its own.

An executor reads the run, the step and its template context and answers with a
:class:`StepResult`: where to go next, or to wait until a time, or to fail. The engine
(``journeys.engine``) records the result. Executors that talk to the outside world
(``send``, ``webhook``) are called only after the engine has committed the visit (and,
for a send, the Message composed by :func:`send_compose`), so their idempotency keys
survive a crash; ``throttle`` records its own pass under a lock.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction

from customers.models import ChannelIdentity, Customer
from delivery.messages import (
    Outgoing,
    SendError,
    message_attempt_count,
    message_deliver,
    message_give_up,
    message_prepare,
)
from delivery.models import Message
from delivery.outbound import OutboundError, http_request_with_retries
from delivery.templating import TemplateRenderError, template_render
from journeys.models import Enrollment, Journey, StepRun
from segments.conditions import condition_evaluate

#: Durable retries of a send or webhook step after in-process retries gave up.
RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))
#: ``wait_for_event`` looks for the event this often until its timeout.
EVENT_POLL_INTERVAL = timedelta(seconds=30)


@dataclass
class StepInput:
    run: Enrollment
    step: dict[str, Any]
    visit: int
    resumed: bool  # this visit was begun before: woken from a wait, or re-run after a crash
    started_at: datetime  # when this visit began
    now: datetime
    context: dict[str, Any]
    step_run_id: int | None = None
    message: Message | None = None  # send: the Message committed with this visit


@dataclass
class StepResult:
    outcome: str
    next_step: str | None = None
    wait_until: datetime | None = None  # stay on this visit until then
    error: str | None = None  # fail the run
    exit: bool = False
    output: Any = None  # saved as ``steps.<key>``
    message_id: int | None = None
    recorded: bool = False  # the executor already finished its StepRun itself
    context_updates: dict[str, Any] = field(default_factory=dict)


def _render(source: str | None, context: dict[str, Any]) -> str:
    return template_render(source or "", context)


def _retry_or_fail(inp: StepInput, attempts: int, error: str, retryable: bool) -> StepResult:
    if retryable and attempts <= len(RETRY_DELAYS):
        return StepResult(outcome="retrying", wait_until=inp.now + RETRY_DELAYS[attempts - 1])
    return StepResult(outcome="failed", error=error)


# --- flow ------------------------------------------------------------------------------


def branch_step(inp: StepInput) -> StepResult:
    matched = condition_evaluate(inp.step["condition"], inp.context)
    return StepResult(
        outcome="yes" if matched else "no",
        next_step=inp.step["yes"] if matched else inp.step["no"],
    )


def split_step(inp: StepInput) -> StepResult:
    """A random path, but the same one every time for this run and visit (retries)."""
    digest = hashlib.sha256(f"{inp.run.public_id}:{inp.step['key']}:{inp.visit}".encode())
    point = int(digest.hexdigest(), 16) % 10_000 / 100
    cumulative = 0.0
    paths = inp.step["paths"]
    for index, path in enumerate(paths):
        cumulative += path["percentage"]
        if point < cumulative or index == len(paths) - 1:
            return StepResult(outcome=f"path {index + 1}", next_step=path["next"])
    raise AssertionError("a split has at least one path")


def repeat_step(inp: StepInput) -> StepResult:
    if inp.visit <= inp.step["times"]:
        return StepResult(outcome=f"repeat {inp.visit}", next_step=inp.step["to"])
    return StepResult(outcome="done", next_step=inp.step["next"])


def exit_step(inp: StepInput) -> StepResult:
    return StepResult(outcome="exited", exit=True)


# --- time ------------------------------------------------------------------------------


def delay_step(inp: StepInput) -> StepResult:
    if inp.resumed:
        if inp.run.wake_at is not None and inp.run.wake_at > inp.now:
            return StepResult(outcome="waiting", wait_until=inp.run.wake_at)
        return StepResult(outcome="waited", next_step=inp.step["next"])
    try:
        until = _delay_target(inp)
    except (TemplateRenderError, ValueError) as error:
        return StepResult(outcome="failed", error=f"until: {error}")
    if until <= inp.now:
        return StepResult(outcome="no wait", next_step=inp.step["next"])
    return StepResult(outcome="waiting", wait_until=until)


def _delay_target(inp: StepInput) -> datetime:
    step = inp.step
    if step.get("until"):
        text = _render(step["until"], inp.context).strip()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_customer_zone(inp.run.customer))
        return moment + timedelta(seconds=step.get("offset_seconds") or 0)
    return inp.now + timedelta(seconds=step["seconds"])


def _customer_zone(customer: Customer) -> Any:
    try:
        return ZoneInfo(customer.timezone) if customer.timezone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def throttle_step(inp: StepInput) -> StepResult:
    """At most ``limit`` passes per ``period_seconds``, counted under a lock on the journey
    (or customer) row so that concurrent workers cannot both take the last slot."""
    step = inp.step
    since = inp.now - timedelta(seconds=step["period_seconds"])
    with transaction.atomic():
        passes = StepRun.objects.filter(
            enrollment__journey_id=inp.run.journey_id,
            step_key=step["key"],
            outcome="passed",
            finished_at__gt=since,
        )
        if step["scope"] == "customer":
            Customer.objects.select_for_update().filter(pk=inp.run.customer_id).first()
            passes = passes.filter(enrollment__customer_id=inp.run.customer_id)
        else:
            Journey.objects.select_for_update().filter(pk=inp.run.journey_id).first()
        passed = passes.count() < step["limit"]
        outcome = "passed" if passed else "throttled"
        StepRun.objects.filter(pk=inp.step_run_id).update(outcome=outcome, finished_at=inp.now)
    return StepResult(
        outcome=outcome,
        next_step=step["next"] if passed else step["throttled"],
        recorded=True,
    )


def wait_for_event_step(inp: StepInput) -> StepResult:
    """Matched when the customer tracks the event (and the condition holds) after the
    wait began; polled until ``timeout_seconds``."""
    from customers.models import Event

    step = inp.step
    started = inp.started_at
    deadline = started + timedelta(seconds=step["timeout_seconds"])
    events = Event.objects.filter(
        customer_id=inp.run.customer_id, name=step["event"], timestamp__gte=started
    ).order_by("timestamp")
    for event in events[:100]:
        event_context = {
            **inp.context,
            "event": {"name": event.name, "properties": event.properties},
        }
        if not step.get("condition") or condition_evaluate(step["condition"], event_context):
            return StepResult(
                outcome="matched",
                next_step=step["matched"],
                context_updates={"event": event_context["event"]},
            )
    if inp.now >= deadline:
        return StepResult(outcome="timed out", next_step=step["timeout"])
    return StepResult(outcome="waiting", wait_until=min(deadline, inp.now + EVENT_POLL_INTERVAL))


# --- actions ---------------------------------------------------------------------------


def update_customer_step(inp: StepInput) -> StepResult:
    try:
        changes = {
            name: _render(value, inp.context) if isinstance(value, str) else value
            for name, value in inp.step["set"].items()
        }
    except TemplateRenderError as error:
        return StepResult(outcome="failed", error=str(error))
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=inp.run.customer_id)
        customer.attributes = {**customer.attributes, **changes}
        customer.save(update_fields=["attributes", "updated_at"])
    inp.run.customer = customer
    return StepResult(outcome="updated", next_step=inp.step["next"])


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
        result = _retry_or_fail(inp, message.attempts, str(error), error.retryable)
        if result.error:
            message_give_up(message, str(error))
        result.message_id = message.pk
        return result
    return StepResult(outcome="sent", next_step=inp.step["next"], message_id=message.pk)


def _outgoing(inp: StepInput) -> Outgoing:
    step, customer = inp.step, inp.run.customer
    channel = step["channel"]
    if channel == "webhook":
        return Outgoing(
            channel=channel,
            recipient=_render(step["url"], inp.context),
            subject="",
            body=_render_body(step.get("body"), inp.context),
        )
    body = _render(step.get("body"), inp.context)
    if channel == "email":
        if not customer.email:
            raise ComposeError("customer has no email address")
        subject = _render(step.get("subject"), inp.context)
        return Outgoing(channel=channel, recipient=customer.email, subject=subject, body=body)
    number = (
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


def _render_body(body: Any, context: dict[str, Any]) -> str:
    """A webhook body: a Liquid string, or JSON whose string leaves are Liquid."""
    if body is None:
        return ""
    if isinstance(body, str):
        return _render(body, context)
    return json.dumps(_render_json(body, context))


def _render_json(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _render(value, context)
    if isinstance(value, list):
        return [_render_json(item, context) for item in value]
    if isinstance(value, dict):
        return {key: _render_json(item, context) for key, item in value.items()}
    return value


def webhook_step(inp: StepInput) -> StepResult:
    step, run = inp.step, inp.run
    try:
        url = _render(step["url"], inp.context)
        headers = {name: _render(value, inp.context) for name, value in step["headers"].items()}
        body = _render_body(step.get("body"), inp.context)
    except TemplateRenderError as error:
        return StepResult(outcome="failed", error=str(error))
    if body and not any(name.lower() == "content-type" for name in headers):
        is_json = not isinstance(step.get("body"), str)
        headers["Content-Type"] = "application/json" if is_json else "text/plain; charset=utf-8"
    attempts = (run.context.get("attempts") or {}).get(step["key"], 0) + 1
    try:
        response = http_request_with_retries(
            method=step["method"],
            url=url,
            headers=headers,
            body=body or None,
            idempotency_key=f"{run.public_id}:{step['key']}:{inp.visit}",
        )
    except OutboundError as error:
        result = _retry_or_fail(inp, attempts, f"webhook failed: {error}", error.retryable)
        result.context_updates = {"attempts": {step["key"]: attempts}}
        return result
    if response.status >= 400:
        return StepResult(outcome=str(response.status), error=f"webhook answered {response.status}")
    return StepResult(outcome=str(response.status), next_step=step["next"], output=response.json())


EXECUTORS: dict[str, Callable[[StepInput], StepResult]] = {
    "send": send_step,
    "delay": delay_step,
    "branch": branch_step,
    "split": split_step,
    "webhook": webhook_step,
    "throttle": throttle_step,
    "repeat": repeat_step,
    "update_customer": update_customer_step,
    "exit": exit_step,
    "wait_for_event": wait_for_event_step,
}

#: Steps whose visit is committed before they run: they reach the outside world, or
#: record their own outcome under a lock.
COMMIT_FIRST = frozenset({"send", "webhook", "throttle"})

#: Steps whose outcome is committed as soon as it is known, not with the rest of the
#: batch: a crash must not repeat the call of every webhook walked since the last
#: commit, nor let a throttle count one run's pass twice. (A send records its outcome
#: on its Message the moment the provider answers.)
RECORD_AT_ONCE = frozenset({"webhook", "throttle"})
