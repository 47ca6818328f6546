"""Wait for an event of the customer that matches a condition, or time out.

The wait counts the customer's events of the step's name that the product received
after the wait began (server time, so a client's clock cannot hide one), oldest first;
the first whose condition holds takes the ``matched`` path and becomes the run's
``event``. The condition sees the run's context with that event as ``event``, so it can
compare the two (``event.properties.cart_id`` ``eq`` ``value_from: data.cart_id``).

No polling: the run sleeps until its deadline, and an arriving event that matches wakes
it at once (:mod:`journeys.engine.event_waits`, from the event stream's matching and
after each walk that parks a run here).
"""

from datetime import datetime, timedelta
from typing import Any

from customers.models import Event
from journeys.engine.steps.base import StepInput, StepResult
from segments.conditions import condition_evaluate

#: The events one walk looks at: the first of them that matches wins, and a wait that
#: saw this many without a match is woken again by the next one.
EVENTS_EXAMINED = 100


def wait_for_event_step(inp: StepInput) -> StepResult:
    """Matched when a matching event arrived after the wait began; timed out at
    ``timeout_seconds``; otherwise asleep until then."""
    step = inp.step
    deadline = inp.started_at + timedelta(seconds=step["timeout_seconds"])
    for event in events_since(inp.run.customer_id, step["event"], inp.started_at):
        found = event_context(event)
        if event_matches(step, inp.context, found):
            return StepResult(
                outcome="matched", next_step=step["matched"], context_updates={"event": found}
            )
    if inp.now >= deadline:
        return StepResult(outcome="timed out", next_step=step["timeout"])
    return StepResult(outcome="waiting", wait_until=deadline)


def events_since(customer_id: int, name: str, since: datetime) -> list[Event]:
    """The customer's events of ``name`` received since ``since``, oldest first."""
    return list(
        Event.objects.filter(customer_id=customer_id, name=name, received_at__gte=since)
        .order_by("received_at", "pk")
        .only("name", "properties", "timestamp", "message_id")[:EVENTS_EXAMINED]
    )


def event_context(event: Event) -> dict[str, Any]:
    """The event as the condition and the run's later steps read it."""
    return {
        "name": event.name,
        "properties": event.properties if isinstance(event.properties, dict) else {},
        "timestamp": event.timestamp.isoformat(),
        "message_id": event.message_id,
    }


def event_matches(step: dict[str, Any], context: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether ``event`` (as :func:`event_context` gives it) satisfies the step."""
    condition = step.get("condition")
    return not condition or condition_evaluate(condition, {**context, "event": event})
