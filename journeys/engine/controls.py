"""A journey's exit criteria and goal (DESIGN.md section 6, ``exit`` and ``goal``),
applied to its runs as the customer's events arrive and as customers join segments.

A run follows the ``exit`` and ``goal`` of the version it entered on, as it follows
that version's steps; the runs of live and paused journeys are watched (an archived
journey's runs have ended).

- **Exit on an event.** An event of the run's customer named by one of the exit rules,
  whose condition holds, exits the customer's active run at once, whatever it is doing:
  asleep in a 30-day delay, waiting for an event, or walked by a worker right now (its
  lease is taken away, and the worker's lease watch stops its sends:
  :mod:`journeys.engine.exits`). ``exit_reason`` is :data:`EXIT_CRITERIA_REASON`; the
  visit the run was on shows :data:`EXITED_OUTCOME`. The condition is evaluated as a
  ``wait_for_event`` condition is: the run's context with the arriving event as
  ``event``, so ``event.properties.cart_id`` can be compared ``value_from:
  data.cart_id``.
- **Exit on a segment.** A customer who joins the exit segment (a static segment's
  new member, or a dynamic segment's, as the segment trigger's presence check finds
  them: :mod:`journeys.entry.segment_entries`) exits the same way. Being a member
  already when entering does not exit a run (entry conditions say who may enter).
- **Goal.** A goal event (name and condition, evaluated as above) that happened
  within ``within_seconds`` of the run's entry (``entered_at <= timestamp <= entered_at
  + within_seconds``; no ``within_seconds``: any time after entry) converts the run:
  ``converted_at`` is set to when the event happened (its ``timestamp``, never later
  than the product received it). Any run that has not converted yet can, also one that
  has completed, exited or failed; a conversion is never overwritten.

Order with entry. An event or a join applies to the runs that existed before it: a
run entered by an event is not exited (or converted) by that event, and it is by a
later event of the same match. The match enters first, then applies the controls:
a run it entered is "before" an event when its entering event came first (by key);
any other run when it entered no later than the event was received (exit) or happened
(goal). A join exits the customer's runs before the join enters them anywhere.

Costs: per match, one query for the versions whose controls name one of the events,
one for the candidate runs of exits and one for goals, then a few statements per
journey whose runs exit and one UPDATE for all conversions; never one per event. The
conditions are evaluated in Python over the batch, with each candidate run's context
built only when a rule has a condition.
"""

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case, DateTimeField, Value, When

from customers.db import in_values
from journeys.engine.context import run_template_context
from journeys.engine.event_waits import Arrival
from journeys.engine.exits import runs_exit_now
from journeys.engine.steps.wait_for_event import event_matches
from journeys.models import Enrollment, Journey, JourneyVersion, journey_version_get

#: ``exit_reason`` of a run ended by its journey's exit criteria (an event or a segment).
EXIT_CRITERIA_REASON = "exit_criteria"
#: What the visit an exited run was on shows on its timeline.
EXITED_OUTCOME = "exited"
#: Journeys whose runs the controls watch.
_WATCHED_STATUSES = (Journey.Status.LIVE, Journey.Status.PAUSED)


@dataclass(frozen=True)
class Entries:
    """The runs a match entered: at ``at`` (their ``entered_at``), each by the event
    with key ``by[(journey_id, customer_id)]``."""

    at: datetime | None = None
    by: Mapping[tuple[int, int], int] = field(default_factory=dict)

    def before(self, run: Enrollment, arrival: Arrival, happened: datetime) -> bool:
        """Whether ``run`` existed before ``arrival`` (see the module docstring)."""
        entered_by = self.by.get((run.journey_id, run.customer_id))
        if entered_by is not None and run.entered_at == self.at:
            return arrival.pk > entered_by
        return run.entered_at <= happened


@dataclass(frozen=True)
class Applied:
    """What the controls did to one batch: runs exited, runs converted."""

    exited: int = 0
    converted: int = 0


def controls_apply(
    arrivals: Sequence[Arrival], *, entries: Entries | None = None, now: datetime
) -> Applied:
    """Exit and convert the runs ``arrivals`` (events of known customers, oldest first)
    call for; call inside the match's transaction, after its entries."""
    if not arrivals:
        return Applied()
    entries = entries or Entries()
    names = {arrival.name for arrival in arrivals}
    versions = _versions_awaiting(names)
    exits = {
        pk: rules
        for pk, version in versions.items()
        if (rules := [rule for rule in _exit_rules(version) if rule["event"] in names])
    }
    goals = {
        pk: version.spec.goal
        for pk, version in versions.items()
        if version.spec.goal and version.spec.goal["event"] in names
    }
    by_customer: dict[int, list[Arrival]] = defaultdict(list)
    for arrival in arrivals:
        by_customer[arrival.customer_id].append(arrival)
    exited = _exits_apply(exits, versions, by_customer, entries, now) if exits else 0
    converted = _goals_apply(goals, versions, by_customer, entries) if goals else 0
    return Applied(exited=exited, converted=converted)


def runs_exit_on_segment_joins(
    *, workspace_id: int, segment_id: str, customer_ids: Collection[int], now: datetime
) -> int:
    """Exit the active runs of these new members of ``segment_id`` (a public id) in the
    journeys whose exit criteria name it; answers how many. Inside the join's
    transaction."""
    if not customer_ids:
        return 0
    version_ids = exit_segments_watched(workspace_ids=[workspace_id]).get(segment_id)
    if not version_ids:
        return 0
    runs = Enrollment.objects.filter(
        in_values(Enrollment, "customer_id", sorted(customer_ids)),
        version_id__in=version_ids,
    )
    exited, _ = runs_exit_now(
        runs=runs, reason=EXIT_CRITERIA_REASON, outcome=EXITED_OUTCOME, now=now
    )
    return exited


def exit_segments_watched(*, workspace_ids: Collection[int] | None = None) -> dict[str, list[int]]:
    """The segments (public ids) that exit runs of live and paused journeys, with the
    versions whose exit criteria name each: one query over the versions."""
    versions = JourneyVersion.objects.filter(
        journey__status__in=_WATCHED_STATUSES, definition__has_key="exit"
    )
    if workspace_ids is not None:
        versions = versions.filter(journey__workspace_id__in=workspace_ids)
    watched: dict[str, list[int]] = defaultdict(list)
    for pk, public_id, number in versions.values_list("pk", "journey__public_id", "number"):
        segment_id = (journey_version_get(public_id, number, pk).spec.exit or {}).get("segment_id")
        if segment_id:
            watched[segment_id].append(pk)
    return watched


# --- events -----------------------------------------------------------------------------


def _versions_awaiting(names: set[str]) -> dict[int, JourneyVersion]:
    """The versions of watched journeys whose runs may need one of ``names`` (one query;
    the versions themselves come from the per-process cache)."""
    return {
        pk: journey_version_get(public_id, number, pk)
        for pk, public_id, number, awaited in JourneyVersion.objects.filter(
            journey__status__in=_WATCHED_STATUSES
        )
        .exclude(awaited_events=[])
        .values_list("pk", "journey__public_id", "number", "awaited_events")
        if names.intersection(awaited)
    }


def _exit_rules(version: JourneyVersion) -> list[dict[str, Any]]:
    return list((version.spec.exit or {}).get("events") or ())


class _Context:
    """A run's template context, built the first time a condition needs it."""

    def __init__(self, run: Enrollment) -> None:
        self.run, self.value = run, None

    def get(self) -> dict[str, Any]:
        if self.value is None:
            self.value = run_template_context(self.run)
        return self.value


def _holds(rule: Mapping[str, Any], context: _Context, arrival: Arrival) -> bool:
    if not rule.get("condition"):
        return True
    return event_matches(dict(rule), context.get(), arrival.event)


def _exits_apply(
    exits: dict[int, list[dict[str, Any]]],
    versions: dict[int, JourneyVersion],
    by_customer: dict[int, list[Arrival]],
    entries: Entries,
    now: datetime,
) -> int:
    runs = Enrollment.objects.select_related("customer", "journey").filter(
        in_values(Enrollment, "customer_id", sorted(by_customer)),
        state=Enrollment.State.ACTIVE,
        version_id__in=list(exits),
    )
    leaving: list[int] = []
    for run in runs:
        run.version = versions[run.version_id]
        context = _Context(run)
        rules = exits[run.version_id]
        if any(
            rule["event"] == arrival.name
            and entries.before(run, arrival, arrival.received_at)
            and _holds(rule, context, arrival)
            for arrival in by_customer[run.customer_id]
            for rule in rules
        ):
            leaving.append(run.pk)
    if not leaving:
        return 0
    exited, _ = runs_exit_now(
        runs=Enrollment.objects.filter(in_values(Enrollment, "pk", leaving)),
        reason=EXIT_CRITERIA_REASON,
        outcome=EXITED_OUTCOME,
        now=now,
    )
    return exited


def _goals_apply(
    goals: dict[int, Mapping[str, Any]],
    versions: dict[int, JourneyVersion],
    by_customer: dict[int, list[Arrival]],
    entries: Entries,
) -> int:
    latest = max(arrival.timestamp or arrival.received_at for arrivals in by_customer.values()
                 for arrival in arrivals)  # fmt: skip
    runs = Enrollment.objects.select_related("customer", "journey").filter(
        in_values(Enrollment, "customer_id", sorted(by_customer)),
        version_id__in=list(goals),
        converted_at__isnull=True,
        entered_at__lte=max(latest, entries.at or latest),
    )
    windows = [goal.get("within_seconds") for goal in goals.values()]
    if None not in windows:
        # Only runs entered recently enough for an arrival to fall within their window.
        earliest = min(arrival.timestamp or arrival.received_at
                       for arrivals in by_customer.values() for arrival in arrivals)  # fmt: skip
        runs = runs.filter(entered_at__gte=earliest - timedelta(seconds=max(windows)))
    converted: dict[int, datetime] = {}
    for run in runs:
        run.version = versions[run.version_id]
        goal = goals[run.version_id]
        within = goal.get("within_seconds")
        context = _Context(run)
        for arrival in by_customer[run.customer_id]:
            happened = arrival.timestamp or arrival.received_at
            if (
                arrival.name == goal["event"]
                and entries.before(run, arrival, happened)
                and (within is None or happened <= run.entered_at + timedelta(seconds=within))
                and _holds(goal, context, arrival)
            ):
                converted[run.pk] = min(happened, arrival.received_at)
                break
    if not converted:
        return 0
    # One statement; a run converted meanwhile (another match) keeps its conversion.
    return Enrollment.objects.filter(
        in_values(Enrollment, "pk", list(converted)), converted_at__isnull=True
    ).update(
        converted_at=Case(
            *(When(pk=pk, then=Value(at)) for pk, at in converted.items()),
            output_field=DateTimeField(),
        )
    )
