"""What every step executor shares: its input, its result, rendering and retries."""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from delivery.models import Message
from delivery.services import RenderBudget, template_render
from journeys.models import Enrollment

#: Durable retries of a send or webhook step after in-process retries gave up.
RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))


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


def render(source: str | None, context: dict[str, Any], budget: RenderBudget | None = None) -> str:
    """Render one template; with a ``budget``, one of several a step renders together."""
    if budget is None:
        return template_render(source or "", context)
    return budget.render(source or "", context)


def retry_or_fail(inp: StepInput, attempts: int, error: str, retryable: bool) -> StepResult:
    if retryable and attempts <= len(RETRY_DELAYS):
        return StepResult(outcome="retrying", wait_until=inp.now + RETRY_DELAYS[attempts - 1])
    return StepResult(outcome="failed", error=error)


def render_body(body: Any, context: dict[str, Any], budget: RenderBudget) -> str:
    """A webhook body: a Liquid string, or JSON whose string leaves are Liquid (all of
    them counted against the step's one ``budget``)."""
    if body is None:
        return ""
    if isinstance(body, str):
        return render(body, context, budget)
    return json.dumps(render_json(body, context, budget))


def render_json(value: Any, context: dict[str, Any], budget: RenderBudget) -> Any:
    if isinstance(value, str):
        return render(value, context, budget)
    if isinstance(value, list):
        return [render_json(item, context, budget) for item in value]
    if isinstance(value, dict):
        return {key: render_json(item, context, budget) for key, item in value.items()}
    return value
