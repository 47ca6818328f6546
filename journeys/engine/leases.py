"""Leases: how a worker owns the runs it walks, and how it knows it still does.

A claim gives a batch of runs a token and an expiry, and moves their ``wake_at`` to that
expiry (:mod:`journeys.engine.claims`); renewing a lease moves both. Every write of the
engine checks the token; before each act on the outside world (a send, a webhook call) a walker also
confirms that its run is still leased to it and still active, since archiving the
journey or a new entry replacing the run takes the lease away.
"""

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from journeys.models import Enrollment


def lease_duration() -> timedelta:
    """How long a claim holds a run: longer than any one step takes (sends time out in
    seconds), short enough that a dead worker's runs move on soon (``RUN_LEASE_SECONDS``)."""
    return timedelta(seconds=settings.RUN_LEASE_SECONDS)


class LeaseLost(Exception):
    """Another worker owns the run now, or it ended meanwhile; this one must stop."""


class LeaseWatch:
    """Which runs of a batch are still leased to this worker and still active.

    Asking the database before every act would add a query per message; the watch asks
    once for the whole batch and trusts the answer for ``FRESHNESS``. A journey archived
    within that fraction of a second of a send may still see it leave, as it would had
    the send come a moment earlier. A run cannot be claimed by another worker meanwhile:
    leases are renewed long before they lapse (:meth:`confirm`).
    """

    FRESHNESS = timedelta(milliseconds=250)

    def __init__(self, token: uuid.UUID, run_ids: Callable[[], list[int]]) -> None:
        self.token = token
        self.run_ids = run_ids  # the batch's runs still walking
        self.owned: set[int] = set()
        self.as_of: datetime | None = None

    def confirm(self, run: Enrollment, lease_until: datetime) -> datetime:
        """Raise :class:`LeaseLost` unless ``run`` is still ours; answers the lease's
        expiry, renewed if half of it is gone so that a slow act cannot outlive it."""
        now = timezone.now()
        if self.as_of is None or now - self.as_of > self.FRESHNESS:
            self.owned = set(
                Enrollment.objects.filter(
                    pk__in=self.run_ids(), lease_token=self.token, state=Enrollment.State.ACTIVE
                ).values_list("pk", flat=True)
            )
            self.as_of = now
        if run.pk not in self.owned:
            raise LeaseLost(run.public_id)
        if lease_until - now > lease_duration() / 2:
            return lease_until
        until = now + lease_duration()
        # The run's wake_at follows its lease, keeping it out of the due set.
        renewed = Enrollment.objects.filter(
            pk=run.pk, lease_token=self.token, state=Enrollment.State.ACTIVE
        ).update(lease_expires_at=until, wake_at=until)
        if not renewed:
            raise LeaseLost(run.public_id)
        return until
