"""Matching stored events with the live journeys they trigger, a batch at a time.

The events endpoints store events and answer; matching them runs after the commit, in
the ``events_match`` task, and beat runs the same task every few seconds as the safety
net. An event waits with ``matched_at`` NULL until a match that took it commits, so a
lost task message, a worker killed mid-match or a broker outage delays matching and
never loses an event: the database holds the state, tasks carry the work, as with the
engine's runs.

A match takes up to :data:`MATCH_BATCH` waiting events, oldest first, with ``FOR UPDATE
SKIP LOCKED`` (workers share a backlog without taking the same event twice), and in the
same transaction:

1. reads the live event-triggered journeys of the events' workspaces (one query);
2. per journey, keeps the events of its trigger's name whose trigger conditions hold,
   evaluated in Python over the batch in memory (they read the event: ``event.name``,
   ``event.properties.x``, and its properties as ``data.x``), and of those each
   customer's first: one customer enters a journey once per batch;
3. enrolls those customers through the entry core, in one statement per journey: the
   entry rules, the entry conditions compiled to SQL (a leaf on the event folded per
   distinct answer), each run with its event as ``event`` and its properties as the
   payload (``data``, ``api.payload``);
4. applies the journeys' exit criteria and goals (:mod:`journeys.engine.controls`):
   exits the active runs an exit event of their customer ends, converts the runs a
   goal event counts for. After the entries, and only to the runs that existed before
   each event: a run entered by an event is not exited by it, a later one exits it;
5. wakes the runs waiting for one of the events (``wait_for_event``) whose condition
   it satisfies (:func:`journeys.engine.event_waits.waits_wake_for`);
6. marks the batch matched.

So a match costs a fixed number of statements per journey, never one per event.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from customers.db import in_values
from customers.models import Customer, Event, Workspace
from customers.selectors import active_customers
from journeys.engine.controls import Entries, controls_apply
from journeys.engine.event_waits import Arrival, waits_wake_for
from journeys.engine.tasks import ADVANCE_BATCH
from journeys.entry.core import entry_constants, journey_enroll
from journeys.entry.selectors import TriggerTarget, event_journeys_live
from segments.conditions import condition_evaluate

#: Events one match takes: a full batch of the events API.
MATCH_BATCH = 10_000


@dataclass(frozen=True)
class MatchResult:
    """What one match did: events matched, runs started, and whether more may wait."""

    events: int = 0
    runs: int = 0
    more: bool = False


@dataclass(frozen=True, slots=True)
class _Waiting:
    pk: int
    workspace_id: int
    customer_id: int | None
    name: str
    properties: Any
    timestamp: datetime
    message_id: str | None
    received_at: datetime

    def as_context(self) -> dict[str, Any]:
        """The event as conditions and templates read it (``event.properties.x``)."""
        return {
            "name": self.name,
            "properties": self.properties if isinstance(self.properties, dict) else {},
            "timestamp": self.timestamp.isoformat(),
            "message_id": self.message_id,
        }


def events_match(*, limit: int = MATCH_BATCH, now: datetime | None = None) -> MatchResult:
    """Match up to ``limit`` waiting events (see the module docstring)."""
    now = now or timezone.now()
    with transaction.atomic():
        waiting = [
            _Waiting(*row)
            for row in Event.objects.filter(matched_at__isnull=True)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list(
                "pk",
                "workspace_id",
                "customer_id",
                "name",
                "properties",
                "timestamp",
                "message_id",
                "received_at",
            )[:limit]
        ]
        if not waiting:
            return MatchResult()
        by_workspace: dict[int, list[_Waiting]] = defaultdict(list)
        for event in waiting:
            by_workspace[event.workspace_id].append(event)
        journeys = event_journeys_live(workspace_ids=list(by_workspace))
        runs = 0
        entered_by: dict[tuple[int, int], int] = {}
        for workspace_id, events in by_workspace.items():
            for target in journeys.get(workspace_id, ()):
                count, chosen = _journey_enter(target, events, now)
                runs += count
                if count:
                    entered_by.update(
                        ((target.journey.pk, customer_id), pk) for customer_id, pk in chosen.items()
                    )
        arrivals = [
            Arrival(
                event.customer_id,
                event.name,
                event.received_at,
                event.as_context(),
                pk=event.pk,
                timestamp=event.timestamp,
            )
            for event in waiting
            if event.customer_id is not None
        ]
        controls_apply(arrivals, entries=Entries(at=now, by=entered_by), now=now)
        waits_wake_for(arrivals)
        Event.objects.filter(in_values(Event, "pk", [event.pk for event in waiting])).update(
            matched_at=now
        )
    return MatchResult(events=len(waiting), runs=runs, more=len(waiting) == limit)


def _journey_enter(
    target: TriggerTarget, events: list[_Waiting], now: datetime
) -> tuple[int, dict[int, int]]:
    """Enroll the customers whose events trigger ``target``; answers how many runs, and
    the event each customer's run would enter by (customer key to event key)."""
    trigger = target.version.spec.trigger
    chosen: dict[int, dict[str, Any]] = {}
    keys: dict[int, int] = {}
    for event in events:
        if event.name != trigger.event or event.customer_id is None:
            continue
        if event.customer_id in chosen:
            continue
        context = event.as_context()
        if trigger.conditions and not condition_evaluate(
            trigger.conditions, entry_constants(payload=context["properties"], event=context)
        ):
            continue
        chosen[event.customer_id] = context
        keys[event.customer_id] = event.pk
    if not chosen:
        return 0, keys
    workspace = Workspace(pk=target.journey.workspace_id)
    result = journey_enroll(
        journey=target.journey,
        version=target.version,
        customers=active_customers(workspace).filter(in_values(Customer, "pk", list(chosen))),
        payload={},
        payloads={pk: event["properties"] for pk, event in chosen.items()},
        events=chosen,
        # A few runs are handed to a worker by id, at once; more go to the sweep's pulls.
        return_runs=len(chosen) <= ADVANCE_BATCH,
        now=now,
    )
    return result.enrolled_count, keys
