"""What the entry path does when lower apps report changes (connected in apps.ready)."""

from datetime import datetime
from typing import Any

from django.db import transaction

from customers.tracking import MessageType, TrackedMessage
from journeys.entry import tasks
from journeys.entry.events.service import events_ingest
from journeys.entry.segment_entries import segment_joins_apply
from journeys.models import Journey, JourneyVersion


def members_joined(sender: Any, *, segment: Any, customer_ids: list[int], **kwargs: Any) -> None:
    """New members of a static segment leave the runs its joiners exit and enter its
    journeys, in the same transaction."""
    segment_joins_apply(segment, customer_ids)


def customers_changed(
    sender: Any, *, workspace_id: int, customer_ids: list[int], **kwargs: Any
) -> None:
    """Changed customers are checked against watched dynamic segments once committed;
    a workspace without live segment-triggered journeys nor exit criteria costs two
    probes."""
    watching = (
        Journey.objects.filter(
            workspace_id=workspace_id,
            status=Journey.Status.LIVE,
            trigger_type=Journey.TriggerType.SEGMENT,
        ).exists()
        or JourneyVersion.objects.filter(
            journey__workspace_id=workspace_id,
            journey__status__in=(Journey.Status.LIVE, Journey.Status.PAUSED),
            definition__has_key="exit",
        )
        .exclude(definition__exit__segment_id=None)  # exit criteria by events only
        .exists()
    )
    if watching:
        ids = list(customer_ids)
        transaction.on_commit(
            lambda: tasks.segment_presence_check.delay(workspace_id, ids), robust=True
        )


def message_engagement(
    sender: Any,
    *,
    message: Any,
    event: str,
    properties: dict[str, Any],
    occurred_at: datetime,
    key: str,
    **kwargs: Any,
) -> None:
    """An ESP's report on a message (``email.opened``...) becomes an event of the
    message's customer, in the transaction that recorded the report: stored with it or
    not at all. Matching, which wakes the runs waiting for it, starts once committed."""
    events_ingest(
        workspace=message.workspace,
        messages=[
            TrackedMessage(
                type=MessageType.TRACK,
                customer_pk=message.customer_id,
                event=event,
                properties=properties,
                timestamp=occurred_at,
                message_id=key,
            )
        ],
    )
