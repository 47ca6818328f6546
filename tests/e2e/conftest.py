"""Real processes for end-to-end tests: a Celery worker on the test database and broker."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def database_url_for_test_db() -> str:
    """The URL of the database pytest-django created, for child processes to share."""
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path) -> Iterator[subprocess.Popen]:
    """``celery -A config worker`` as a separate process, on an emptied broker queue."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_test_db(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "REDIS_URL": settings.REDIS_URL,
    }
    log_path = tmp_path / "worker.log"
    log = log_path.open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
         "--loglevel", "INFO", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_for_log(worker, log_path, "ready.", timeout=60)
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


def _wait_for_log(process: subprocess.Popen, log_path: Path, needle: str, timeout: float) -> None:
    """Poll the worker's log file (a pipe nobody drains would block a chatty worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if needle in log_path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"worker never printed {needle!r}:\n{log_path.read_text()}")
