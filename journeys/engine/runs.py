"""Reading runs: one run with its timeline (``GET runs/{run_id}``), the workspace's
runs, newest first (``GET runs``), and a journey's runs counted (``GET
journeys/{id}/stats``)."""

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from customers.errors import InvalidRequest, NotFound
from customers.models import Customer, Workspace
from journeys.models import Enrollment, Journey, StepRun


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


def runs_list(
    *,
    workspace: Workspace,
    journey_id: str | None = None,
    customer_id: str | None = None,
    state: str | None = None,
) -> QuerySet[Enrollment]:
    """The workspace's runs, of one journey, one customer and/or in one state; the
    caller orders and pages them (newest first: ``enrollment_listing_idx``).

    A journey or customer id the workspace does not have is a 404 naming its kind, as
    everywhere else, rather than an empty list that would hide a typo.
    """
    runs = Enrollment.objects.filter(workspace=workspace)
    if journey_id is not None:
        journey = Journey.objects.filter(workspace=workspace, public_id=journey_id).first()
        if journey is None:
            raise NotFound("journey not found", journey_id=journey_id)
        runs = runs.filter(journey_id=journey.pk)
    if customer_id is not None:
        customer = Customer.objects.filter(workspace=workspace, public_id=customer_id).first()
        if customer is None:
            raise NotFound("customer not found", customer_id=customer_id)
        runs = runs.filter(customer_id=customer.pk)
    if state is not None:
        if state not in Enrollment.State.values:
            raise InvalidRequest(
                f"state: must be one of {', '.join(Enrollment.State.values)} (got {state!r})",
                field="state",
            )
        runs = runs.filter(state=state)
    return runs.select_related("journey", "version", "customer")


def run_summary_as_json(run: Enrollment) -> dict[str, Any]:
    """A run without its timeline, as lists show it."""
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
        "converted_at": run.converted_at,
        "error": run.error or None,
        "cancellation_key": run.cancellation_key,
    }


def run_as_json(run: Enrollment) -> dict[str, Any]:
    return {
        **run_summary_as_json(run),
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


def journey_run_counts(*, journey: Journey) -> dict[str, Any]:
    """A journey's runs counted, all versions together: entered (every run), by state,
    and converted (``converted_at`` set, in any state), with the conversion rate
    (converted / entered; null before anyone entered). One aggregate over the
    journey's runs."""
    states = {state: Count("pk", filter=Q(state=state)) for state in Enrollment.State.values}
    counts = Enrollment.objects.filter(journey_id=journey.pk).aggregate(
        entered=Count("pk"), **states, converted=Count("pk", filter=Q(converted_at__isnull=False))
    )
    entered = counts["entered"]
    return {
        **counts,
        "conversion_rate": round(counts["converted"] / entered, 4) if entered else None,
    }
