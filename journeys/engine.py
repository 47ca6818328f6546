"""The engine: claims due runs with leases and walks each through its steps.

The database is the source of truth. A run is due when ``wake_at <= now``; a claim
gives a worker a lease (a token and an expiry) over a batch of due runs, taken with
``SELECT ... FOR UPDATE SKIP LOCKED`` so workers on many machines never share a run.
Every write the walker makes checks the token, so a run whose lease expired (its
worker died) and was claimed again has one owner at a time. Celery only carries ids:
losing a task delays a run until its lease expires and the sweep claims it again.

Walking a run executes steps until one waits (a delay, a retry, an event) or the run
ends. Steps that do not reach the outside world are executed in memory and written in
one transaction; steps that do (``send``, ``webhook``) commit their visit first, so
their idempotency keys survive a crash.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from delivery.state_webhooks import webhook_events_record_many
from journeys.context import run_template_context
from journeys.models import Enrollment, Journey, StepRun
from journeys.steps import COMMIT_FIRST, EXECUTORS, StepInput, StepResult

logger = logging.getLogger(__name__)


def lease_duration() -> timedelta:
    """How long a claim holds a run: longer than any one step takes (sends time out in
    seconds), short enough that a dead worker's runs move on soon (``RUN_LEASE_SECONDS``)."""
    return timedelta(seconds=settings.RUN_LEASE_SECONDS)


#: A run walking further than this in one go yields and stays due (no monopolies).
MAX_STEPS_PER_WALK = 100


# --- claims ----------------------------------------------------------------------------


def runs_claim_due(*, limit: int, now: datetime | None = None) -> tuple[uuid.UUID, list[int]]:
    """Lease up to ``limit`` due runs of live journeys, oldest ``wake_at`` first.

    Runs of paused journeys stay where they are until the journey is live again.
    """
    now = now or timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        ids = list(
            Enrollment.objects.filter(
                state=Enrollment.State.ACTIVE,
                wake_at__lte=now,
                journey__status=Journey.Status.LIVE,
            )
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .order_by("wake_at")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Enrollment.objects.filter(pk__in=ids).update(
                lease_token=token, lease_expires_at=now + lease_duration()
            )
    return token, ids


def runs_claim(*, run_ids: list[int], now: datetime | None = None) -> tuple[uuid.UUID, list[int]]:
    """Lease these runs if they are due and free: the fast path after a trigger."""
    now = now or timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        ids = list(
            Enrollment.objects.filter(
                pk__in=run_ids,
                state=Enrollment.State.ACTIVE,
                wake_at__lte=now,
                journey__status=Journey.Status.LIVE,
            )
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)
        )
        if ids:
            Enrollment.objects.filter(pk__in=ids).update(
                lease_token=token, lease_expires_at=now + lease_duration()
            )
    return token, ids


# --- walking ---------------------------------------------------------------------------


class LeaseLost(Exception):
    """Another worker owns the run now; this one must stop writing."""


def run_walk(*, run_id: int, token: uuid.UUID) -> None:
    """Walk one leased run as far as it goes now; a no-op if the lease is not ours.

    The lease is renewed first: runs late in a batch were claimed a while ago, and a
    lease that lapsed meanwhile may already belong to another worker.
    """
    now = timezone.now()
    renewed = Enrollment.objects.filter(
        pk=run_id, lease_token=token, lease_expires_at__gt=now, state=Enrollment.State.ACTIVE
    ).update(lease_expires_at=now + lease_duration())
    if not renewed:
        return
    run = (
        Enrollment.objects.select_related("journey", "version", "customer", "workspace")
        .filter(pk=run_id, lease_token=token, state=Enrollment.State.ACTIVE)
        .first()
    )
    if run is None:
        return
    try:
        _Walker(run, token).walk()
    except LeaseLost:
        logger.warning("lost the lease on %s; another worker continues it", run.public_id)


@dataclass
class _OpenVisit:
    step_run_id: int
    step_key: str
    visit: int
    started_at: datetime


@dataclass
class _Walker:
    run: Enrollment
    token: uuid.UUID
    steps: dict[str, dict[str, Any]] = field(init=False)
    visits: dict[str, int] = field(init=False)
    open_visit: _OpenVisit | None = field(init=False)
    finished: list[StepRun] = field(default_factory=list)  # not yet written
    closing: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # open visits
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    context: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.steps = {step["key"]: step for step in self.run.version.definition["steps"]}
        self.visits = {}
        self.open_visit = None
        for pk, key, visit, started, finished in StepRun.objects.filter(
            enrollment=self.run
        ).values_list("pk", "step_key", "visit", "started_at", "finished_at"):
            self.visits[key] = max(self.visits.get(key, 0), visit)
            if finished is None:
                self.open_visit = _OpenVisit(pk, key, visit, started)

    def template_context(self) -> dict[str, Any]:
        if self.context is None:
            self.context = run_template_context(self.run)
        return self.context

    def walk(self) -> None:
        run = self.run
        if not self.visits:
            self.events.append(("run.entered", {}))
        for _ in range(MAX_STEPS_PER_WALK):
            now = timezone.now()
            key = run.current_step
            if not key:
                return self.finish(Enrollment.State.COMPLETED, now=now)
            step = self.steps.get(key)
            if step is None:
                return self.finish(
                    Enrollment.State.FAILED, now=now, error=f"step {key!r} does not exist"
                )
            open_visit = (
                self.open_visit if self.open_visit and self.open_visit.step_key == key else None
            )
            resumed = open_visit is not None
            visit = open_visit.visit if open_visit else self.visits.get(key, 0) + 1
            if open_visit is None and step["type"] in COMMIT_FIRST:
                open_visit = self.begin_visit(step, visit, now)
            result = EXECUTORS[step["type"]](
                StepInput(
                    run=run,
                    step=step,
                    visit=visit,
                    resumed=resumed,
                    started_at=open_visit.started_at if open_visit else now,
                    now=now,
                    context=self.template_context(),
                    step_run_id=open_visit.step_run_id if open_visit else None,
                )
            )
            self.apply_context_updates(step, result)
            if result.wait_until is not None:
                return self.wait(step, visit, open_visit, result, now)
            self.record(step, visit, open_visit, result, now)
            if result.error:
                return self.finish(Enrollment.State.FAILED, now=now, error=f"{key}: {result.error}")
            if result.exit:
                return self.finish(Enrollment.State.EXITED, now=now, reason="exit step")
            run.current_step = result.next_step or ""
        # Yield: stay due, so the next claim continues where this one stopped.
        run.wake_at = timezone.now()
        self.flush(release=True)
        return None

    # --- recording -----------------------------------------------------------------

    def begin_visit(self, step: dict[str, Any], visit: int, now: datetime) -> _OpenVisit:
        """Commit the visit (and everything before it) before the step acts."""
        step_run = StepRun(
            enrollment=self.run, step_key=step["key"], step_type=step["type"],
            visit=visit, started_at=now,
        )  # fmt: skip
        self.flush(release=False, new_open=step_run)
        self.open_visit = _OpenVisit(step_run.pk, step["key"], visit, now)
        self.visits[step["key"]] = visit
        return self.open_visit

    def apply_context_updates(self, step: dict[str, Any], result: StepResult) -> None:
        stored = self.run.context
        for name, value in result.context_updates.items():
            if isinstance(value, dict):
                stored[name] = {**(stored.get(name) or {}), **value}
            else:
                stored[name] = value
            if name == "event" and self.context is not None:
                self.context["event"] = value
        answered = result.error is None and result.wait_until is None
        if step["type"] == "webhook" and answered:
            stored.setdefault("steps", {})[step["key"]] = result.output
            if self.context is not None:
                self.context["steps"] = stored["steps"]

    def record(
        self,
        step: dict[str, Any],
        visit: int,
        open_visit: _OpenVisit | None,
        result: StepResult,
        now: datetime,
    ) -> None:
        if open_visit is not None:
            if not result.recorded:
                self.closing.append(
                    (
                        open_visit.step_run_id,
                        {
                            "finished_at": now,
                            "outcome": result.outcome,
                            "error": result.error or "",
                            "message_id": result.message_id,
                        },
                    )
                )
            self.open_visit = None
        else:
            self.finished.append(
                StepRun(
                    enrollment=self.run, step_key=step["key"], step_type=step["type"],
                    visit=visit, started_at=now, finished_at=now, outcome=result.outcome,
                    error=result.error or "", message_id=result.message_id,
                )
            )  # fmt: skip
        self.visits[step["key"]] = visit
        self.events.append(
            (
                "run.step_completed",
                {
                    "step": step["key"],
                    "step_type": step["type"],
                    "visit": visit,
                    "outcome": result.outcome,
                    "finished_at": now.isoformat(),
                },
            )
        )

    def wait(
        self,
        step: dict[str, Any],
        visit: int,
        open_visit: _OpenVisit | None,
        result: StepResult,
        now: datetime,
    ) -> None:
        self.run.wake_at = result.wait_until
        new_open = None
        if open_visit is None:
            new_open = StepRun(
                enrollment=self.run, step_key=step["key"], step_type=step["type"],
                visit=visit, started_at=now, outcome=result.outcome,
            )  # fmt: skip
        elif result.message_id:
            self.closing.append((open_visit.step_run_id, {"message_id": result.message_id}))
        self.flush(release=True, new_open=new_open)

    def finish(self, state: str, *, now: datetime, error: str = "", reason: str = "") -> None:
        run = self.run
        run.state = state
        run.finished_at = now
        run.error = error
        run.exit_reason = reason
        run.wake_at = None
        details: dict[str, Any] = {"finished_at": now.isoformat()}
        if state == Enrollment.State.EXITED:
            details["exit_reason"] = reason
        if state == Enrollment.State.FAILED:
            details["error"] = error
        self.events.append((f"run.{state}", details))
        self.flush(release=True)

    def flush(self, *, release: bool, new_open: StepRun | None = None) -> None:
        """Write what the walk did, if (and only if) the lease is still ours."""
        run = self.run
        lease = (
            {"lease_token": None, "lease_expires_at": None}
            if release
            else {"lease_expires_at": timezone.now() + lease_duration()}
        )
        with transaction.atomic():
            updated = Enrollment.objects.filter(pk=run.pk, lease_token=self.token).update(
                state=run.state,
                current_step=run.current_step,
                wake_at=run.wake_at,
                context=run.context,
                finished_at=run.finished_at,
                error=run.error,
                exit_reason=run.exit_reason,
                **lease,
            )
            if not updated:
                raise LeaseLost(run.public_id)
            # Finishing an open visit is written under the lease too: were it written
            # alone and the lease then lost, the next owner would start a new visit
            # (a new idempotency key) of a step this one already performed.
            for step_run_id, fields in self.closing:
                StepRun.objects.filter(pk=step_run_id).update(**fields)
            StepRun.objects.bulk_create([*self.finished, *([new_open] if new_open else [])])
            if self.events:
                webhook_events_record_many(
                    workspace=run.workspace_id,
                    events=[(kind, self.event_payload(data)) for kind, data in self.events],
                )
        self.finished = []
        self.closing = []
        self.events = []

    def event_payload(self, data: dict[str, Any]) -> dict[str, Any]:
        run = self.run
        return {
            "run_id": run.public_id,
            "journey_id": run.journey.public_id,
            "journey_version": run.version.number,
            "customer_id": run.customer.public_id,
            "external_id": run.customer.external_id,
            "state": run.state,
            "entered_at": run.entered_at.isoformat(),
            **data,
        }
