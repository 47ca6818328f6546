"""What the entry path does when lower apps report changes (connected in apps.ready)."""

from typing import Any

from django.db import transaction

from journeys.entry import tasks
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
        ).exists()
    )
    if watching:
        ids = list(customer_ids)
        transaction.on_commit(
            lambda: tasks.segment_presence_check.delay(workspace_id, ids), robust=True
        )
