"""Walks that fail unexpectedly: tried again a few times, later each time, then the run
is failed, visibly.

A step that fails the expected way (an SMTP refusal, a webhook answering 500) has an
outcome of its own and the walker handles it. This module is for the rest: a bug, a
``MemoryError``, a value no column takes, a worker killed in the middle of a walk. Such
a walk is dropped with everything it had not committed, and the run is tried again,
``RETRY_DELAYS`` apart, with the error kept on the run meanwhile. After
``MAX_WALK_ATTEMPTS`` walks that took no step the run fails: a failed visit of the step
it was on carries the error, the run's ``error`` says how often it was tried, and a
``run.failed`` event goes out. A poison run therefore costs a worker a few walks over
some minutes, never its whole life.

Walks are counted by claims (:mod:`journeys.engine.claims` adds one, a step taken sets
the count back to 0), so that a walk which kills its worker, and never reaches an
``except``, counts too.
"""

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from delivery.services import webhook_events_record_many
from journeys.engine.walker import run_event_payload, step_completed_event
from journeys.models import Enrollment, StepRun

logger = logging.getLogger(__name__)

#: Walks a run gets, taking no step, before it is failed.
MAX_WALK_ATTEMPTS = 5

#: How long a run rests after its 1st, 2nd, 3rd... failed walk: long enough for a
#: passing fault (a database failover, a full disk) to clear, short enough that a real
#: bug ends the run within a quarter of an hour.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
)

#: A run's error and a visit's error are for people: the first line of an exception,
#: cut short.
_ERROR_CHARS = 500


def error_describe(error: BaseException) -> str:
    """``ExceptionType: message``, on one line and of bounded length."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


def retry_delay(attempts: int) -> timedelta:
    """The rest after the ``attempts``-th failed walk."""
    return RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]


def run_walk_failed(*, run_id: int, token: Any, error: str) -> None:
    """Record that a walk of this run failed with ``error``: schedule the next attempt,
    or fail the run if it has had its attempts.

    The run is read afresh: the failed walker's copy may hold steps it never committed.
    Nothing happens unless the run is still active and leased under ``token``.
    """
    with transaction.atomic():
        run = (
            Enrollment.objects.select_for_update(of=("self",))
            .select_related("journey", "customer", "version")
            .filter(pk=run_id, lease_token=token, state=Enrollment.State.ACTIVE)
            .first()
        )
        if run is None:
            return
        now = timezone.now()
        if run.walk_attempts < MAX_WALK_ATTEMPTS:
            _retry_later(run, error, now)
        else:
            _give_up(run, error, now)


def runs_give_up(*, runs: list[Enrollment], token: Any) -> None:
    """Fail runs claimed once more after ``MAX_WALK_ATTEMPTS`` walks that never came
    back: each killed its worker, or hung until its lease lapsed."""
    for run in runs:
        logger.error("%s: %s walks did not finish; failing the run", run, run.walk_attempts - 1)
        run_walk_failed(
            run_id=run.pk,
            token=token,
            # The last failure that came back, without the retry's note.
            error=_RETRY_NOTE_AT_END.sub("", run.error)
            or "the walk did not finish (its worker stopped or hung)",
        )


#: What a retry adds to the run's error, and how it is found again at the end of it.
_RETRY_NOTE = " (walk {attempt} of {attempts} failed; tried again in {seconds} s)"
_RETRY_NOTE_AT_END = re.compile(r" \(walk \d+ of \d+ failed; tried again in \d+ s\)\Z")


def _retry_later(run: Enrollment, error: str, now: datetime) -> None:
    delay = retry_delay(run.walk_attempts)
    run.error = error + _RETRY_NOTE.format(
        attempt=run.walk_attempts, attempts=MAX_WALK_ATTEMPTS, seconds=int(delay.total_seconds())
    )
    run.wake_at = now + delay
    run.lease_token = run.lease_expires_at = None
    run.save(update_fields=["error", "wake_at", "lease_token", "lease_expires_at"])


def _give_up(run: Enrollment, error: str, now: datetime) -> None:
    """Fail the run where it stands: a failed visit of its step with the error on the
    timeline, the run failed, and the events a failed step and run send."""
    events: list[tuple[str, dict[str, Any]]] = []
    step = run.version.spec.steps_by_key.get(run.current_step)
    if step is not None:
        visit = _visit_fail(run, step, error, now)
        events.append(step_completed_event(step, visit.visit, visit.outcome, now))
    where = f"{run.current_step}: " if run.current_step else ""
    run.state = Enrollment.State.FAILED
    run.error = f"{where}{error} (gave up after {run.walk_attempts} failed walks)"
    run.finished_at = now
    run.wake_at = run.lease_token = run.lease_expires_at = None
    run.save(
        update_fields=["state", "error", "finished_at", "wake_at", "lease_token",
                       "lease_expires_at"]
    )  # fmt: skip
    events.append(("run.failed", {"finished_at": now.isoformat(), "error": run.error}))
    webhook_events_record_many(
        workspace=run.workspace_id,
        events=[(kind, run_event_payload(run, data)) for kind, data in events],
    )


def _visit_fail(run: Enrollment, step: dict[str, Any], error: str, now: datetime) -> StepRun:
    """Close the step's open visit as failed, or add a failed visit if none is open."""
    visit = StepRun.objects.filter(
        enrollment=run, step_key=step["key"], finished_at__isnull=True
    ).first()
    if visit is None:
        last = StepRun.objects.filter(enrollment=run, step_key=step["key"]).aggregate(
            last=Max("visit")
        )["last"]
        visit = StepRun(
            enrollment=run, step_key=step["key"], step_type=step["type"],
            visit=(last or 0) + 1, started_at=now,
        )  # fmt: skip
    visit.finished_at = now
    visit.outcome = "failed"
    visit.error = error
    visit.save()
    return visit
