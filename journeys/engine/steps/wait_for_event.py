"""Wait for an event of the customer, matching a condition, or time out.

``wait_for_event`` looks for the event every ``EVENT_POLL_INTERVAL`` until its timeout."""

from datetime import timedelta

from customers.models import Event
from journeys.engine.steps.base import StepInput, StepResult
from segments.conditions import condition_evaluate

EVENT_POLL_INTERVAL = timedelta(seconds=30)


def wait_for_event_step(inp: StepInput) -> StepResult:
    """Matched when the customer tracks the event (and the condition holds) after the
    wait began; polled until ``timeout_seconds``."""
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
