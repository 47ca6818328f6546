"""A delay: wait a number of seconds, or until a (rendered) moment plus an offset."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from customers.models import Customer
from delivery.services import TemplateRenderError
from journeys.engine.steps.base import StepInput, StepResult, render


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
        text = render(step["until"], inp.context).strip()
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
