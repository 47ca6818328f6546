"""Celery tasks of the entry path (the beat schedule in settings names them)."""

from celery import shared_task

from journeys.entry.idempotency import idempotency_records_purge as purge_expired


@shared_task(name="journeys.tasks.idempotency_records_purge")
def idempotency_records_purge() -> int:
    """Delete idempotency records past their 24 hours."""
    return purge_expired()
