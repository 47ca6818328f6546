"""State webhooks: run and journey events delivered to a workspace's own endpoints.

The engine records an event in the same transaction as the state change it reports
(the outbox pattern), so a committed change always has its deliveries and a rolled-back
one never does. Delivery happens later, outside any transaction: a task claims one
delivery row with a short lease, sends it, and writes the outcome. Retries are durable
timers (``next_attempt_at``) found by a beat-driven sweep, so a back-off spanning a day
holds nothing in a worker's memory and survives a broker or worker restart.

Requests follow Standard Webhooks (https://www.standardwebhooks.com/): the body is
``{"type", "timestamp", "data"}`` and the ``webhook-id`` / ``webhook-timestamp`` /
``webhook-signature`` headers let a receiver verify it with any Standard Webhooks
library given the endpoint's ``whsec_`` secret.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from customers.errors import InvalidRequest, NotFound
from customers.models import Workspace
from delivery.models import WebhookDelivery, WebhookEndpoint
from delivery.outbound import BlockedDestination, OutboundError, http_request

logger = logging.getLogger(__name__)

#: Every event type an endpoint can subscribe to; an endpoint with none gets them all.
EVENT_TYPES: tuple[str, ...] = (
    "run.entered",
    "run.step_completed",
    "run.completed",
    "run.exited",
    "run.failed",
    "journey.published",
    "journey.paused",
    "journey.archived",
)

#: How long to wait before each attempt, counted from the end of the previous one
#: (Standard Webhooks / Svix): immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
#: Eight attempts over about 27.6 hours; after the last failure the delivery fails.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)

#: Seconds one HTTP attempt may take; the lease must comfortably outlast it, so that a
#: slow receiver never lets a second worker send the same delivery in parallel.
SEND_TIMEOUT_SECONDS = 10.0
LEASE = timedelta(minutes=2)

#: Response bodies are only kept as an error excerpt; there is no reason to read more.
MAX_RESPONSE_BYTES = 64 * 1024
ERROR_EXCERPT_CHARS = 500

#: Up to this many new deliveries, each gets its own task on commit (the fast path);
#: more than that (bulk entry) kicks one sweep instead of flooding the broker.
KICK_LIMIT = 100

#: Bounds the fan-out of every event and the work of an unpaginated list.
MAX_ENDPOINTS_PER_WORKSPACE = 50

SECRET_PREFIX = "whsec_"

_url_validator = URLValidator(schemes=["http", "https"])


# --- endpoints ------------------------------------------------------------------------


def webhook_secret_new() -> str:
    """``whsec_`` + base64 of 24 random bytes: the format Standard Webhooks libraries read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def webhook_url_validate(url: str) -> str:
    """An absolute http(s) URL, or :class:`InvalidRequest` naming the problem.

    Where the URL points (loopback, private networks) is checked at send time by
    :mod:`delivery.outbound`, after DNS resolution, where it cannot be dodged.
    """
    url = (url or "").strip()
    if len(url) > WebhookEndpoint._meta.get_field("url").max_length:
        raise InvalidRequest("url: must be at most 2048 characters")
    try:
        _url_validator(url)
    except ValidationError:
        raise InvalidRequest("url: must be an absolute http:// or https:// URL") from None
    return url


def webhook_event_types_validate(event_types: Iterable[str] | None) -> list[str]:
    """Known event types, de-duplicated in the caller's order; empty means all."""
    if event_types is None:
        return []
    if isinstance(event_types, str):
        raise InvalidRequest("event_types: must be a list of event types")
    cleaned: list[str] = []
    for event_type in event_types:
        if event_type not in EVENT_TYPES:
            raise InvalidRequest(
                f"event_types: unknown event type {event_type!r}",
                allowed=list(EVENT_TYPES),
            )
        if event_type not in cleaned:
            cleaned.append(event_type)
    return cleaned


def webhook_endpoint_create(
    *, workspace: Workspace, url: str, event_types: Iterable[str] | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its signing secret, which callers show once."""
    url = webhook_url_validate(url)
    cleaned_types = webhook_event_types_validate(event_types)
    if WebhookEndpoint.objects.filter(workspace=workspace).count() >= MAX_ENDPOINTS_PER_WORKSPACE:
        raise InvalidRequest(
            f"a workspace can have at most {MAX_ENDPOINTS_PER_WORKSPACE} webhook endpoints"
        )
    secret = webhook_secret_new()
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url=url, secret=secret, event_types=cleaned_types
    )
    return endpoint, secret


def webhook_endpoint_list(*, workspace: Workspace) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(workspace=workspace).order_by("created_at", "pk")


def webhook_endpoint_get(*, workspace: Workspace, endpoint_id: str) -> WebhookEndpoint:
    """The workspace's endpoint by public id; any other id is the same 404."""
    endpoint = WebhookEndpoint.objects.filter(workspace=workspace, public_id=endpoint_id).first()
    if endpoint is None:
        raise NotFound("webhook endpoint not found")
    return endpoint


def webhook_endpoint_delete(*, workspace: Workspace, endpoint_id: str) -> None:
    """Delete the endpoint and its delivery history (pending deliveries are dropped).

    A send already in flight finishes, but its outcome has no row left to update.
    """
    webhook_endpoint_get(workspace=workspace, endpoint_id=endpoint_id).delete()


# --- recording (the outbox) -----------------------------------------------------------


def webhook_events_record(
    *, workspace: Workspace | int, event_type: str, payload: dict[str, Any]
) -> int:
    """Queue one event for every enabled endpoint subscribed to it; returns how many.

    Call it inside the transaction that makes the change: the deliveries commit or roll
    back with it, and they are sent only after commit. ``workspace`` may be a Workspace
    or its primary key, so the engine need not load the workspace to report a run.
    """
    return webhook_events_record_many(workspace=workspace, events=[(event_type, payload)])


def webhook_events_record_many(
    *, workspace: Workspace | int, events: Iterable[tuple[str, dict[str, Any]]]
) -> int:
    """:func:`webhook_events_record` for several events: one query, one insert.

    The cost without endpoints is one indexed query, so the engine may call this on
    every state change (bulk entry included) without checking first.
    """
    events = list(events)
    for event_type, _payload in events:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event type {event_type!r}")
    if not events:
        return 0
    workspace_id = workspace.pk if isinstance(workspace, Workspace) else workspace
    endpoints = _enabled_endpoints(workspace_id)
    if not endpoints:
        return 0
    now = timezone.now()
    deliveries = [
        WebhookDelivery(
            endpoint_id=endpoint_id,
            event_type=event_type,
            payload=payload,
            next_attempt_at=now,
        )
        for event_type, payload in events
        for endpoint_id, subscribed in endpoints
        if not subscribed or event_type in subscribed
    ]
    if not deliveries:
        return 0
    created = WebhookDelivery.objects.bulk_create(deliveries, batch_size=1000)
    ids = [delivery.pk for delivery in created if delivery.pk is not None]
    # robust: a broker outage must not turn a committed change into an error; the sweep
    # sends these deliveries anyway.
    transaction.on_commit(partial(_kick, ids, len(created)), robust=True)
    return len(created)


def webhook_endpoints_subscribed(*, workspace: Workspace | int, event_type: str) -> list[int]:
    """Ids of the workspace's enabled endpoints that receive ``event_type``: for callers
    that write many deliveries of one type with one ``INSERT ... SELECT``."""
    workspace_id = workspace.pk if isinstance(workspace, Workspace) else workspace
    return [
        endpoint_id
        for endpoint_id, subscribed in _enabled_endpoints(workspace_id)
        if not subscribed or event_type in subscribed
    ]


def webhook_deliveries_kick_after_commit() -> None:
    """Deliveries written in bulk are sent by one sweep once the transaction commits."""
    from delivery.tasks import webhook_deliveries_sweep

    transaction.on_commit(webhook_deliveries_sweep.delay, robust=True)


def _enabled_endpoints(workspace_id: int) -> list[tuple[int, list[str]]]:
    return list(
        WebhookEndpoint.objects.filter(workspace_id=workspace_id, enabled=True).values_list(
            "pk", "event_types"
        )
    )


def _kick(ids: list[int], count: int) -> None:
    """After commit: send small batches at once, leave big ones to a single sweep."""
    # Imported here: the tasks module imports this one.
    from delivery.tasks import webhook_deliveries_sweep, webhook_delivery_send

    if len(ids) == count and count <= KICK_LIMIT:
        for delivery_id in ids:
            webhook_delivery_send.delay(delivery_id)
    else:
        webhook_deliveries_sweep.delay()


# --- sending --------------------------------------------------------------------------


def webhook_signature(*, secret: str, message_id: str, timestamp: int, body: str) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _request_body(delivery: WebhookDelivery) -> str:
    """The same bytes on every attempt: the event's own time, not the attempt's."""
    return json.dumps(
        {
            "type": delivery.event_type,
            "timestamp": _iso(delivery.created_at),
            "data": delivery.payload,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _claim(delivery_id: int, now: datetime) -> datetime | None:
    """Take the delivery for one attempt; returns the lease (our token) or None.

    One conditional UPDATE in autocommit: the row lock lasts for that statement only,
    never across the HTTP call. The lease's exact value doubles as the fencing token,
    so a worker that outlived its lease cannot overwrite the next worker's outcome.
    """
    lease = now + LEASE
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id,
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        )
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
        .update(lease_expires_at=lease)
    )
    return lease if claimed else None


def _finish(delivery: WebhookDelivery, lease: datetime, **fields: Any) -> bool:
    """Write an attempt's outcome if the lease is still ours; releases the lease."""
    written = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, lease_expires_at=lease
    ).update(lease_expires_at=None, **fields)
    if not written:
        logger.warning(
            "webhook delivery %s: outcome dropped, the lease was lost or the delivery "
            "was settled meanwhile",
            delivery.event_id,
        )
    return bool(written)


def _excerpt(text: str) -> str:
    return text if len(text) <= ERROR_EXCERPT_CHARS else text[:ERROR_EXCERPT_CHARS] + "..."


def _delivered(delivery: WebhookDelivery, lease: datetime, *, status_code: int) -> None:
    _finish(
        delivery,
        lease,
        status=WebhookDelivery.Status.DELIVERED,
        attempts=delivery.attempts + 1,
        delivered_at=timezone.now(),
        next_attempt_at=None,
        last_status_code=status_code,
        last_error="",
    )


def _fail_or_retry(
    delivery: WebhookDelivery, lease: datetime, *, status_code: int | None, error: str
) -> None:
    """Schedule the next attempt, or fail the delivery once the schedule is spent."""
    attempts = delivery.attempts + 1
    common = {
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error": _excerpt(error),
    }
    if attempts >= len(RETRY_SCHEDULE):
        _finish(
            delivery, lease, status=WebhookDelivery.Status.FAILED, next_attempt_at=None, **common
        )
        return
    _finish(delivery, lease, next_attempt_at=timezone.now() + RETRY_SCHEDULE[attempts], **common)


def _fail(
    delivery: WebhookDelivery, lease: datetime, *, status_code: int | None, error: str
) -> None:
    """A failure no retry can fix (e.g. a blocked destination): fail now."""
    _finish(
        delivery,
        lease,
        status=WebhookDelivery.Status.FAILED,
        attempts=delivery.attempts + 1,
        next_attempt_at=None,
        last_status_code=status_code,
        last_error=_excerpt(error),
    )


def _endpoint_gone(delivery: WebhookDelivery, lease: datetime) -> None:
    """410 Gone: the receiver asked us to stop. Disable the endpoint, fail its backlog."""
    now = timezone.now()
    reason = f"410 Gone from the endpoint at {_iso(now.replace(microsecond=0))}"
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
            enabled=False, disabled_reason=reason
        )
        _finish(
            delivery,
            lease,
            status=WebhookDelivery.Status.FAILED,
            attempts=delivery.attempts + 1,
            next_attempt_at=None,
            last_status_code=410,
            last_error="410 Gone: endpoint disabled",
        )
        WebhookDelivery.objects.filter(
            endpoint_id=delivery.endpoint_id, status=WebhookDelivery.Status.PENDING
        ).update(
            status=WebhookDelivery.Status.FAILED,
            next_attempt_at=None,
            last_error="endpoint disabled: it answered 410 Gone",
        )


def webhook_delivery_attempt(*, delivery_id: int) -> None:
    """Make one attempt at a delivery, if it is pending, due and not leased elsewhere.

    Safe to call any number of times and from any number of workers: whoever loses the
    claim returns at once. Call it outside a transaction, as tasks are: the claim must
    commit before the request goes out, or its row lock would last as long as the call.
    """
    now = timezone.now()
    lease = _claim(delivery_id, now)
    if lease is None:
        return
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:  # the endpoint was deleted since the claim
        return
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        _fail(delivery, lease, status_code=None, error="endpoint disabled")
        return

    body = _request_body(delivery)
    timestamp = int(timezone.now().timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(
            secret=endpoint.secret, message_id=delivery.event_id, timestamp=timestamp, body=body
        ),
    }
    try:
        response = http_request(
            method="POST",
            url=endpoint.url,
            headers=headers,
            body=body.encode("utf-8"),
            idempotency_key=delivery.event_id,
            timeout=SEND_TIMEOUT_SECONDS,
            max_response_bytes=MAX_RESPONSE_BYTES,
            # Standard Webhooks receivers answer 2xx; a redirect is a misconfiguration,
            # and following it would resend the signed body somewhere else.
            max_redirects=0,
        )
    except BlockedDestination as exc:
        _fail(delivery, lease, status_code=None, error=f"blocked destination: {exc}")
        return
    except OutboundError as exc:
        if exc.status is not None and 200 <= exc.status < 300:
            # Accepted, only with a body too big to read: delivered all the same.
            _delivered(delivery, lease, status_code=exc.status)
        elif exc.status == 410:
            _endpoint_gone(delivery, lease)
        else:
            # Network errors, timeouts, 5xx, but also a rejected TLS certificate or a
            # redirect: each is something the receiver can fix within the schedule.
            _fail_or_retry(delivery, lease, status_code=exc.status, error=str(exc))
        return
    except Exception as exc:  # a bug must cost one attempt, not loop forever on the lease
        logger.exception("webhook delivery %s: unexpected error", delivery.event_id)
        _fail_or_retry(delivery, lease, status_code=None, error=f"internal error: {exc!r}")
        return

    if 200 <= response.status < 300:
        _delivered(delivery, lease, status_code=response.status)
    elif response.status == 410:
        _endpoint_gone(delivery, lease)
    else:
        text = response.body.decode("utf-8", errors="replace").strip()
        error = f"HTTP {response.status}" + (f": {text}" if text else "")
        _fail_or_retry(delivery, lease, status_code=response.status, error=error)


# --- the sweep ------------------------------------------------------------------------


def webhook_deliveries_due(*, limit: int = 100) -> list[int]:
    """Ids of pending deliveries that are due and not leased, oldest due first.

    ``SKIP LOCKED`` passes over rows a worker is claiming this instant instead of
    waiting for it. Returning an id claims nothing: the send task's claim decides, so a
    delivery handed out twice is still attempted once.
    """
    now = timezone.now()
    due = (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)
    )
    if not connection.features.has_select_for_update_skip_locked:
        return list(due[:limit])
    with transaction.atomic():
        return list(due.select_for_update(skip_locked=True)[:limit])
