"""What the entry path does when lower apps report changes (connected in apps.ready)."""

from typing import Any

from django.db import transaction

from journeys.entry import tasks
from journeys.entry.segment_entries import segment_joins_enter
from journeys.models import Journey


def members_joined(sender: Any, *, segment: Any, customer_ids: list[int], **kwargs: Any) -> None:
    """New members of a static segment enter its journeys, in the same transaction."""
    segment_joins_enter(segment, customer_ids)


def customers_changed(
    sender: Any, *, workspace_id: int, customer_ids: list[int], **kwargs: Any
) -> None:
    """Changed customers are checked against watched dynamic segments once committed;
    a workspace without live segment-triggered journeys costs one indexed probe."""
    watching = Journey.objects.filter(
        workspace_id=workspace_id,
        status=Journey.Status.LIVE,
        trigger_type=Journey.TriggerType.SEGMENT,
    ).exists()
    if watching:
        ids = list(customer_ids)
        transaction.on_commit(
            lambda: tasks.segment_presence_check.delay(workspace_id, ids), robust=True
        )
