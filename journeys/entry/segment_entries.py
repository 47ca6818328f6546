"""Segment triggers: a customer who newly joins a segment enters the journeys it triggers.

- A static segment's new members are the rows its ``members add`` inserts: they enter
  in the same transaction, one statement per journey however many were added (a list
  of 100,000 enters in one).
- A dynamic segment has no rows: who matches it changes with the customers. For the
  dynamic segments a live segment-triggered journey watches, the customers seen
  matching are kept (``SegmentPresence``). When customers change (an identify, an
  update, a batch of tracked identifies), a task compares them with the segment:
  those who now match and were not seen are added and enter; those seen who no longer
  match are removed, so that matching again is joining again (and the entry rules
  decide whether they re-enter). One set-based statement per segment and journey.
- Beat reconciles every watched dynamic segment once a minute: whatever a lost task
  missed enters then. When a journey starts watching a dynamic segment nobody watched,
  its current members are recorded without entering: only new members enter.

Runs enter with an empty payload; templates read the customer (``customer.*``).

The same joins end runs: a segment that a journey's exit criteria name (``exit.
segment_id``, :mod:`journeys.engine.controls`) is watched the same way, and its
joiners' active runs of that journey exit, before the join enters anyone anywhere (a
run entered by a join is not exited by it).
"""

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from customers.db import in_values
from customers.models import Customer, Workspace
from customers.selectors import active_customers
from journeys.engine.controls import exit_segments_watched, runs_exit_on_segment_joins
from journeys.entry.core import journey_enroll
from journeys.entry.selectors import TriggerTarget
from journeys.models import Journey, journey_version_get
from segments.conditions import condition_to_q
from segments.models import Segment, SegmentPresence


def segment_journeys_live(
    *, workspace_ids: Collection[int] | None = None
) -> dict[str, list[TriggerTarget]]:
    """The live segment-triggered journeys (of these workspaces), by segment public id."""
    journeys = Journey.objects.filter(
        status=Journey.Status.LIVE,
        trigger_type=Journey.TriggerType.SEGMENT,
        live_version__isnull=False,
    ).select_related("live_version")
    if workspace_ids is not None:
        journeys = journeys.filter(workspace_id__in=workspace_ids)
    targets: dict[str, list[TriggerTarget]] = defaultdict(list)
    for journey in journeys:
        live = journey.live_version
        version = journey_version_get(journey.public_id, live.number, live.pk)
        segment_id = version.spec.trigger.segment_id
        if version.spec.trigger.type == Journey.TriggerType.SEGMENT and segment_id:
            targets[segment_id].append(TriggerTarget(journey, version))
    return targets


def segment_joins_apply(
    segment: Segment,
    customer_ids: Sequence[int],
    targets: Sequence[TriggerTarget] | None = None,
) -> int:
    """New members of ``segment``: exit their runs that the segment's joiners leave,
    then enter them into the journeys it triggers (:func:`segment_joins_enter`);
    answers how many runs started. Inside the join's transaction."""
    if not customer_ids:
        return 0
    runs_exit_on_segment_joins(
        workspace_id=segment.workspace_id,
        segment_id=segment.public_id,
        customer_ids=customer_ids,
        now=timezone.now(),
    )
    return segment_joins_enter(segment, customer_ids, targets)


def segment_joins_enter(
    segment: Segment,
    customer_ids: Sequence[int],
    targets: Sequence[TriggerTarget] | None = None,
) -> int:
    """Enter these new members of ``segment`` into the journeys it triggers (``targets``
    when the caller has read them); answers how many runs started."""
    if not customer_ids:
        return 0
    if targets is None:
        live = segment_journeys_live(workspace_ids=[segment.workspace_id])
        targets = live.get(segment.public_id, ())
    if not targets:
        return 0
    customers = active_customers(Workspace(pk=segment.workspace_id)).filter(
        in_values(Customer, "pk", list(customer_ids))
    )
    return sum(
        journey_enroll(
            journey=target.journey,
            version=target.version,
            customers=customers,
            payload={},
        ).enrolled_count
        for target in targets
    )


def segment_presence_check(*, workspace_id: int, customer_ids: Sequence[int]) -> int:
    """Changed customers against the watched dynamic segments of their workspace: the
    new members enter (module docstring); answers how many runs started."""
    journeys = segment_journeys_live(workspace_ids=[workspace_id])
    exits = exit_segments_watched(workspace_ids=[workspace_id])
    watched = _dynamic({*journeys, *exits}, workspace_ids=[workspace_id])
    if not watched:
        return 0
    scope = Customer.objects.filter(in_values(Customer, "pk", list(customer_ids)))
    with transaction.atomic():
        joins = [(segment, _presence_update(segment, scope)) for segment in watched]
        # Every exit first, then every entry: a customer who joins one segment that
        # triggers a journey and another that exits it, in one change, keeps the new
        # run whatever order the segments come in (a join never exits the run it enters).
        now = timezone.now()
        for segment, joined in joins:
            if joined:
                runs_exit_on_segment_joins(
                    workspace_id=segment.workspace_id,
                    segment_id=segment.public_id,
                    customer_ids=joined,
                    now=now,
                )
        return sum(
            segment_joins_enter(segment, joined, journeys.get(segment.public_id, ()))
            for segment, joined in joins
        )


def segment_presence_reconcile(*, enter: bool = True) -> int:
    """Every watched dynamic segment against all its workspace's customers; with
    ``enter``, the new members found enter (beat's safety net); answers how many."""
    journeys = segment_journeys_live()
    joined = 0
    for segment in _dynamic({*journeys, *exit_segments_watched()}):
        with transaction.atomic():
            everyone = Customer.objects.filter(workspace=segment.workspace_id)
            new = _presence_update(segment, everyone)
            if enter:
                joined += segment_joins_apply(segment, new, journeys.get(segment.public_id, ()))
            else:
                joined += len(new)
    return joined


def segment_watch_start(*, journey: Journey, segment_id: str) -> None:
    """A journey goes live on ``segment_id`` (its trigger's or its exit criteria's): if
    it is a dynamic segment nothing watches yet, record who matches it now (they are
    members already, not joiners). Inside the publishing transaction, before the new
    version is made."""
    segment = Segment.objects.filter(
        workspace_id=journey.workspace_id, public_id=segment_id, kind=Segment.Kind.DYNAMIC
    ).first()
    if segment is None:
        return
    others = [
        target
        for target in segment_journeys_live(workspace_ids=[journey.workspace_id]).get(
            segment_id, ()
        )
        if target.journey.pk != journey.pk
    ]
    if not others and segment_id not in exit_segments_watched(workspace_ids=[journey.workspace_id]):
        _presence_update(segment, Customer.objects.filter(workspace=journey.workspace_id))


def _dynamic(
    watched: Collection[str], *, workspace_ids: Collection[int] | None = None
) -> list[Segment]:
    """The dynamic segments among ``watched`` (public ids)."""
    if not watched:
        return []
    segments = Segment.objects.filter(public_id__in=list(watched), kind=Segment.Kind.DYNAMIC)
    if workspace_ids is not None:
        segments = segments.filter(workspace_id__in=workspace_ids)
    return list(segments.order_by("pk"))


def _presence_update(segment: Segment, scope: QuerySet[Customer]) -> list[int]:
    """Among ``scope``, forget who no longer matches ``segment`` and record who newly
    does; answers the newly recorded (two statements, whatever the scope's size)."""
    scope = scope.filter(workspace_id=segment.workspace_id)
    matching = active_customers(Workspace(pk=segment.workspace_id)).filter(
        condition_to_q(segment.conditions), pk__in=scope.values("pk")
    )
    SegmentPresence.objects.filter(segment=segment, customer__in=scope.values("pk")).exclude(
        customer__in=matching.values("pk")
    ).delete()
    return _presence_insert(segment, matching, timezone.now())


def _presence_insert(segment: Segment, matching: QuerySet[Customer], now: datetime) -> list[int]:
    """``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING``: the rows it made are
    the joiners, decided by the unique index, so two concurrent checks never both
    count the same customer."""
    table = connection.ops.quote_name(SegmentPresence._meta.db_table)
    source, params = matching.order_by().values_list("id").query.sql_with_params()
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        # ``WHERE true``: SQLite needs it to read ON CONFLICT after a SELECT.
        cursor.execute(
            f"INSERT INTO {table} (segment_id, customer_id, since)"
            f" SELECT %s, m.id, %s FROM ({source}) AS m WHERE true"
            " ON CONFLICT (segment_id, customer_id) DO NOTHING RETURNING customer_id",
            [segment.pk, adapt(now), *params],
        )
        return [customer_id for (customer_id,) in cursor.fetchall()]
