"""Segment work that runs in a worker: CSV imports (:mod:`segments.imports`)."""

from celery import shared_task

from segments.imports import segment_import_run as import_run


@shared_task(name="segments.tasks.segment_import_run", acks_late=True)
def segment_import_run(import_id: int) -> None:
    import_run(import_id)
