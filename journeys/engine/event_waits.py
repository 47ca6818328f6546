"""Runs waiting for an event (``wait_for_event``) woken the moment a matching one arrives.

A waiting run sleeps until its deadline (:mod:`journeys.engine.steps.wait_for_event`);
nothing polls it. Two paths wake it early, and together they miss nothing:

1. The event stream's matching (:mod:`journeys.entry.events.matching`), after the event
   is committed, wakes the runs then waiting for it (:func:`waits_wake_for`).
2. The runner, right after a walk that leaves runs waiting is committed, looks for the
   events that arrived while it walked (:func:`waits_recheck`).

An event committed before a run's wait was committed, but after the walk read the
events, is found by (2); one committed later is found by (1), which reads the runs
after the event's commit. A run leased to a worker is left to that worker's (2).

Only an event that satisfies the step's condition wakes a run (the condition evaluated
here as the step evaluates it, with the run's context), so a run waiting for its own
cart's order is never walked for another cart's. Waking sets ``wake_at`` to now for a
run still on that step and not leased, and a task walks it after the commit.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from customers.db import in_values
from customers.models import Event
from journeys.engine.context import run_template_context
from journeys.engine.steps.wait_for_event import EVENTS_EXAMINED, event_context, event_matches
from journeys.models import Enrollment, Journey, JourneyVersion, StepRun, journey_version_get

#: Journeys whose runs may be waiting (an archived journey's runs have ended).
_WAITING_STATUSES = (Journey.Status.LIVE, Journey.Status.PAUSED)


@dataclass(frozen=True, slots=True)
class Arrival:
    """An event as a wait sees it: whose, which, when received, and its context (and,
    for the exit criteria and goals of :mod:`journeys.engine.controls`, its key and
    the time it happened, as its sender says)."""

    customer_id: int
    name: str
    received_at: datetime
    event: dict[str, Any]
    pk: int = 0
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class Waiting:
    """A run waiting at a ``wait_for_event`` step since ``since``, with its context."""

    run: Enrollment
    step: dict[str, Any]
    since: datetime
    context: dict[str, Any]


def awaited_event_names(*, workspace_ids: Collection[int]) -> dict[int, set[str]]:
    """The event names that runs of these workspaces may be waiting for, by workspace:
    one query over the versions of their live and paused journeys."""
    names: dict[int, set[str]] = defaultdict(set)
    for workspace_id, awaited in (
        JourneyVersion.objects.filter(
            journey__workspace_id__in=workspace_ids, journey__status__in=_WAITING_STATUSES
        )
        .exclude(awaited_events=[])
        .values_list("journey__workspace_id", "awaited_events")
    ):
        names[workspace_id].update(awaited)
    return names


def waits_wake_for(arrivals: Sequence[Arrival]) -> list[int]:
    """Wake the runs waiting for one of ``arrivals`` that matches (path 1 of the module
    docstring); answers their ids. Call inside the transaction that marks the events
    matched: the runs are kicked after its commit."""
    if not arrivals:
        return []
    waiting = _waiting_runs(
        customer_ids={arrival.customer_id for arrival in arrivals},
        names={arrival.name for arrival in arrivals},
    )
    by_customer: dict[int, list[Arrival]] = defaultdict(list)
    for arrival in arrivals:
        by_customer[arrival.customer_id].append(arrival)
    woken = [
        each for each in waiting if _any_matches(each, by_customer.get(each.run.customer_id, ()))
    ]
    return _wake(woken)


def waits_recheck(waiting: Sequence[Waiting]) -> list[int]:
    """Wake the runs of ``waiting``, just committed as waiting, for which a matching event
    arrived while they were walked (path 2 of the module docstring); answers their ids."""
    if not waiting:
        return []
    since = min(each.since for each in waiting)
    by_customer: dict[int, list[Arrival]] = defaultdict(list)
    for event in (
        Event.objects.filter(
            in_values(Event, "customer_id", sorted({each.run.customer_id for each in waiting})),
            name__in={each.step["event"] for each in waiting},
            received_at__gte=since,
        )
        .order_by("received_at", "pk")
        .only("customer_id", "name", "properties", "timestamp", "message_id", "received_at")
    ):
        by_customer[event.customer_id].append(
            Arrival(event.customer_id, event.name, event.received_at, event_context(event))
        )
    woken = [
        each for each in waiting if _any_matches(each, by_customer.get(each.run.customer_id, ()))
    ]
    with transaction.atomic():
        return _wake(woken)


def _any_matches(waiting: Waiting, arrivals: Iterable[Arrival]) -> bool:
    name = waiting.step["event"]
    seen = 0
    for arrival in arrivals:
        if arrival.name != name or arrival.received_at < waiting.since:
            continue
        seen += 1
        if seen > EVENTS_EXAMINED:  # past what one walk looks at: let the walk decide
            return True
        if event_matches(waiting.step, waiting.context, arrival.event):
            return True
    return False


def _waiting_runs(*, customer_ids: Collection[int], names: set[str]) -> list[Waiting]:
    """The runs of these customers that are not leased and stand at a ``wait_for_event``
    step for one of ``names`` whose visit has begun, with their contexts."""
    versions = {
        pk: (public_id, number)
        for pk, public_id, number, awaited in JourneyVersion.objects.filter(
            journey__status__in=_WAITING_STATUSES
        )
        .exclude(awaited_events=[])
        .values_list("pk", "journey__public_id", "number", "awaited_events")
        if names.intersection(awaited)
    }
    if not versions:
        return []
    runs = [
        run
        for run in Enrollment.objects.select_related("customer", "journey").filter(
            in_values(Enrollment, "customer_id", sorted(customer_ids)),
            state=Enrollment.State.ACTIVE,
            lease_token__isnull=True,
            version_id__in=list(versions),
        )
        if (step := _wait_step(run, versions)) is not None and step["event"] in names
    ]
    if not runs:
        return []
    began = dict(
        StepRun.objects.filter(
            in_values(StepRun, "enrollment_id", [run.pk for run in runs]),
            finished_at__isnull=True,
        ).values_list("enrollment_id", "started_at")
    )
    # A run whose wait has not begun is due already: its first walk reads the events.
    return [
        Waiting(run, _wait_step(run, versions), began[run.pk], run_template_context(run))
        for run in runs
        if run.pk in began
    ]


def _wait_step(run: Enrollment, versions: dict[int, tuple[str, int]]) -> dict[str, Any] | None:
    """The ``wait_for_event`` step the run stands at, if it does (and sets run.version)."""
    public_id, number = versions[run.version_id]
    run.version = journey_version_get(public_id, number, run.version_id)
    step = run.version.spec.steps_by_key.get(run.current_step)
    return step if step is not None and step["type"] == "wait_for_event" else None


def _wake(woken: Sequence[Waiting]) -> list[int]:
    """Make these runs due now, those still at their wait and not leased, and have a
    worker walk them after the commit."""
    by_step: dict[str, list[int]] = defaultdict(list)
    for each in woken:
        by_step[each.step["key"]].append(each.run.pk)
    ids: list[int] = []
    for key, run_ids in by_step.items():
        # Locked, skipping those a worker is committing: its own recheck follows.
        ids.extend(
            Enrollment.objects.select_for_update(skip_locked=True)
            .filter(
                pk__in=run_ids,
                state=Enrollment.State.ACTIVE,
                lease_token__isnull=True,
                current_step=key,  # not a run that has moved on: a delay must not end early
            )
            .values_list("pk", flat=True)
        )
    if ids:
        Enrollment.objects.filter(pk__in=ids).update(wake_at=timezone.now())
        # A task walks them; the tasks walk runs, whose runner calls this module.
        from journeys.engine.tasks import runs_kick_after_commit

        runs_kick_after_commit(ids)
    return ids
