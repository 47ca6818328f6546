"""Real processes for end-to-end tests: Celery workers and beat on the test database."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.25) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class ProcessGroup:
    """Child processes started for one test, each logging to a file, all stopped after."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.children: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, argv: list[str], ready: str | None = None) -> subprocess.Popen:
        log_path = self.tmp_path / f"{name}.log"
        child = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=self.env, stdout=log_path.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.children[name] = (child, log_path)
        if ready:
            self.wait_for_log(name, ready)
        return child

    def worker(self, name: str = "worker", concurrency: int = 1) -> subprocess.Popen:
        return self.start(
            name,
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
             "--concurrency", str(concurrency), "--loglevel", "INFO", "--hostname", f"{name}@%h",
             "--without-heartbeat", "--without-gossip", "--without-mingle"],
            ready="ready.",
        )  # fmt: skip

    def beat(self) -> subprocess.Popen:
        schedule = self.tmp_path / "beat-schedule"
        return self.start(
            "beat",
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
             "--schedule", str(schedule)],
            ready="beat: Starting",
        )  # fmt: skip

    def log(self, name: str) -> str:
        return self.children[name][1].read_text()

    def wait_for_log(self, name: str, needle: str, timeout: float = 60) -> None:
        """Poll the log file (a pipe nobody drains would block a chatty child)."""
        child, _ = self.children[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and child.poll() is None:
            if needle in self.log(name):
                return
            time.sleep(0.1)
        raise AssertionError(f"{name} never printed {needle!r}:\n{self.log(name)}")

    def kill(self, name: str) -> None:
        """SIGKILL the whole process group: a worker and its pool die mid-flight."""
        child, _ = self.children[name]
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)

    def stop_all(self) -> None:
        for child, _ in self.children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child, _ in self.children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)


@pytest.fixture
def processes(transactional_db, tmp_path) -> Iterator[Callable[..., ProcessGroup]]:
    """Start Celery processes on the test database and an emptied broker.

    ``processes(EMAIL_URL=...)`` returns a :class:`ProcessGroup` whose children get
    those extra environment variables.
    """
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    groups: list[ProcessGroup] = []

    def start(**extra_env: str) -> ProcessGroup:
        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_test_db(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "REDIS_URL": settings.REDIS_URL,
            **extra_env,
        }
        group = ProcessGroup(tmp_path, env)
        groups.append(group)
        return group

    yield start
    for group in groups:
        group.stop_all()


@pytest.fixture
def celery_worker_process(processes) -> subprocess.Popen:
    """One ``celery -A config worker`` on the test database."""
    return processes().worker()
