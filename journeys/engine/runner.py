"""The engine: walks claimed runs through their steps, a batch at a time.

The database is the source of truth. A claim (:mod:`journeys.engine.claims`) gives a worker a
lease (a token and an expiry) over a batch of due runs. Every write the engine makes
checks the token, so a run whose lease expired (its worker died) and was claimed again
has one owner at a time. Celery only carries ids: losing a task delays a run until its
lease expires and a later claim takes it again.

:func:`runs_walk` drives one :class:`~journeys.engine.walker.RunWalker` per run of a batch.
Each walks in memory until its run waits, ends, or is about to act on the outside
world; then the batch's writes go to the database in one transaction, and the walkers
whose lease held go on. A batch of one-e-mail runs costs three loads and two
commits, however many runs it holds, plus one cheap write per message sent.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from customers.db import rows_update
from delivery.models import Message
from delivery.services import messages_gate, webhook_events_record_many
from journeys.engine.claims import Claim
from journeys.engine.event_waits import Waiting, waits_recheck
from journeys.engine.failures import (
    MAX_WALK_ATTEMPTS,
    error_describe,
    run_walk_failed,
    runs_give_up,
)
from journeys.engine.leases import LeaseLost, LeaseWatch, lease_duration
from journeys.engine.walker import Pause, RunWalker, Writes
from journeys.models import Enrollment, Journey, StepRun, journey_version_get

logger = logging.getLogger(__name__)


# --- walking ---------------------------------------------------------------------------


def runs_walk(claim: Claim) -> None:
    """Walk a claimed batch of runs as far as each goes now.

    Runs whose lease is no longer ours are skipped. A walker that fails unexpectedly is
    logged and dropped with its unwritten work; its run is walked again from its last
    committed visit a little later, a few times at most
    (:mod:`journeys.engine.failures`).
    """
    token = claim.token
    walking: list[tuple[RunWalker, Iterator[Pause]]] = []
    watch = LeaseWatch(token, run_ids=lambda: [walker.run.pk for walker, _ in walking])
    walking = [(walker, walker.walk()) for walker in _walkers_load(claim, watch)]
    while walking:
        paused: list[tuple[RunWalker, Iterator[Pause]]] = []
        to_write: list[RunWalker] = []
        for walker, steps in walking:
            if _walk_to_barrier(walker, steps, token):
                paused.append((walker, steps))
            to_write.append(walker)
        kept = _writes_commit(to_write, token)
        walking = [(walker, steps) for walker, steps in paused if walker in kept]


def _walk_to_barrier(walker: RunWalker, steps: Iterator[Pause], token: uuid.UUID) -> bool:
    """Resume one walker until it waits for the batch (True) or stops (False), committing
    on the spot what it asks to have committed at once."""
    try:
        while next(steps) is Pause.COMMIT_NOW:
            if walker not in _writes_commit([walker], token):
                steps.close()
                return False
    except StopIteration:
        return False
    except LeaseLost:
        _lost_log([walker])
        walker.writes_take()  # nothing of it may be written
        return False
    except Exception as error:
        logger.exception("walking %s failed", walker.run)
        walker.writes_take()  # nothing of the failed walk is written
        _walk_failed(walker, token, error)
        return False
    return True


def _walk_failed(walker: RunWalker, token: uuid.UUID, error: BaseException) -> None:
    """Have the run tried again later, or failed (:mod:`journeys.engine.failures`). If
    even that cannot be written, the run is tried again when its lease lapses."""
    try:
        run_walk_failed(run_id=walker.run.pk, token=token, error=error_describe(error))
    except Exception:
        logger.exception("recording the failed walk of %s failed too", walker.run)


#: A walk reads its journey's ids, name and status; the rest (the draft graph above all)
#: stays in the database.
_JOURNEY_UNUSED_FIELDS = tuple(
    field.name
    for field in Journey._meta.concrete_fields
    if field.name not in ("id", "public_id", "name", "status", "workspace")
)


def _walkers_load(claim: Claim, watch: LeaseWatch) -> list[RunWalker]:
    """Load the runs still leased to us, with their visits so far, in three queries.

    A leased run's ``wake_at`` holds its lease's expiry (see :mod:`journeys.engine.claims`); in
    memory it gets back the moment the run fell due, which a resumed delay compares
    with the clock.
    """
    if not claim:
        return []
    # By primary key alone, the lease and state checked here: with the lease and state in
    # the WHERE, a planner whose statistics predate a burst read all of the journey's
    # active runs through their partial index (30 ms a batch with 100,000 active).
    runs = [
        run
        for run in Enrollment.objects.select_related("journey", "customer", "workspace")
        .defer(*(f"journey__{name}" for name in _JOURNEY_UNUSED_FIELDS))
        .annotate(version_number=F("version__number"))
        .filter(pk__in=claim.run_ids)
        if run.lease_token == claim.token and run.state == Enrollment.State.ACTIVE
    ]
    if not runs:
        return []
    runs.sort(key=lambda run: (claim.due_at[run.pk], run.pk))  # the longest due first
    visits: dict[int, dict[str, int]] = defaultdict(dict)
    for run_id, key, visit in (
        StepRun.objects.filter(enrollment_id__in=[run.pk for run in runs])
        .values("enrollment_id", "step_key")
        .annotate(last=Max("visit"))
        .values_list("enrollment_id", "step_key", "last")
    ):
        visits[run_id][key] = visit
    open_visits = {
        visit.enrollment_id: visit
        for visit in StepRun.objects.select_related("message").filter(
            enrollment_id__in=[run.pk for run in runs], finished_at__isnull=True
        )
    }
    exhausted = [run for run in runs if run.walk_attempts > MAX_WALK_ATTEMPTS]
    if exhausted:
        runs_give_up(runs=exhausted, token=claim.token)
        runs = [run for run in runs if run.walk_attempts <= MAX_WALK_ATTEMPTS]
    walkers = []
    for run in runs:
        run.wake_at = claim.due_at[run.pk]
        run.version = journey_version_get(run.journey.public_id, run.version_number, run.version_id)
        walkers.append(RunWalker(run, watch, visits[run.pk], open_visits.get(run.pk)))
    return walkers


def _writes_commit(walkers: list[RunWalker], token: uuid.UUID) -> set[RunWalker]:
    """Write what each walker did, in one transaction, for the runs still leased to us;
    answer those walkers. The others' work is dropped: their runs have a new owner.

    If the batch's writes fail (one run's value that no column takes fails the whole
    transaction), each walker's are written alone, so that one poison run fails alone
    (:func:`_walk_failed`) and the rest of the batch goes on.
    """
    idle = {walker for walker in walkers if walker.writes.empty}
    busy = [walker for walker in walkers if walker not in idle]
    if not busy:
        return idle
    try:
        return idle | _writes_write(busy, token)
    except Exception as error:
        if len(busy) == 1:
            _write_failed(busy[0], token, error)
            return idle
        logger.warning("writing a batch of %s runs failed; writing them one by one", len(busy))
    kept = set()
    for walker in busy:
        try:
            kept |= _writes_write([walker], token)
        except Exception as error:
            _write_failed(walker, token, error)
    return idle | kept


def _writes_write(walkers: list[RunWalker], token: uuid.UUID) -> set[RunWalker]:
    """One transaction for these walkers' writes. Their writes are taken (and forgotten)
    only once it has committed, so that a failed batch can be written again in parts."""
    with transaction.atomic():
        # Still leased to us and still active (archiving or a restart ends runs and takes
        # their lease); locked in key order, so concurrent commits cannot deadlock.
        # By primary key alone, as in _walkers_load (a plan that holds with stale
        # statistics); a row that another worker now owns is locked for this moment only.
        owned = {
            pk
            for pk, lease_token, state in Enrollment.objects.select_for_update()
            .filter(pk__in=[walker.run.pk for walker in walkers])
            .order_by("pk")
            .values_list("pk", "lease_token", "state")
            if lease_token == token and state == Enrollment.State.ACTIVE
        }
        kept = [walker for walker in walkers if walker.run.pk in owned]
        writes = {walker: walker.writes for walker in kept}
        _runs_update(writes, timezone.now())
        _visits_write(list(writes.values()))
        _events_record(writes)
    _lost_log([walker for walker in walkers if walker.run.pk not in owned])
    for walker in walkers:
        walker.writes_take()  # written, or dropped: a run we lost has a new owner
    _waits_recheck(kept)
    return set(kept)


def _waits_recheck(walkers: list[RunWalker]) -> None:
    """Runs just committed as waiting for an event: wake those for which a matching event
    arrived while they were walked (see :mod:`journeys.engine.event_waits`)."""
    waiting = []
    for walker in walkers:
        if walker.awaiting is not None:
            step, since = walker.awaiting
            walker.awaiting = None
            waiting.append(Waiting(walker.run, step, since, walker.template_context()))
    waits_recheck(waiting)


def _lost_log(walkers: list[RunWalker]) -> None:
    """Say why each of these walks was dropped: its run ended meanwhile (cancelled,
    restarted, its journey archived), or another worker holds its lease."""
    if not walkers:
        return
    ended = {
        pk: (state, reason)
        for pk, state, reason in Enrollment.objects.filter(
            pk__in=[walker.run.pk for walker in walkers]
        )
        .exclude(state=Enrollment.State.ACTIVE)
        .values_list("pk", "state", "exit_reason")
    }
    for walker in walkers:
        if walker.run.pk in ended:
            state, reason = ended[walker.run.pk]
            why = f"{state} ({reason})" if reason else state
            logger.info("%s ended meanwhile, %s: its walk is dropped", walker.run, why)
        else:
            logger.warning("lost the lease on %s; another worker continues it", walker.run)


def _write_failed(walker: RunWalker, token: uuid.UUID, error: BaseException) -> None:
    logger.exception("writing the walk of %s failed", walker.run, exc_info=error)
    walker.writes_take()  # nothing of it can be written
    _walk_failed(walker, token, error)


_RUN_FIELDS = ["state", "current_step", "wake_at", "context", "finished_at", "error",
               "exit_reason", "lease_token", "lease_expires_at", "walk_attempts"]  # fmt: skip


def _runs_update(writes: dict[RunWalker, Writes], now: datetime) -> None:
    """Each changed run's new state. A run that walks on keeps its lease for another
    term (and stays out of the due set: its ``wake_at`` follows the lease); one that
    only opens a visit (a send right after its trigger) is not written."""
    until = now + lease_duration()
    changed = []
    for walker, written in writes.items():
        run = walker.run
        if written.release:
            run.lease_token, run.lease_expires_at = None, None
        elif written.run_changed:
            run.lease_expires_at = run.wake_at = walker.lease_until = until
        else:
            continue
        changed.append(run)
    rows_update(changed, _RUN_FIELDS)


def _visits_write(writes: list[Writes]) -> None:
    """New and changed visits, and the Messages that opening visits are about to send.

    A Message is inserted with its visit, never alone, and its key names that visit, so
    a key taken already would mean the visit exists already: the visit's own unique
    constraint would refuse it too. A plain insert is therefore enough, and the rows
    come back with their ids. A send visit that waited for its send window exists
    already, without a Message: it gets its Message here in the same way, and the
    visit's row is updated to point at it.
    """
    opened = [written.opened for written in writes if written.opened]
    messages = [message for _, message in opened if message is not None]
    # Suppression, consent and frequency caps, decided under this transaction's locks.
    messages_gate(messages)
    Message.objects.bulk_create(messages)
    for visit, message in opened:
        visit.message = message
    created = [visit for written in writes for visit in written.created]
    updated = [visit for written in writes for visit in written.updated]
    for written in writes:
        if written.opened:
            (updated if written.opened_stored else created).append(written.opened[0])
    # A batch written again after a failed transaction inserts the same objects again:
    # their ids, given by the rolled-back insert, are free again and are reused.
    StepRun.objects.bulk_create(created)
    rows_update(updated, ["finished_at", "outcome", "error", "message"])


def _events_record(writes: dict[RunWalker, Writes]) -> None:
    by_workspace: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for walker, written in writes.items():
        by_workspace[walker.run.workspace_id].extend(
            (kind, walker.event_payload(data)) for kind, data in written.events
        )
    for workspace_id, events in by_workspace.items():
        if events:
            webhook_events_record_many(workspace=workspace_id, events=events)
