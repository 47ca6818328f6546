"""A branch: the condition picks the ``yes`` or the ``no`` step."""

from journeys.engine.steps.base import StepInput, StepResult
from segments.conditions import condition_evaluate


def branch_step(inp: StepInput) -> StepResult:
    matched = condition_evaluate(inp.step["condition"], inp.context)
    return StepResult(
        outcome="yes" if matched else "no",
        next_step=inp.step["yes"] if matched else inp.step["no"],
    )
