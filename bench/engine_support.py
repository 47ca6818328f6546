"""What the engine benchmarks (``engine.py``, ``timers.py``, ``sends.py``) add to the
plumbing every benchmark shares (``bench/scratch.py``: scratch databases, the
environment set before ``django.setup()``, data loading, CPU accounting):

- ``scratch_services``: a scratch database and a flushed Redis db, with the same
  environment handed to the Celery children;
- real ``celery worker`` / ``celery beat`` subprocesses in their own sessions, logging
  to files, stopped at the end (also on errors, Ctrl-C and SIGTERM);
- the resident memory of a process tree, read from ``/proc``;
- an in-process profile of ``journeys.engine.runner.runs_walk``, in batches as a worker walks
  runs: SQL statements per run (Django's ``CaptureQueriesContext``), time in SQL, and a
  cProfile summary by area;
- ``noop_app``: a bare Celery app on the same broker with one no-op task, the baseline
  of ``engine.py`` (``celery -A bench.engine_support:noop_app worker``). It mirrors the
  product's Celery settings (late acks, prefetch 1, JSON, results ignored).

Nothing here imports Django at module level: the worker of ``noop_app`` imports this
module without Django, and the scripts must set the environment before setup.
"""

import contextlib
import cProfile
import os
import pstats
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from celery import Celery

from bench.scratch import (
    PROJECT_ROOT,
    code_version,
    descendants,
    django_start,
    machine_load,
    scratch_database_create,
    scratch_database_drop,
)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"

# --- the baseline: raw Celery no-op tasks ---------------------------------------------

noop_app = Celery("bench_noop")
noop_app.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL", DEFAULT_REDIS_URL),
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    broker_connection_retry_on_startup=True,
)


@noop_app.task(name="bench.noop")
def noop() -> None:
    """Does nothing: one message in, one ack out."""


def noop_messages_publish(redis_url: str, count: int, *, queue: str = "celery") -> None:
    """Queue ``count`` ``bench.noop`` messages quickly.

    One message is published the ordinary way (``apply_async``) and taken back; the
    rest are copies of it with fresh task ids and delivery tags, pushed in pipelines.
    The worker sees exactly what ``apply_async`` sends; only the setup is faster
    (``apply_async`` alone publishes a few hundred messages a second on a busy machine).
    """
    import uuid

    import redis

    broker = redis.Redis.from_url(redis_url)
    noop.apply_async()
    template = broker.rpop(queue).decode()
    fields = re.search(r'"id": "([0-9a-f-]{36})".*"delivery_tag": "([0-9a-f-]{36})"', template)
    task_id, tag = fields.group(1), fields.group(2)
    pipe = broker.pipeline(transaction=False)
    for number in range(count):
        message = template.replace(task_id, str(uuid.uuid4())).replace(tag, str(uuid.uuid4()))
        pipe.lpush(queue, message)
        if number % 2000 == 1999:
            pipe.execute()
    pipe.execute()


# --- environment and scratch services -------------------------------------------------


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# --- child processes --------------------------------------------------------------------


class Processes:
    """Celery children sharing one environment, each in its own session (a Ctrl-C here
    reaches only this script, which then stops them) and logging to a file."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.log_dir = Path(tempfile.mkdtemp(prefix="journeys-bench-"))
        self.children: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("w") as log:
            child = subprocess.Popen(
                argv, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.children[name] = (child, log_path)
        return child

    def worker(
        self, name: str, *, app: str = "config", concurrency: int = 2, ping_app: Any = None
    ) -> subprocess.Popen:
        """``celery -A <app> worker`` (prefork, log level WARNING as by default), ready
        when it answers a control ping."""
        hostname = f"{name}-{os.getpid()}@bench"
        child = self.start(
            name,
            [sys.executable, "-m", "celery", "-A", app, "worker", "--pool", "prefork",
             "--concurrency", str(concurrency), "--loglevel", "WARNING",
             "--hostname", hostname, "--without-heartbeat", "--without-gossip",
             "--without-mingle"],
        )  # fmt: skip
        if ping_app is None:
            from config.celery import app as ping_app
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log(name)[-3000:]}")
            if ping_app.control.ping(destination=[hostname], timeout=0.5):
                return child
        raise RuntimeError(f"{name} never answered a ping:\n{self.log(name)[-3000:]}")

    def beat(self, name: str = "beat") -> subprocess.Popen:
        schedule = self.log_dir / f"{name}-schedule"
        child = self.start(
            name,
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
             "--schedule", str(schedule)],
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while "beat: Starting" not in self.log(name):
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{self.log(name)[-3000:]}")
            time.sleep(0.1)
        return child

    def log(self, name: str) -> str:
        return self.children[name][1].read_text(errors="replace")

    def stop(self, name: str) -> None:
        child, _ = self.children.pop(name)
        _stop_group(child)

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name)


def _stop_group(child: subprocess.Popen) -> None:
    """SIGTERM the child's process group (warm shutdown), SIGKILL it if it lingers."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
    # Pool children left behind by a killed parent share the group: make sure.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)


def sigterm_as_interrupt() -> None:
    """SIGTERM unwinds like Ctrl-C, so every ``finally`` stops the children."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def tree_rss_kib(pid: int) -> tuple[int, int]:
    """Sum of VmRSS (KiB) over ``pid`` and its descendants, and how many processes."""
    total, count = 0, 0
    for current in [pid, *descendants(pid)]:
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(match.group(1)) if match else 0
        count += 1
    return total, count


def database_sessions() -> int:
    """Sessions ever opened on this database (PostgreSQL 14+ ``pg_stat_database``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def connection_open_ms(samples: int = 20) -> float:
    """Median cost of opening a Django database connection and running a first query."""
    from django.db import connection

    timings = []
    for _ in range(samples):
        connection.close()
        started = time.perf_counter()
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


# --- reporting --------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (as numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def banner(title: str, details: list[str]) -> None:
    print(f"== {title}")
    for line in details:
        print(f"   {line}")
    print(f"   {code_version()}; {machine_load()}")
    sys.stdout.flush()


# --- profiling the walker in-process ---------------------------------------------------

_AREAS = (
    ("psycopg", "database driver (psycopg, incl. waiting on PostgreSQL)"),
    ("django/db", "Django ORM / SQL compiler"),
    ("liquid", "Liquid templates"),
    ("smtplib", "smtplib"),
    ("email/", "e-mail message building (stdlib email, django.core.mail)"),
    ("django/core/mail", "e-mail message building (stdlib email, django.core.mail)"),
    ("/journeys/", "engine and steps (journeys/)"),
    ("/delivery/", "delivery (delivery/)"),
    ("/segments/", "conditions (segments/)"),
    ("json", "JSON"),
    ("django/", "Django (other)"),
)


def _area(filename: str, name: str) -> str:
    if filename.startswith("~"):  # C functions: what they are says where the time goes
        if "_socket" in name or "_ssl" in name:
            return "socket I/O (SMTP, broker)"
        return "C builtins (getattr, isinstance, hashing...)"
    for needle, area in _AREAS:
        if needle in filename:
            return area
    return "other Python"


def _normalize_sql(sql: str) -> str:
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "?", sql)
    sql = re.sub(r"\(\?(, \?)+\)", "(?...)", sql)
    sql = re.sub(r"(\(\?(...)?[^()]*\)(, )?){2,}", "(...rows...)", sql)
    sql = re.sub(r"SELECT .*? FROM", "SELECT ... FROM", sql, count=1)
    sql = re.sub(r"SET .*? WHERE", "SET ... WHERE", sql, count=1)
    return sql[:110]


def walks_profile(run_ids: list[int], *, label: str, capture_share: float = 0.5) -> None:
    """Walk leased runs in this process, a batch at a time as ``runs_advance`` does, and
    print where the time goes.

    The first ``capture_share`` of the runs are walked under ``CaptureQueriesContext``
    (statements per run by shape, time spent in SQL); the rest under cProfile (time by
    area). The runs are claimed with ``runs_claim`` (one claim for all), and the claim's
    own queries are reported apart.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from journeys.engine.claims import runs_claim
    from journeys.engine.runner import runs_walk
    from journeys.engine.tasks import ADVANCE_BATCH

    with CaptureQueriesContext(connection) as claim_queries:
        started = time.perf_counter()
        claim = runs_claim(run_ids=run_ids)
        claimed = claim.run_ids
        claim_seconds = time.perf_counter() - started
    split = max(1, int(len(claimed) * capture_share))
    captured, profiled = claimed[:split], claimed[split:]

    def batches(ids: list[int]) -> list[list[int]]:
        return [ids[start : start + ADVANCE_BATCH] for start in range(0, len(ids), ADVANCE_BATCH)]

    wall = 0.0
    statements: list[dict[str, Any]] = []
    for batch in batches(captured):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            runs_walk(claim.only(batch))
            wall += time.perf_counter() - started
        statements.extend(queries.captured_queries)

    print(f"-- profile ({label}): {len(claimed)} runs walked in this process")
    print(
        f"   a new database connection (connect + first query) costs {connection_open_ms():.1f}"
        " ms; Celery's Django fixup closes connections around every task"
    )
    print(
        f"   claim of the batch: {len(claim_queries.captured_queries)} queries,"
        f" {claim_seconds * 1000:.1f} ms for {len(claimed)} runs"
    )
    if captured:
        # Django keeps each query's time to the millisecond: sums and means, not medians.
        runs = len(captured)
        sql = sum(float(q["time"]) for q in statements)
        print(
            f"   walked in batches of {ADVANCE_BATCH}: {len(statements) / runs:.2f} statements"
            f" per run over {runs} runs"
        )
        print(
            f"   time per run: {wall / runs * 1000:.2f} ms, of which SQL statements"
            f" {sql / runs * 1000:.2f} ms ({sql / wall:.0%})"
        )
        by_shape: dict[str, list[float]] = {}
        for query in statements:
            by_shape.setdefault(_normalize_sql(query["sql"]), []).append(float(query["time"]))
        print("   statements by shape, in order of first use: per run, mean ms each")
        for shape, times in by_shape.items():
            mean_ms = statistics.fmean(times) * 1000
            print(f"     {len(times) / runs:5.2f}  {mean_ms:5.2f} ms  {shape}")
    if profiled:
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for batch in batches(profiled):
            runs_walk(claim.only(batch))
        profiler.disable()
        elapsed = time.perf_counter() - started
        stats = pstats.Stats(profiler)
        by_area: Counter = Counter()
        for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
            by_area[_area(filename, name)] += row[2]  # tottime: time in the function itself
        total = sum(by_area.values()) or 1.0
        print(
            f"   cProfile over {len(profiled)} runs ({elapsed / len(profiled) * 1000:.2f} ms"
            " per run under the profiler), own time by area:"
        )
        for area, seconds in by_area.most_common(8):
            print(f"     {seconds / total:5.1%}  {area}")
        top = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:8]  # type: ignore[attr-defined]
        print("   top functions by own time:")
        for (filename, line, name), row in top:
            where = filename.replace(str(PROJECT_ROOT) + "/", "")
            where = re.sub(r".*site-packages/", "", where)
            print(f"     {row[2] / total:5.1%}  {row[1]:>7} calls  {name} ({where}:{line})")
    sys.stdout.flush()


@contextlib.contextmanager
def scratch_services(
    *, database: str, redis_url: str, keep: bool, **extra_env: str
) -> Iterator[tuple[dict[str, str], Processes]]:
    """Scratch database and flushed Redis db, Django set up, children stopped after."""
    sigterm_as_interrupt()
    redis_flush(redis_url)
    database_url = scratch_database_create(database)
    processes: Processes | None = None
    try:
        env = django_start(database_url=database_url, redis_url=redis_url, **extra_env)
        processes = Processes(env)
        yield env, processes
    finally:
        if processes is not None:
            processes.stop_all()
        with contextlib.suppress(Exception):
            redis_flush(redis_url)
        if keep:
            print(f"   kept database {database}")
        else:
            with contextlib.suppress(Exception):
                scratch_database_drop(database)
