"""How due runs reach workers: pulled, never pushed, so no task waits holding a lease.

A ``runs_pull`` task claims its batch when it *starts*; while it waits in the queue it
holds nothing, so a backlog of any size cannot make leases lapse in the queue and work
be handed out twice. A pull that took a full share of some journey (more may be due)
queues its successor before it walks its own batch, so one chain of pulls spreads over
every free worker slot and keeps them busy until the due set is empty, with one pull
waiting in the queue per chain.

The sweep (beat, every second) starts chains: when runs are due and fewer than
``PULLS_WAITING`` pulls wait in their queue, it adds the difference. It is cheap when
nothing is due (one index probe per live journey), never piles up (beat's copies
expire after ten seconds, and a sweep that finds another one running returns at once),
and never claims anything itself.

Queues (``settings.CELERY_TASK_QUEUES``): ``runs.now`` carries the first steps of runs
just triggered one at a time and the sweep, ``celery`` the rest of the product's tasks,
``runs.due`` the pulls. On Redis a worker serving all three takes them by priority, in
that order, so a trigger's first step goes before the next batch of a campaign (and a
steady stream of triggers would hold the campaign back: give triggers workers of their
own, ``-Q runs.now``, at that scale). The embedded default's filesystem broker takes
the queues in turns.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from kombu.exceptions import ChannelError

from journeys.engine.claims import due_runs_exist

#: Queue of the pulls, as routed in settings; see the module docstring for the others.
PULL_QUEUE = settings.CELERY_TASK_ROUTES["journeys.tasks.runs_pull"]["queue"]
#: Pulls the sweep keeps waiting while runs are due: each starts a chain.
PULLS_WAITING = 2
#: Held (transaction-scoped) by the sweep on PostgreSQL: one sweep at a time.
_SWEEP_LOCK = 0x6A6F75726E657973  # "journeys"


def runs_sweep_dispatch(*, pull: Callable[[], object]) -> int:
    """Queue ``pull`` as many times as due runs need; answers how many were queued."""
    with _sweep_alone() as alone:
        if not alone or not due_runs_exist():
            return 0
        missing = max(PULLS_WAITING - queue_length(PULL_QUEUE), 0)
        for _ in range(missing):
            pull()
        return missing


def queue_length(name: str) -> int:
    """Messages waiting in queue ``name`` (not those a worker is running)."""
    with current_app.pool.acquire(block=True) as broker:
        try:
            return broker.default_channel.queue_declare(queue=name, passive=True).message_count
        except ChannelError:  # never declared, or emptied and gone (Redis)
            return 0


@contextmanager
def _sweep_alone() -> Iterator[bool]:
    """Whether no other sweep runs now. SQLite runs one writer at a time anyway."""
    if connection.vendor != "postgresql":
        yield True
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SWEEP_LOCK])
        (alone,) = cursor.fetchone()
        yield alone
