"""Celery tasks: thin interfaces that take ids and call services.

``runs_sweep`` runs every second from beat and hands batches of leased runs to
``runs_advance``; a trigger calls ``runs_advance`` with fresh run ids right after its
transaction commits, so the first step does not wait for the sweep. No task ever
carries a delay: waits live in ``Enrollment.wake_at``.
"""

import uuid

from celery import shared_task

from journeys.engine import runs_claim, runs_claim_due, runs_walk
from journeys.idempotency import idempotency_records_purge as purge_expired

#: Runs per ``runs_advance`` task, and the most one sweep hands out. A batch is walked
#: together (``runs_walk``), so its loads and commits are shared: 100 runs sending an
#: e-mail each cost 15-25% less worker CPU per e-mail than 25 do, and a batch of 100
#: woken delays is walked in about 0.1 s, well inside the sweep's one-second period.
ADVANCE_BATCH = 100
SWEEP_MAX = 5000


@shared_task(name="journeys.tasks.idempotency_records_purge")
def idempotency_records_purge() -> int:
    return purge_expired()


@shared_task(name="journeys.tasks.runs_sweep", ignore_result=True)
def runs_sweep() -> int:
    """Lease due runs in batches and enqueue them; the safety net under every kick."""
    handed_out = 0
    while handed_out < SWEEP_MAX:
        token, run_ids = runs_claim_due(limit=ADVANCE_BATCH)
        if not run_ids:
            break
        runs_advance.delay(run_ids, str(token))
        handed_out += len(run_ids)
        if len(run_ids) < ADVANCE_BATCH:
            break
    return handed_out


@shared_task(name="journeys.tasks.runs_advance", ignore_result=True)
def runs_advance(run_ids: list[int], token: str | None = None) -> None:
    """Walk leased runs; without a token (the fast path) lease them first."""
    if token is None:
        lease, run_ids = runs_claim(run_ids=run_ids)
    else:
        lease = uuid.UUID(token)
    runs_walk(run_ids=run_ids, token=lease)
