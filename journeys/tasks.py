"""Celery tasks: thin interfaces that call services."""

from celery import shared_task

from journeys.idempotency import idempotency_records_purge as purge_expired


@shared_task(name="journeys.tasks.idempotency_records_purge")
def idempotency_records_purge() -> int:
    return purge_expired()
