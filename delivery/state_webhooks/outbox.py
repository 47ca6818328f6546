"""Recording state events: the outbox half of state webhooks.

Events are written inside the transaction that makes the change they report, so a
committed change always has its deliveries and a rolled-back one never does; sending
starts only after commit.
"""

from collections.abc import Iterable
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from customers.models import Workspace
from delivery import tasks
from delivery.models import WebhookDelivery, WebhookEndpoint
from delivery.state_webhooks.endpoints import EVENT_TYPES

#: Up to this many new deliveries, each gets its own task on commit (the fast path);
#: more than that (bulk entry) kicks one sweep instead of flooding the broker.
KICK_LIMIT = 100


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
    transaction.on_commit(tasks.webhook_deliveries_sweep.delay, robust=True)


def _enabled_endpoints(workspace_id: int) -> list[tuple[int, list[str]]]:
    return list(
        WebhookEndpoint.objects.filter(workspace_id=workspace_id, enabled=True).values_list(
            "pk", "event_types"
        )
    )


def _kick(ids: list[int], count: int) -> None:
    """After commit: send small batches at once, leave big ones to a single sweep."""
    if len(ids) == count and count <= KICK_LIMIT:
        for delivery_id in ids:
            tasks.webhook_delivery_send.delay(delivery_id)
    else:
        tasks.webhook_deliveries_sweep.delay()
