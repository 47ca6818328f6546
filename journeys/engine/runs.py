"""Reading runs: one run with its timeline, as ``GET runs/{run_id}`` shows it."""

from typing import Any

from django.db.models import Prefetch

from customers.errors import NotFound
from customers.models import Workspace
from journeys.models import Enrollment, StepRun


def run_get(*, workspace: Workspace, run_id: str) -> Enrollment:
    run = (
        Enrollment.objects.select_related("journey", "version", "customer")
        .prefetch_related(Prefetch("step_runs", queryset=StepRun.objects.select_related("message")))
        .filter(workspace=workspace, public_id=run_id)
        .first()
    )
    if run is None:
        raise NotFound("run not found", run_id=run_id)
    return run


def run_as_json(run: Enrollment) -> dict[str, Any]:
    return {
        "id": run.public_id,
        "journey_id": run.journey.public_id,
        "journey_version": run.version.number,
        "customer_id": run.customer.public_id,
        "state": run.state,
        "current_step": run.current_step or None,
        "wake_at": run.wake_at,
        "entered_at": run.entered_at,
        "finished_at": run.finished_at,
        "exit_reason": run.exit_reason or None,
        "error": run.error or None,
        "timeline": [
            {
                "step": step.step_key,
                "type": step.step_type,
                "visit": step.visit,
                "started_at": step.started_at,
                "finished_at": step.finished_at,
                "outcome": step.outcome or None,
                "error": step.error or None,
                "message_id": step.message.public_id if step.message else None,
            }
            for step in run.step_runs.all()
        ],
    }
