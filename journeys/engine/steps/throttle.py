"""A throttle: at most ``limit`` runs pass per period, journey-wide or per customer."""

from datetime import timedelta

from django.db import transaction

from customers.models import Customer
from journeys.engine.steps.base import StepInput, StepResult
from journeys.models import Journey, StepRun


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
