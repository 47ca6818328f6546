"""Sending state webhooks: claim one delivery, sign it, POST it, record the outcome.

Delivery happens outside any transaction: a task claims one delivery row with a short
lease, sends it, and writes the outcome. Retries are durable timers
(``next_attempt_at``) found by the sweep, so a back-off spanning a day holds nothing in
a worker's memory and survives a broker or worker restart.
"""

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from delivery.models import WebhookDelivery, WebhookEndpoint
from delivery.outbound import BlockedDestination, OutboundError, http_request

logger = logging.getLogger(__name__)

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

# --- sending --------------------------------------------------------------------------


def webhook_signature(*, secret: str, message_id: str, timestamp: int, body: str) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``: Standard Webhooks'
    signature, made by its reference library (which receivers verify with)."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(secret).sign(msg_id=message_id, timestamp=moment, data=body)


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
