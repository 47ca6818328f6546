"""A repeat: go back to an earlier step ``times`` times, then on."""

from journeys.engine.steps.base import StepInput, StepResult


def repeat_step(inp: StepInput) -> StepResult:
    if inp.visit <= inp.step["times"]:
        return StepResult(outcome=f"repeat {inp.visit}", next_step=inp.step["to"])
    return StepResult(outcome="done", next_step=inp.step["next"])
