"""Ending runs from outside their walk: a journey archived, runs replaced by new
entries, runs cancelled through the API.

One UPDATE exits the runs, however many there are, and clears their leases so that a
worker walking one of them cannot write it back to life. One ``INSERT ... SELECT``
reports each exit as ``run.exited``: the engine reports what a walk did run by run
(``RunWalker.event_payload``); here the database builds the same payload, for every
endpoint subscribed to the event.

A cancelled run also sends nothing more. A worker walking it right now confirms its
lease before each send (:class:`~journeys.engine.leases.LeaseWatch`), trusting the
database's answer for ``LeaseWatch.FRESHNESS``; so a cancel that took a run from a
worker answers only once that time has passed, and from its answer on, no message of
the run leaves (one already handed to the provider cannot be called back).
"""

import time
from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from customers.db import in_values
from customers.errors import NotFound
from customers.ids import public_id_sql
from customers.models import Customer, Workspace
from delivery.models import WebhookDelivery, WebhookEndpoint
from delivery.services import (
    webhook_deliveries_kick_after_commit,
    webhook_endpoints_subscribed,
)
from journeys.engine.leases import LeaseWatch
from journeys.models import Enrollment, Journey, JourneyVersion, StepRun

#: ``exit_reason`` of a run cancelled through the API, by id or by cancellation key.
CANCELLED_REASON = "cancelled"
#: What an open visit of a cancelled run shows on the timeline.
CANCELLED_OUTCOME = "cancelled"


def runs_exit(
    *, journey: Journey, runs: QuerySet[Enrollment], reason: str, finished_at: datetime
) -> int:
    """Exit ``runs`` (active runs of ``journey``) with their events; answers how many.
    Call inside the transaction of the change that ends them."""
    _exited_events_record(journey=journey, runs=runs, reason=reason, finished_at=finished_at)
    return runs.update(
        state=Enrollment.State.EXITED,
        exit_reason=reason,
        finished_at=finished_at,
        wake_at=None,
        lease_token=None,
        lease_expires_at=None,
    )


def run_cancel(*, workspace: Workspace, run_id: str) -> Enrollment:
    """Cancel one run of the workspace and answer it. A run that has ended already is
    left as it is (the caller tells a run cancelled before from one that ended
    otherwise by its ``exit_reason``)."""
    run = Enrollment.objects.filter(workspace=workspace, public_id=run_id).first()
    if run is None:
        raise NotFound("run not found", run_id=run_id)
    _runs_cancel(Enrollment.objects.filter(pk=run.pk))
    run.refresh_from_db()
    return run


def runs_cancel_by_key(*, workspace: Workspace, cancellation_key: str) -> int:
    """Cancel every active run of the workspace that entered with this cancellation key
    (``enrollment_cancel_key_idx``), whatever its journey; answers how many."""
    return _runs_cancel(
        Enrollment.objects.filter(workspace=workspace, cancellation_key=cancellation_key)
    )


def _runs_cancel(runs: QuerySet[Enrollment]) -> int:
    """Exit the active ones of ``runs`` as cancelled (:func:`runs_exit_now`); wait out
    the lease watch of a worker walking one (see the module docstring). Answers how many
    were cancelled."""
    with transaction.atomic():
        cancelled, leased = runs_exit_now(
            runs=runs, reason=CANCELLED_REASON, outcome=CANCELLED_OUTCOME, now=timezone.now()
        )
    if leased:
        time.sleep(LeaseWatch.FRESHNESS.total_seconds())
    return cancelled


def runs_exit_now(
    *, runs: QuerySet[Enrollment], reason: str, outcome: str, now: datetime
) -> tuple[int, bool]:
    """Exit the active ones of ``runs``, whatever journey and step they are at, with
    their events, closing the visit each was on with ``outcome``. Answers how many, and
    whether a worker held one (its lease watch stops its sends within
    ``LeaseWatch.FRESHNESS``). Call inside the transaction of the change; a few
    statements per journey, however many runs."""
    # Locked first, in key order: the walkers' commits lock them the same way, and a run
    # that completes meanwhile is not reported as exited.
    locked = list(
        runs.filter(state=Enrollment.State.ACTIVE)
        .select_for_update()
        .order_by("pk")
        .values_list("pk", "journey_id", "lease_token")
    )
    if not locked:
        return 0, False
    by_journey: dict[int, list[int]] = {}
    for pk, journey_id, _ in locked:
        by_journey.setdefault(journey_id, []).append(pk)
    StepRun.objects.filter(
        in_values(StepRun, "enrollment_id", [pk for pk, _, _ in locked]), finished_at__isnull=True
    ).update(finished_at=now, outcome=outcome)
    for journey in Journey.objects.filter(pk__in=by_journey):
        runs_exit(
            journey=journey,
            runs=Enrollment.objects.filter(in_values(Enrollment, "pk", by_journey[journey.pk])),
            reason=reason,
            finished_at=now,
        )
    return len(locked), any(token is not None for _, _, token in locked)


def _exited_events_record(
    *, journey: Journey, runs: QuerySet[Enrollment], reason: str, finished_at: datetime
) -> int:
    """``run.exited`` for each of ``runs``, written before they change; answers the
    deliveries written."""
    endpoint_ids = webhook_endpoints_subscribed(
        workspace=journey.workspace_id, event_type="run.exited"
    )
    if not endpoint_ids:
        return 0
    runs_sql, runs_params = runs.values("pk").query.sql_with_params()
    finished = finished_at.isoformat()
    payload = _json_object_sql(
        run_id="run.public_id",
        journey_id="%s",
        journey_version="version.number",
        customer_id="customer.public_id",
        external_id="customer.external_id",
        state="%s",
        entered_at=_iso_utc_sql("run.entered_at"),
        finished_at="%s",
        exit_reason="%s",
    )
    endpoints = ", ".join(["%s"] * len(endpoint_ids))
    sql = (
        f"INSERT INTO {WebhookDelivery._meta.db_table} (endpoint_id, event_id, event_type,"
        " payload, status, attempts, next_attempt_at, last_error, created_at)"
        f" SELECT endpoint.id, {public_id_sql('evt')}, %s, {payload}, %s, 0, %s, '', %s"
        f" FROM {Enrollment._meta.db_table} AS run"
        f" JOIN {Customer._meta.db_table} AS customer ON customer.id = run.customer_id"
        f" JOIN {JourneyVersion._meta.db_table} AS version ON version.id = run.version_id"
        f" JOIN {WebhookEndpoint._meta.db_table} AS endpoint ON endpoint.id IN ({endpoints})"
        f" WHERE run.id IN ({runs_sql})"
    )
    now = connection.ops.adapt_datetimefield_value(finished_at)
    params = [
        "run.exited",
        journey.public_id, Enrollment.State.EXITED.value, finished, reason,
        WebhookDelivery.Status.PENDING.value, now, now,
        *endpoint_ids,
        *runs_params,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        written = cursor.rowcount
    if written:
        webhook_deliveries_kick_after_commit()
    return written


def _json_object_sql(**fields: str) -> str:
    function = "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"
    pairs = ", ".join(f"'{name}', {value}" for name, value in fields.items())
    return f"{function}({pairs})"


def _iso_utc_sql(column: str) -> str:
    """A timestamp column as ``datetime.isoformat()`` writes it in UTC, as the walker's
    events carry it."""
    if connection.vendor == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00'"
    # SQLite keeps Django datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC.
    return f"replace({column}, ' ', 'T') || '+00:00'"
