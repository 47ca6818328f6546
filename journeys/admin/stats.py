"""A journey's runs counted on its admin page: how many entered, where they ended, how
many converted, and what each step did (its outcomes, e.g. sent / suppressed /
frequency_capped for a send, yes / no for a branch)."""

from collections import defaultdict

from django.contrib import admin
from django.db.models import Count
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from journeys.engine.runs import journey_run_counts
from journeys.models import Journey, StepRun


def step_outcomes(journey: Journey) -> dict[str, dict[str, int]]:
    """Per step key, how many visits ended with each outcome (one GROUP BY over the
    journey's steps; a visit still open counts under its current outcome)."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for key, outcome, number in (
        StepRun.objects.filter(enrollment__journey_id=journey.pk)
        .values_list("step_key", "outcome")
        .annotate(number=Count("pk"))
        .values_list("step_key", "outcome", "number")
    ):
        counts[key][outcome or "in progress"] = number
    return counts


class StatsAdminMixin:
    """Adds the "Runs" section of the journey page (``journeys.admin.journeys``)."""

    @admin.display(description="runs")
    def run_stats(self, journey: Journey) -> SafeString | str:
        if journey.pk is None:
            return "-"
        outcomes = step_outcomes(journey)
        steps = [
            {
                "key": step["key"],
                "type": step["type"],
                "outcomes": sorted(outcomes.get(step["key"], {}).items()),
            }
            for step in journey.steps
        ]
        return render_to_string(
            "admin/journeys/journey/run_stats.html",
            {"counts": journey_run_counts(journey=journey), "steps": steps},
        )
