"""Claims: how a worker takes due runs, fairly across journeys, in time it cannot outgrow.

A run is due when it is active and ``wake_at <= now``. Claiming a run gives it a lease
(a token and an expiry) *and moves its ``wake_at`` to that expiry*, so a claimed run
leaves the due set at once: the next claim does not walk past it, however many runs
are leased, and a run whose worker died becomes due again, by the same index, the
moment its lease lapses. Nobody reads a lease to decide whether a run is due.

The index ``enrollment_due_per_journey_idx`` (``journey, wake_at`` over active runs)
serves both halves of a claim on PostgreSQL, in one statement:

1. which live journeys have due runs, the most overdue first (one index probe each;
   paused journeys are never looked at, so their held runs cost nothing);
2. an equal share of the batch from each of them, oldest first, taken with
   ``FOR UPDATE SKIP LOCKED`` so concurrent workers never take the same run.

The share is what makes a burst fair: a journey with a million runs due gets its share
of each batch, and a journey with one run due is served in the very next batch instead
of after the million (as long as fewer journeys than a batch holds are due at once;
beyond that, the most overdue go first). What a small journey leaves of its share goes
to the others in a second pass. SQLite (the embedded default, one writer at a time)
takes the same shares with one query per journey.

Each claim also counts one more walk attempt on its runs (``walk_attempts``; a step taken
sets it back to 0): a run whose walks keep failing, even by killing their worker, is
failed after a few (:mod:`journeys.engine.failures`).

A claim remembers when each run fell due (its ``wake_at`` before the claim): the walker
resumes a delay with that, not with the lease's expiry.
"""

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from journeys.engine.leases import lease_duration
from journeys.models import Enrollment, Journey


@dataclass(frozen=True)
class Claim:
    """Runs leased to one worker under one token."""

    token: uuid.UUID
    #: Each claimed run's primary key, and when it fell due (its ``wake_at`` before).
    due_at: dict[int, datetime] = field(default_factory=dict)
    #: Some journey gave its full share: more of its runs may be due.
    more: bool = False

    @property
    def run_ids(self) -> list[int]:
        return list(self.due_at)

    def only(self, run_ids: list[int]) -> "Claim":
        """The same lease over some of its runs (for walking a part)."""
        return Claim(self.token, {pk: self.due_at[pk] for pk in run_ids if pk in self.due_at})

    def __len__(self) -> int:
        return len(self.due_at)


#: A journey with fewer due runs than its share leaves the rest of the batch to the
#: others: a second pass (in the same transaction, one statement) splits it among those
#: that filled their share, and so on.
CLAIM_PASSES = 3

#: (run, fell due at, journey, the pass's share per journey)
_Row = tuple[int, datetime, int, int]


def runs_claim_due(*, limit: int, now: datetime | None = None) -> Claim:
    """Lease up to ``limit`` due runs of live journeys: an equal share from each of the
    (at most ``limit``) most overdue journeys, each journey's oldest first, and what
    the smaller ones leave to the others."""
    now = now or timezone.now()
    token = uuid.uuid4()
    until = now + lease_duration()
    claim_pass = (
        _claim_due_postgresql if connection.vendor == "postgresql" else _claim_due_one_writer
    )
    rows: list[_Row] = []
    more = False
    with transaction.atomic():
        for _ in range(CLAIM_PASSES):
            taken = claim_pass(token, now, until, limit - len(rows))
            rows.extend(taken)
            more = _some_journey_filled_its_share(taken)
            if not more or len(rows) >= limit:
                break
    return Claim(token, {pk: due for pk, due, _, _ in rows}, more=more)


def _some_journey_filled_its_share(rows: list[_Row]) -> bool:
    if not rows:
        return False
    share = rows[0][3]
    return any(count >= share for count in Counter(row[2] for row in rows).values())


def runs_claim(*, run_ids: list[int], now: datetime | None = None) -> Claim:
    """Lease these runs if they are due and free: the fast path right after a trigger."""
    now = now or timezone.now()
    token = uuid.uuid4()
    until = now + lease_duration()
    with transaction.atomic():
        due = dict(
            Enrollment.objects.filter(
                pk__in=run_ids,
                state=Enrollment.State.ACTIVE,
                wake_at__lte=now,
                journey__status=Journey.Status.LIVE,
            )
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", "wake_at")
        )
        if due:
            _lease(list(due), token, until)
    return Claim(token, due)


def due_runs_exist(*, now: datetime | None = None) -> bool:
    """Whether any live journey has a due run: one index probe per live journey."""
    now = now or timezone.now()
    live = Journey.objects.filter(status=Journey.Status.LIVE)
    return live.filter(Exists(_due_runs(OuterRef("pk"), now))).exists()


def _due_runs(journey: int | OuterRef, now: datetime) -> QuerySet[Enrollment]:
    """A journey's due runs (``enrollment_due_per_journey_idx``), oldest first."""
    return Enrollment.objects.filter(
        journey_id=journey, state=Enrollment.State.ACTIVE, wake_at__lte=now
    ).order_by("wake_at")


def _lease(run_ids: list[int], token: uuid.UUID, until: datetime) -> None:
    Enrollment.objects.filter(pk__in=run_ids).update(
        lease_token=token, lease_expires_at=until, wake_at=until,
        walk_attempts=F("walk_attempts") + 1,
    )  # fmt: skip


def _claim_due_postgresql(
    token: uuid.UUID, now: datetime, until: datetime, limit: int
) -> list[_Row]:
    """One pass of the claim, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(*claim_due_statement(token=token, now=now, until=until, limit=limit))
        return cursor.fetchall()


def claim_due_statement(
    *, token: uuid.UUID, now: datetime, until: datetime, limit: int
) -> tuple[str, dict[str, object]]:
    """PostgreSQL's claim as (SQL, parameters): for the claim, and for its plan."""
    params = {"now": now, "until": until, "token": token, "limit": limit}
    return _CLAIM_DUE_SQL, {**params, "live": Journey.Status.LIVE.value}


_RUNS = Enrollment._meta.db_table
_JOURNEYS = Journey._meta.db_table

# ``due_journey``: the live journeys with due runs, most overdue first, by one probe of
# the due index each. ``share``: the batch split evenly between them. ``picked``: each
# journey's oldest due runs, up to its share, locked (SKIP LOCKED: a run another claim
# holds is passed over). The UPDATE leases them and moves them out of the due set.
_CLAIM_DUE_SQL = f"""
WITH due_journey AS MATERIALIZED (
    SELECT journey.id
    FROM {_JOURNEYS} AS journey
    CROSS JOIN LATERAL (
        SELECT run.wake_at FROM {_RUNS} AS run
        WHERE run.journey_id = journey.id AND run.state = 'active'
          AND run.wake_at <= %(now)s
        ORDER BY run.wake_at LIMIT 1
    ) AS oldest
    WHERE journey.status = %(live)s
    ORDER BY oldest.wake_at
    LIMIT %(limit)s
), share AS (
    SELECT ceil(%(limit)s::numeric / greatest(count(*), 1))::int AS runs FROM due_journey
), picked AS (
    SELECT run.id, run.wake_at, run.journey_id
    FROM due_journey
    CROSS JOIN LATERAL (
        SELECT run.id, run.wake_at, run.journey_id FROM {_RUNS} AS run
        WHERE run.journey_id = due_journey.id AND run.state = 'active'
          AND run.wake_at <= %(now)s
        ORDER BY run.wake_at
        LIMIT (SELECT runs FROM share)
        FOR UPDATE OF run SKIP LOCKED
    ) AS run
    LIMIT %(limit)s
)
UPDATE {_RUNS} AS run
SET lease_token = %(token)s, lease_expires_at = %(until)s, wake_at = %(until)s,
    walk_attempts = run.walk_attempts + 1
FROM picked
WHERE run.id = picked.id
RETURNING run.id, picked.wake_at, picked.journey_id, (SELECT runs FROM share)
"""


def _claim_due_one_writer(
    token: uuid.UUID, now: datetime, until: datetime, limit: int
) -> list[_Row]:
    """One pass of the claim where transactions take the database for themselves
    (SQLite), a query per journey."""
    with transaction.atomic():
        journey_ids = list(
            Journey.objects.filter(status=Journey.Status.LIVE)
            .annotate(oldest=_due_runs(OuterRef("pk"), now).values("wake_at")[:1])
            .filter(oldest__isnull=False)
            .order_by("oldest")
            .values_list("pk", flat=True)[:limit]
        )
        if not journey_ids:
            return []
        share = -(-limit // len(journey_ids))
        rows = []
        for journey_id in journey_ids:
            rows.extend(
                (pk, due, journey_id, share)
                for pk, due in _due_runs(journey_id, now).values_list("pk", "wake_at")[:share]
            )
        rows = rows[:limit]
        _lease([pk for pk, *_ in rows], token, until)
    return rows
