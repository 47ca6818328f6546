"""An exit step: the run ends here as exited."""

from journeys.engine.steps.base import StepInput, StepResult


def exit_step(inp: StepInput) -> StepResult:
    return StepResult(outcome="exited", exit=True)
