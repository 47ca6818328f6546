"""Runs as Courier shows them: its statuses, its list filters and its shapes.

Courier's run statuses map onto a run's state like this (one rule, used both to show a
run and to filter the list in SQL, so the two always agree):

- ``PROCESSING``: active, and due or being walked now;
- ``WAITING``: active, and waiting (a delay, an event, a retry) with no worker on it;
- ``PROCESSED``: completed, or ended by an exit step;
- ``CANCELED``: ended from outside: cancelled, its journey archived, replaced by a new
  entry;
- ``ERROR``: failed.

Courier's other statuses (``THROTTLED``, ``NOT PROCESSED``) name no run here.
"""

from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from customers.errors import InvalidRequest
from customers.models import Workspace
from journeys.engine.exits import CANCELLED_OUTCOME
from journeys.models import Enrollment, Journey, StepRun

#: ``exit_reason`` of a run that reached an exit step (journeys.engine.walker).
EXIT_STEP_REASON = "exit step"


def _status_q(now: datetime) -> dict[str, Q]:
    active = Q(state=Enrollment.State.ACTIVE)
    waiting = active & Q(lease_token__isnull=True) & (Q(wake_at__isnull=True) | Q(wake_at__gt=now))
    exited = Q(state=Enrollment.State.EXITED)
    return {
        "PROCESSING": active & ~waiting,
        "WAITING": waiting,
        "PROCESSED": Q(state=Enrollment.State.COMPLETED)
        | (exited & Q(exit_reason=EXIT_STEP_REASON)),
        "CANCELED": exited & ~Q(exit_reason=EXIT_STEP_REASON),
        "ERROR": Q(state=Enrollment.State.FAILED),
    }


def run_status(run: Enrollment, now: datetime | None = None) -> str:
    """A run's Courier status (see the module docstring)."""
    now = now or timezone.now()
    if run.state == Enrollment.State.ACTIVE:
        waiting = run.lease_token is None and (run.wake_at is None or run.wake_at > now)
        return "WAITING" if waiting else "PROCESSING"
    if run.state == Enrollment.State.COMPLETED:
        return "PROCESSED"
    if run.state == Enrollment.State.EXITED:
        return "PROCESSED" if run.exit_reason == EXIT_STEP_REASON else "CANCELED"
    return "ERROR"


def courier_runs(
    *,
    workspace: Workspace,
    statuses: list[str],
    journey_ids: list[str],
    start: datetime | None,
    end: datetime | None,
) -> QuerySet[Enrollment]:
    """The workspace's runs in any of ``statuses`` (all when empty), of any of
    ``journey_ids`` (all when empty), entered between ``start`` and ``end`` (inclusive);
    a status or journey id that names nothing matches nothing."""
    runs = Enrollment.objects.filter(workspace=workspace).select_related("journey")
    if statuses:
        by_status = _status_q(timezone.now())
        match = Q(pk__in=[])
        for status in statuses:
            match |= by_status.get(status, Q(pk__in=[]))
        runs = runs.filter(match)
    if journey_ids:
        journeys = Journey.objects.filter(workspace=workspace, public_id__in=journey_ids)
        runs = runs.filter(journey_id__in=list(journeys.values_list("pk", flat=True)))
    if start is not None:
        runs = runs.filter(entered_at__gte=start)
    if end is not None:
        runs = runs.filter(entered_at__lte=end)
    return runs


def courier_date(value: str, name: str, *, end_of_day: bool = False) -> datetime:
    """``2026-08-18`` or ``2026-08-18T20:06:36.259Z`` (a date alone is the day's first
    instant, or its last with ``end_of_day``, in UTC); anything else is a 400."""
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"{name}: expected an ISO 8601 date or timestamp, e.g. 2026-08-18 or "
            f"2026-08-18T20:06:36.259Z (got {value[:100]!r})",
            field=name,
        ) from None
    if len(value) == 10 and end_of_day:
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999_999)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # an offset that moves it past year 9999 or before year 1
        extreme = datetime.max if moment.year == datetime.max.year else datetime.min
        return extreme.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def courier_run_item(run: Enrollment, now: datetime) -> dict[str, Any]:
    """A run as Courier's list shows it."""
    kind = "invoke" if run.journey.trigger_type == Journey.TriggerType.API else "event"
    return {
        "run_id": run.public_id,
        "source": [f"{kind}/{run.journey.public_id}"],
        "created_at": _iso(run.entered_at),
        "status": run_status(run, now),
        "template_id": run.journey.public_id,
    }


def courier_run(run: Enrollment) -> dict[str, Any]:
    """A run as Courier's ``GET /journeys/runs/{run_id}`` shows it: ``updated_at`` is
    when it last changed (it ended, or a step of it started or finished)."""
    moments = [run.entered_at, run.finished_at]
    for step in run.step_runs.all():
        moments += [step.started_at, step.finished_at]
    return {
        **courier_run_item(run, timezone.now()),
        "updated_at": _iso(max(moment for moment in moments if moment is not None)),
    }


def courier_step(step: StepRun) -> dict[str, Any]:
    """One visit of a run to a step, as Courier's run steps show it."""
    if step.finished_at is None:
        status = "WAITING" if step.outcome in ("waiting", "retrying") else "PROCESSING"
    elif step.error:
        status = "ERROR"
    elif step.outcome == CANCELLED_OUTCOME:
        status = "CANCELED"
    else:
        status = "PROCESSED"
    return {
        "action": step.step_type,
        "node_id": step.step_key,
        "status": status,
        "error": {"message": step.error} if step.error else None,
        "skip_reason": None,
        "message_id": step.message.public_id if step.message else None,
        "created_at": _iso(step.started_at),
        "updated_at": _iso(step.finished_at or step.started_at),
    }
