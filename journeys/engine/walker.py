"""Walking one run through its steps: a generator the engine drives a batch at a time.

A walker executes steps in memory and collects what has to be written: the run's new
state, the visits it made, the events it caused, the Message a send is about to
deliver. Before a step reaches the outside world (``send``, ``webhook``) or records its
own outcome under a lock (``throttle``), the walker *yields*: the engine commits the
pending writes of every walker of the batch in one transaction, under each run's
lease, and resumes those whose lease held. The visit and its Message are then durable
before anything leaves, so a re-run after a crash finds them instead of sending again.

Batching is what makes walking cheap: 100 runs sending an e-mail cost two commits
between them, not a handful each.

A send with a send window (quiet hours, :mod:`journeys.engine.send_windows`) is checked
before its Message is composed. Outside the window it either waits, as an open visit
without a Message (``waiting_for_window``) and the run's ``wake_at`` at the opening, or
is skipped. The walk that wakes it inside the window composes the Message then, with
the data as they are then, and commits it under the waiting visit at a barrier like
any other; woken early, it waits again.
"""

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.utils import timezone

from delivery.models import Message
from journeys.engine.context import run_template_context
from journeys.engine.leases import LeaseWatch
from journeys.engine.send_windows import send_window_opening, send_window_zone
from journeys.engine.steps import (
    COMMIT_FIRST,
    EXECUTORS,
    RECORD_AT_ONCE,
    ComposeError,
    StepInput,
    StepResult,
    send_compose,
)
from journeys.models import Enrollment, StepRun

#: A run walking further than this in one go yields and stays due (no monopolies).
MAX_STEPS_PER_WALK = 100

#: A send step's outcomes outside its send window (on the run's timeline): waiting for
#: the window to open (an open visit), or passed over without sending (a finished one).
WAITING_FOR_WINDOW = "waiting_for_window"
SKIPPED_SEND_WINDOW = "skipped_send_window"


class Pause(enum.Enum):
    """Why a walk hands control back to the engine."""

    #: Commit the pending writes with the whole batch's before going on (a visit that
    #: must be durable before its step acts).
    BARRIER = "barrier"
    #: Commit this run's writes now: a step acted whose repetition would be felt.
    COMMIT_NOW = "commit now"


@dataclass
class Writes:
    """What a walker has done since the engine last wrote for it."""

    created: list[StepRun] = field(default_factory=list)  # new visits, finished or open
    updated: list[StepRun] = field(default_factory=list)  # open visits that changed
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: A visit to commit before its step acts, with the Message it is about to send.
    opened: tuple[StepRun, Message | None] | None = None
    #: The opened visit is stored already (it waited for its send window): its Message
    #: is written and the row updated, not inserted. Said here, not read off the row's
    #: pk, which an insert rolled back with a failed batch leaves set.
    opened_stored: bool = False
    #: The run's own fields changed (its step, its context): write them even mid-walk.
    run_changed: bool = False
    #: The walk is over for now: write the run and give the lease back.
    release: bool = False

    @property
    def empty(self) -> bool:
        return not (
            self.created or self.updated or self.events or self.opened
            or self.run_changed or self.release
        )  # fmt: skip


class _Turn(NamedTuple):
    """One step taken: which visit, and what came of it."""

    step: dict[str, Any]
    visit: int
    visit_row: StepRun | None
    result: StepResult
    now: datetime


class RunWalker:
    """One leased run, its visits so far and the writes it owes the database."""

    def __init__(
        self,
        run: Enrollment,
        watch: LeaseWatch,
        visits: dict[str, int],
        open_visit: StepRun | None,
    ) -> None:
        self.run = run
        self.watch = watch
        self.steps = run.version.spec.steps_by_key
        self.visits = visits
        self.open_visit = open_visit
        self.writes = Writes()
        self.lease_until: datetime = run.lease_expires_at or timezone.now()
        self._context: dict[str, Any] | None = None
        #: The ``wait_for_event`` step the walk left the run waiting at, and since when:
        #: once that is committed, the runner looks for events that arrived meanwhile.
        self.awaiting: tuple[dict[str, Any], datetime] | None = None

    def template_context(self) -> dict[str, Any]:
        if self._context is None:
            self._context = run_template_context(self.run)
        return self._context

    def walk(self) -> Iterator[Pause]:
        """Execute steps until the run waits or ends. Pause with ``Pause.BARRIER`` where
        a visit must be committed before its step acts, and with ``Pause.COMMIT_NOW``
        right after a step whose outcome must not wait for the rest of the batch."""
        run = self.run
        if not self.visits:
            self.writes.events.append(("run.entered", {}))
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
            visit_row = (
                self.open_visit if self.open_visit and self.open_visit.step_key == key else None
            )
            inp = StepInput(
                run=run,
                step=step,
                visit=visit_row.visit if visit_row else self.visits.get(key, 0) + 1,
                resumed=visit_row is not None,
                started_at=visit_row.started_at if visit_row else now,
                now=now,
                context=self.template_context(),
            )
            result = None
            if step["type"] in COMMIT_FIRST:
                composing = visit_row is None or _waits_for_window(visit_row)
                if step["type"] == "send" and composing:
                    # Quiet hours: outside its window, a send waits or is skipped here,
                    # before anything is composed (see journeys.engine.send_windows).
                    result = self.send_window_check(step, now)
                if result is None and composing:
                    try:
                        message = send_compose(inp) if step["type"] == "send" else None
                    except ComposeError as error:
                        result = StepResult(outcome="failed", error=str(error))
                    else:
                        if visit_row is None:
                            visit_row = self.begin_visit(step, inp.visit, now, message)
                        else:  # it waited for its window: now its Message is written
                            visit_row.outcome = ""  # sending, as any visit just opened
                            self.writes.opened = (visit_row, message)
                            self.writes.opened_stored = True
                            inp.resumed = False  # the insert counts the first attempt
                        # The engine commits the visit (and its Message) under the lease.
                        yield Pause.BARRIER
                        now = inp.now = timezone.now()
                if result is None and visit_row is not None:
                    inp.step_run_id = visit_row.pk
                    inp.message = visit_row.message
                    self.lease_check()
            if result is None:
                result = EXECUTORS[step["type"]](inp)
            walk_ends = self.take(_Turn(step, inp.visit, visit_row, result, now))
            if step["type"] in RECORD_AT_ONCE:
                yield Pause.COMMIT_NOW
            if walk_ends:
                return None
        # Yield the worker: stay due, so the next claim continues where this one stopped.
        run.wake_at = timezone.now()
        self.writes.release = True
        return None

    def take(self, turn: _Turn) -> bool:
        """Apply a step's result to the run; answers whether the walk ends here."""
        step, result, now = turn.step, turn.result, turn.now
        if self.run.walk_attempts:  # it walks again: earlier failed walks are forgiven
            self.run.walk_attempts = 0
            self.run.error = ""
        self.apply_context_updates(step, result)
        if result.wait_until is not None:
            self.wait(turn)
            return True
        self.record(turn)
        if result.error:
            key = step["key"]
            self.finish(Enrollment.State.FAILED, now=now, error=f"{key}: {result.error}")
            return True
        if result.exit:
            self.finish(Enrollment.State.EXITED, now=now, reason="exit step")
            return True
        self.run.current_step = result.next_step or ""
        return False

    def send_window_check(self, step: dict[str, Any], now: datetime) -> StepResult | None:
        """None when the send may go now (no window applies, or ``now`` is inside it);
        else the step waits for the window to open (``waiting_for_window``, a durable
        wait: the run's ``wake_at``) or is skipped (``skipped_send_window``).

        The step's own window replaces the journey's; a send to a webhook has none. The
        zone is the customer's, else the workspace's (read with the batch), else UTC.
        A run woken before the window opens (a clock behind) simply waits again.
        """
        window = step.get("send_window") or self.run.version.spec.send_window
        if not window or step.get("channel") == "webhook":
            return None
        # The customer and the workspace come with the batch's load (runner._walkers_load).
        zone = send_window_zone(self.run.customer.timezone, self.run.workspace.timezone)
        opening = send_window_opening(window, zone, now)
        if opening is None:
            return None
        if window.get("outside") == "skip":
            return StepResult(outcome=SKIPPED_SEND_WINDOW, next_step=step["next"])
        return StepResult(outcome=WAITING_FOR_WINDOW, wait_until=opening)

    def lease_check(self) -> None:
        """Right before acting: is the run still ours and still active? (See
        :class:`~journeys.engine.leases.LeaseWatch`.)"""
        self.lease_until = self.watch.confirm(self.run, self.lease_until)

    # --- what the walk writes ---------------------------------------------------------

    def begin_visit(
        self, step: dict[str, Any], visit: int, now: datetime, message: Message | None
    ) -> StepRun:
        visit_row = StepRun(
            enrollment=self.run, step_key=step["key"], step_type=step["type"],
            visit=visit, started_at=now,
        )  # fmt: skip
        self.writes.opened = (visit_row, message)
        self.open_visit = visit_row
        self.visits[step["key"]] = visit
        return visit_row

    def apply_context_updates(self, step: dict[str, Any], result: StepResult) -> None:
        stored = self.run.context
        for name, value in result.context_updates.items():
            if isinstance(value, dict):
                stored[name] = {**(stored.get(name) or {}), **value}
            else:
                stored[name] = value
            if name == "event" and self._context is not None:
                self._context["event"] = value
        if result.context_updates:
            self.writes.run_changed = True
        answered = result.error is None and result.wait_until is None
        if step["type"] == "webhook" and answered:
            self.writes.run_changed = True
            stored.setdefault("steps", {})[step["key"]] = result.output
            if self._context is not None:
                self._context["steps"] = stored["steps"]

    def record(self, turn: _Turn) -> None:
        step, visit, visit_row, result, now = turn
        if visit_row is not None:
            if not result.recorded:
                visit_row.finished_at = now
                visit_row.outcome = result.outcome
                visit_row.error = result.error or ""
                visit_row.message_id = result.message_id or visit_row.message_id
                self.writes.updated.append(visit_row)
            self.open_visit = None
        else:
            self.writes.created.append(
                StepRun(
                    enrollment=self.run, step_key=step["key"], step_type=step["type"],
                    visit=visit, started_at=now, finished_at=now, outcome=result.outcome,
                    error=result.error or "", message_id=result.message_id,
                )
            )  # fmt: skip
        self.visits[step["key"]] = visit
        self.writes.run_changed = True  # it moves on from this step
        self.writes.events.append(step_completed_event(step, visit, result.outcome, now))
        if step["type"] == "send" and self._context is not None and "messages" in self._context:
            # A later step of this walk reads what became of this message: read anew.
            self._context = None

    def wait(self, turn: _Turn) -> None:
        step, visit, visit_row, result, now = turn
        self.run.wake_at = result.wait_until
        if step["type"] == "wait_for_event":
            self.awaiting = (step, visit_row.started_at if visit_row is not None else now)
        if visit_row is None:
            self.writes.created.append(
                StepRun(
                    enrollment=self.run, step_key=step["key"], step_type=step["type"],
                    visit=visit, started_at=now, outcome=result.outcome,
                )
            )  # fmt: skip
        elif visit_row.outcome != result.outcome or result.message_id:
            visit_row.outcome = result.outcome
            visit_row.message_id = result.message_id or visit_row.message_id
            self.writes.updated.append(visit_row)
        self.writes.release = True

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
        self.writes.events.append((f"run.{state}", details))
        self.writes.release = True

    def writes_take(self) -> Writes:
        writes, self.writes = self.writes, Writes()
        return writes

    def event_payload(self, data: dict[str, Any]) -> dict[str, Any]:
        return run_event_payload(self.run, data)


def _waits_for_window(visit_row: StepRun) -> bool:
    """An open send visit that waited for its send window: no Message written yet."""
    return visit_row.outcome == WAITING_FOR_WINDOW and visit_row.message_id is None


def step_completed_event(
    step: dict[str, Any], visit: int, outcome: str, now: datetime
) -> tuple[str, dict[str, Any]]:
    """The ``run.step_completed`` event of one finished visit."""
    return (
        "run.step_completed",
        {
            "step": step["key"],
            "step_type": step["type"],
            "visit": visit,
            "outcome": outcome,
            "finished_at": now.isoformat(),
        },
    )


def run_event_payload(run: Enrollment, data: dict[str, Any]) -> dict[str, Any]:
    """A run event's payload: who, which journey and version, where the run stands."""
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
