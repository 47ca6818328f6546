"""Ending many runs at once (a journey archived, runs replaced by new entries).

One UPDATE exits the runs, however many there are, and clears their leases so that a
worker walking one of them cannot write it back to life. One ``INSERT ... SELECT``
reports each exit as ``run.exited``: the engine reports what a walk did run by run
(``RunWalker.event_payload``); here the database builds the same payload, for every
endpoint subscribed to the event.
"""

from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from customers.ids import public_id_sql
from customers.models import Customer
from delivery.models import WebhookDelivery, WebhookEndpoint
from delivery.services import (
    webhook_deliveries_kick_after_commit,
    webhook_endpoints_subscribed,
)
from journeys.models import Enrollment, Journey, JourneyVersion


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
