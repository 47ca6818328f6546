"""Celery tasks of the entry path (the beat schedule in settings names them)."""

from celery import shared_task

from journeys.entry.events.matching import events_match as match_waiting_events
from journeys.entry.idempotency import idempotency_records_purge as purge_expired


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
