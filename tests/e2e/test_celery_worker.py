"""The Celery app runs tasks in a real worker process, through Redis, on PostgreSQL."""

import time
from datetime import timedelta

from django.utils import timezone

from journeys.entry.tasks import idempotency_records_purge
from journeys.models import IdempotencyRecord


def test_worker_purges_expired_idempotency_records(celery_worker_process, workspace):
    now = timezone.now()
    IdempotencyRecord.objects.create(
        workspace=workspace, key="old", request_fingerprint="x", created_at=now - timedelta(days=2)
    )
    IdempotencyRecord.objects.create(
        workspace=workspace, key="fresh", request_fingerprint="y", created_at=now
    )

    idempotency_records_purge.delay()

    deadline = time.monotonic() + 30
    while IdempotencyRecord.objects.filter(key="old").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]
