"""Celery tasks of the entry path (the beat schedule in settings names them)."""

from celery import shared_task

from journeys.entry.events.matching import events_match as match_waiting_events
from journeys.entry.idempotency import idempotency_records_purge as purge_expired
from journeys.entry.segment_entries import segment_presence_check as presence_check
from journeys.entry.segment_entries import segment_presence_reconcile as presence_reconcile


@shared_task(name="journeys.tasks.idempotency_records_purge")
def idempotency_records_purge() -> int:
    """Delete idempotency records past their 24 hours."""
    return purge_expired()


@shared_task(name="journeys.tasks.events_match", ignore_result=True)
def events_match() -> int:
    """Match a batch of stored events with the journeys they trigger; queue the next
    batch first when more may wait. Kicked after events are stored, and run by beat
    every few seconds as the safety net; answers how many events it matched."""
    result = match_waiting_events()
    if result.more:
        events_match.delay()
    return result.events


@shared_task(name="journeys.tasks.segment_presence_check", ignore_result=True)
def segment_presence_check(workspace_id: int, customer_ids: list[int]) -> int:
    """Changed customers who newly match a watched dynamic segment enter its journeys;
    queued after the change commits. Answers how many runs started."""
    return presence_check(workspace_id=workspace_id, customer_ids=customer_ids)


@shared_task(name="journeys.tasks.segment_presence_sweep", ignore_result=True)
def segment_presence_sweep() -> int:
    """Beat's safety net under the checks: every watched dynamic segment reconciled."""
    return presence_reconcile(enter=True)
