"""Latency: trigger -> e-mail at an SMTP sink, p50/p99 at a steady rate, on both setups.

What it measures
    The time from a client sending ``POST .../journeys/{id}/trigger`` to the journey's
    e-mail arriving at a local SMTP sink, for a steady ``--rate`` triggers per second
    (default 50) held for ``--seconds`` (default 60), on two setups of the product:

    * ``services``: PostgreSQL and Redis, started as in production (README): a scratch
      database ``journeys_bench_latency`` and Redis db 3 (flushed), ``manage.py
      migrate`` (in this process), then ``python -m gunicorn config.wsgi --workers 2``
      (sync workers), ``celery -A config worker --concurrency 2`` and ``celery -A config
      beat``, with ``DATABASE_URL``, ``REDIS_URL``, ``CELERY_BROKER_URL`` and
      ``LOG_LEVEL=INFO`` (the default, as the embedded default logs).
    * ``embedded``: the embedded default exactly as ``make run`` starts it: ``python
      manage.py migrate`` then ``python manage.py embedded --port P`` (SQLite and the
      filesystem broker; web, worker and beat as its children) in a fresh temporary
      ``VAR_DIR``, with no ``DATABASE_URL``, ``REDIS_URL`` or ``CELERY_BROKER_URL`` in the
      environment. The API key, workspace and base URL come from the curl line it prints.

    Both get ``EMAIL_URL=smtp://127.0.0.1:<sink port>`` and, so that the benchmark is not
    throttled, ``RATELIMIT_TRIGGER_PER_MINUTE`` and ``RATELIMIT_DEFAULT_PER_MINUTE`` at
    1,000,000: the defaults new keys take (the services key is created in this process
    with that environment, the embedded demo key by ``embedded`` itself).
    ``PYTHONUNBUFFERED=1`` too, so the logs read during the run are current.

    Set-up, through the public API with that key: a one-step journey (``send`` e-mail,
    subject ``Order {{ data.order_id }}``, the payload's ``order_id`` declared required)
    imported and published, and one customer per trigger (``POST customers``,
    ``lat-<mode>-<n>`` / ``lat-<mode>-<n>@example.com``): a trigger does not create
    customers. Then 10 warm-up triggers (separate customers, not counted) are sent and
    their e-mails waited for, so the figures leave out the processes' first imports.

    The load is open-loop: trigger ``n`` is due at ``start + n / rate`` whatever the
    answers before it; 8 client threads, each with its own keep-alive
    ``http.client`` connection, sleep until their next trigger is due, so a slow answer
    does not delay the next send unless all 8 are waiting (the report prints how late
    sends were against the schedule). The sink (aiosmtpd in a forked process, as
    ``bench/burst.py`` runs it) writes each message's arrival time and recipient to a
    file. Latency = arrival at the sink - the moment the client began sending the
    request, both ``time.time()`` on this machine. After the last send it waits up to
    ``--grace`` seconds for missing e-mails; a trigger whose e-mail has not come by then
    is lost (for the figures: it may still be delivered later) and counts as an infinite
    latency in the percentiles.

    Printed per mode: a progress line every 10 s (sent, received, outstanding and the
    oldest outstanding, the broker's queue lengths: Redis lists, or the message files
    in ``VAR_DIR/broker/queue``, by queue); HTTP statuses and the answers' own time;
    latency p50/p90/p99/max; latency per 10-second window of send time (latency growing
    over the minute shows there); where the time went, per run from the database after
    the run (``accept``: send -> run entered, the HTTP request and the entry INSERT;
    ``queue``: entered -> its step started, the hand-off to a worker through the broker;
    ``send``: step started -> e-mail at the sink); the Celery tasks the worker logged
    during the run (count, time each, share of the pool's time, the rate it took tasks
    in, tasks it discarded as expired); the broker's queues at their peak and at the
    end; CPU used by web, worker, beat (and
    PostgreSQL's backends) and the rest of the machine. At the end a summary table with
    the targets: p99 <= 1 s on PostgreSQL/Redis, <= 2 s on the embedded default (issue
    10, section 7), PASS or MISS. Figures only: nothing is asserted.

How to run (from the project root; services mode needs the local PostgreSQL and Redis)
    .venv/bin/python bench/latency.py                         # both modes, 60 s each
    .venv/bin/python bench/latency.py --seconds 15 --mode embedded   # quick look

Options
    --seconds S         how long triggers are sent (default 60)
    --rate R            triggers per second (default 50)
    --mode M            embedded | services | both (default both: services, then embedded)
    --grace S           seconds to wait for missing e-mails after the last send (default 30)
    --port-base P       ports used: web services P, web embedded P+1, sink P+2 (default 18200)
    --database NAME     scratch database for services (journeys_bench_latency)
    --redis-url URL     broker and cache for services, flushed (redis://127.0.0.1:6379/3)
    --keep              keep the scratch database, the VAR_DIR and the logs
"""

import argparse
import contextlib
import http.client
import itertools
import json
import math
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.burst import Sink as BurstSink
from bench.burst import broker_queues
from bench.engine_support import (
    Processes,
    banner,
    percentile,
    scratch_services,
    sigterm_as_interrupt,
    wait_until,
)
from bench.scratch import (
    PROJECT_ROOT,
    descendants,
    machine_cpu_seconds,
    machine_load,
    process_cpu_seconds,
)

TARGETS = {"services": 1.0, "embedded": 2.0}  # p99 seconds, issue 10 section 7
LABELS = {"services": "PostgreSQL/Redis", "embedded": "embedded default"}
UNLIMITED = "1000000"
CLIENT_THREADS = 8
WARMUP_TRIGGERS = 10
WINDOW_SECONDS = 10.0
CUSTOMER_THREADS = 8
JOURNEY = {
    "name": "Latency bench",
    "trigger": {"type": "api",
                "schema": [{"name": "order_id", "type": "string", "required": True}]},
    "start": "mail",
    "steps": [
        {"key": "mail", "type": "send", "channel": "email",
         "subject": "Order {{ data.order_id }}",
         "body": "Hi {{ customer.external_id }}, order {{ data.order_id }} is confirmed.",
         "next": None},
    ],
}  # fmt: skip
CURL_LINE = re.compile(
    r"curl -sS -X POST (http://\S+?)/api/v1/workspaces/(ws_\w+)/journeys/(jrn_\w+)/trigger"
    r" -H 'Authorization: Bearer (sk_\w+)'"
)
TASK_DONE = re.compile(r"Task ([\w.]+)\[[\w-]+\] succeeded in ([\d.e-]+)s")
TASK_RECEIVED = re.compile(r"Task [\w.]+\[[\w-]+\] received")
TASK_DISCARDED = re.compile(r"Discarding revoked task: ([\w.]+)\[")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--mode", choices=("embedded", "services", "both"), default="both")
    parser.add_argument("--grace", type=float, default=30.0)
    parser.add_argument("--port-base", type=int, default=18200)
    parser.add_argument("--database", default="journeys_bench_latency")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def port_check(port: int) -> int:
    with socket.socket() as probe:
        # As servers bind: a closed connection's TIME-WAIT does not hold the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise SystemExit(f"port {port} is taken ({error}); pick --port-base") from None
    return port


class Sink(BurstSink):
    """``bench/burst.py``'s sink (arrival time and recipient per line of a file), on a
    port of our choosing."""

    def __init__(self, port: int) -> None:
        super().__init__(port_check(port))


# --- the HTTP client ----------------------------------------------------------------------


@dataclass
class Api:
    port: int
    key: str
    workspace: str

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def path(self, tail: str) -> str:
        return f"/api/v1/workspaces/{self.workspace}/{tail}"

    def post(
        self, conn: http.client.HTTPConnection, tail: str, body: dict[str, Any]
    ) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        conn.request("POST", self.path(tail), body=json.dumps(body).encode(), headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    def post_once(self, tail: str, body: dict[str, Any], expected: tuple[int, ...]) -> Any:
        conn = self.connection()
        try:
            status, data = self.post(conn, tail, body)
        finally:
            conn.close()
        if status not in expected:
            raise RuntimeError(f"POST {tail}: {status} {data[:500]!r}")
        return json.loads(data)


def health_wait(port: int, alive: Callable[[], bool], timeout: float = 90.0) -> None:
    def answers() -> bool:
        if not alive():
            raise RuntimeError("the web server exited")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    if not wait_until(answers, timeout=timeout, interval=0.2):
        raise RuntimeError(f"nothing answered /healthz on port {port} within {timeout:.0f} s")


def customers_create(api: Api, external_ids: list[str]) -> float:
    """``POST customers`` for each id from a few threads; returns the seconds it took."""
    numbers = iter(external_ids)
    lock = threading.Lock()
    errors: list[str] = []

    def work() -> None:
        conn = api.connection()
        while True:
            with lock:
                external_id = next(numbers, None)
            if external_id is None or errors:
                break
            body = {"external_id": external_id, "email": f"{external_id}@example.com"}
            try:
                status, data = api.post(conn, "customers", body)
            except (http.client.HTTPException, OSError) as error:
                errors.append(f"{type(error).__name__}: {error}")
                break
            if status not in (200, 201):
                errors.append(f"{status} {data[:300]!r}")
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(CUSTOMER_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"creating customers failed: {errors[0]}")
    return time.perf_counter() - started


@dataclass
class Trigger:
    number: int
    due: float  # epoch seconds, on the schedule
    sent: float = 0.0  # epoch seconds, when the request began
    answered: float = 0.0  # seconds the HTTP answer took
    status: str = ""  # HTTP status, or the error
    received: list[float] = field(default_factory=list)  # sink arrival times

    @property
    def latency(self) -> float:
        return min(self.received) - self.sent if self.received else math.inf


class Load:
    """Open-loop triggers: number ``n`` is due at ``start + n / rate``."""

    def __init__(self, api: Api, journey: str, prefix: str, count: int, rate: float) -> None:
        self.api, self.journey, self.prefix, self.rate = api, journey, prefix, rate
        self.triggers: list[Trigger] = []
        self.count = count
        self._next = itertools.count()
        self._lock = threading.Lock()
        self.start = 0.0
        self.threads: list[threading.Thread] = []

    def begin(self, delay: float = 0.5) -> None:
        self.start = time.time() + delay
        self.triggers = [Trigger(n, self.start + n / self.rate) for n in range(self.count)]
        self.threads = [
            threading.Thread(target=self._work, daemon=True) for _ in range(CLIENT_THREADS)
        ]
        for thread in self.threads:
            thread.start()

    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self.threads)

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def _work(self) -> None:
        conn = self.api.connection()
        tail = f"journeys/{self.journey}/trigger"
        while True:
            with self._lock:
                number = next(self._next)
            if number >= self.count:
                break
            trigger = self.triggers[number]
            time.sleep(max(0.0, trigger.due - time.time()))
            body = {"external_id": f"{self.prefix}{number}", "payload": {"order_id": f"L-{number}"}}
            trigger.sent = time.time()
            clock = time.perf_counter()
            try:
                status, _ = self.api.post(conn, tail, body)
                trigger.status = str(status)
            except (http.client.HTTPException, OSError) as error:
                trigger.status = type(error).__name__
                conn.close()
                conn = self.api.connection()
            trigger.answered = time.perf_counter() - clock
        conn.close()


def received_file(sink: Sink, prefix: str, triggers: list[Trigger], strays: Counter) -> None:
    """File the sink's new arrivals under their triggers."""
    for stamp, recipient in sink.received():
        local = recipient.split("@", 1)[0]
        if local.startswith(prefix) and local[len(prefix) :].isdigit():
            number = int(local[len(prefix) :])
            if number < len(triggers):
                triggers[number].received.append(stamp)
                continue
        strays[local.rsplit("-", 1)[0]] += 1


# --- the two setups -------------------------------------------------------------------------


class Target:
    """One setup of the product, started; ``api`` is set once it answers."""

    mode = ""
    api: Api
    journey: str = ""

    def queues(self) -> dict[str, int]:
        raise NotImplementedError

    def roles(self) -> dict[str, list[int]]:
        """Process ids by role (web, worker, beat, postgres), for the CPU figures."""
        raise NotImplementedError

    def runs(self) -> list[tuple[Any, ...]]:
        """(external_id, entered_at, its step's started_at) of the bench journey's runs."""
        raise NotImplementedError

    def worker_log(self) -> str:
        raise NotImplementedError


RUNS_SQL = (
    "SELECT c.external_id, e.entered_at, s.started_at"
    " FROM journeys_enrollment e JOIN customers_customer c ON c.id = e.customer_id"
    " JOIN journeys_journey j ON j.id = e.journey_id"
    " LEFT JOIN journeys_steprun s ON s.enrollment_id = e.id AND s.step_key = 'mail'"
    "  AND s.visit = 1"
    " WHERE j.public_id = {param}"
)


def _role(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    words = [part.decode(errors="replace") for part in argv]
    if any("gunicorn" in word for word in words):
        return "web"
    if "worker" in words:
        return "worker"
    if "beat" in words:
        return "beat"
    return "embedded (parent)" if "embedded" in words else "other"


def roles_of(*roots: int) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for root in roots:
        for pid in [root, *descendants(root)]:
            found.setdefault(_role(pid), []).append(pid)
    return found


class Services(Target):
    mode = "services"

    def __init__(self, args: argparse.Namespace, env: dict[str, str], processes: Processes):
        import redis

        from customers.models import ApiKey, Workspace

        self.args, self.env, self.processes = args, env, processes
        self.broker = redis.Redis.from_url(args.redis_url)
        port = port_check(args.port_base)
        python = sys.executable
        self.web = processes.start(
            "web", [python, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                    "--workers", "2"],
        )  # fmt: skip
        self.worker = processes.start(
            "worker", [python, "-m", "celery", "-A", "config", "worker", "--concurrency", "2",
                       "--loglevel", "INFO"],
        )  # fmt: skip
        self.beat = processes.beat()
        health_wait(port, lambda: self.web.poll() is None)
        if not wait_until(lambda: " ready." in processes.log("worker"), timeout=90):
            raise RuntimeError(f"the worker did not start:\n{processes.log('worker')[-3000:]}")
        # The key takes its budgets from RATELIMIT_*_PER_MINUTE, set in this environment.
        workspace = Workspace.objects.create(name="Latency bench")
        _, raw_key = ApiKey.objects.create_key(workspace=workspace, name="bench")
        self.api = Api(port, raw_key, workspace.public_id)

    def queues(self) -> dict[str, int]:
        return {
            name: length
            for name, length in broker_queues(self.broker).items()
            if not name.startswith("_kombu")
        }

    def roles(self) -> dict[str, list[int]]:
        from bench.scratch import database_backends

        found = roles_of(self.web.pid, self.worker.pid, self.beat.pid)
        found["postgres"] = database_backends(self.args.database)
        return found

    def runs(self) -> list[tuple[Any, ...]]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(RUNS_SQL.format(param="%s"), [self.journey])
            return cursor.fetchall()

    def worker_log(self) -> str:
        return self.processes.log("worker")


class Embedded(Target):
    mode = "embedded"

    def __init__(self, args: argparse.Namespace, env: dict[str, str], processes: Processes):
        self.processes = processes
        self.var_dir = Path(env["VAR_DIR"])
        port = port_check(args.port_base + 1)
        python = sys.executable
        migrate = subprocess.run(
            [python, "manage.py", "migrate", "--noinput"], cwd=PROJECT_ROOT, env=env,
            capture_output=True, text=True,
        )  # fmt: skip
        if migrate.returncode:
            raise RuntimeError(f"migrate failed:\n{migrate.stdout[-2000:]}{migrate.stderr[-2000:]}")
        self.parent = processes.start(
            "embedded", [python, "manage.py", "embedded", "--port", str(port)]
        )
        found: list[re.Match] = []

        def curl_printed() -> bool:
            if self.parent.poll() is not None:
                raise RuntimeError(f"embedded exited:\n{processes.log('embedded')[-3000:]}")
            found[:] = [m for m in [CURL_LINE.search(processes.log("embedded"))] if m]
            return bool(found)

        if not wait_until(curl_printed, timeout=120):
            raise RuntimeError(f"no curl line:\n{processes.log('embedded')[-3000:]}")
        base, workspace, _demo_journey, key = found[0].groups()
        if not base.endswith(f":{port}"):
            raise RuntimeError(f"embedded answers at {base}, not on port {port}")
        self.api = Api(port, key, workspace)

    def queues(self) -> dict[str, int]:
        counts: Counter = Counter()
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.var_dir / "broker" / "queue"):
                # <milliseconds>_<uuid>.<queue>.msg (config/broker.py)
                if entry.name.endswith(".msg"):
                    counts[entry.name.split(".", 1)[1].removesuffix(".msg")] += 1
        return dict(counts)

    def roles(self) -> dict[str, list[int]]:
        return roles_of(self.parent.pid)

    def runs(self) -> list[tuple[Any, ...]]:
        uri = f"file:{self.var_dir / 'db.sqlite3'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=20)) as db:
            return db.execute(RUNS_SQL.format(param="?"), [self.journey]).fetchall()

    def worker_log(self) -> str:
        return "\n".join(
            line for line in self.processes.log("embedded").splitlines() if "worker |" in line
        )


@contextlib.contextmanager
def services_target(
    args: argparse.Namespace, base_env: dict[str, str]
) -> Iterator[tuple[Target, Processes]]:
    with scratch_services(
        database=args.database, redis_url=args.redis_url, keep=args.keep, **base_env
    ) as (env, processes):
        yield Services(args, env, processes), processes


@contextlib.contextmanager
def embedded_target(
    args: argparse.Namespace, base_env: dict[str, str], shell_env: dict[str, str]
) -> Iterator[tuple[Target, Processes]]:
    """``shell_env``: this script's environment as it started, before the services mode
    (if it ran first) pointed it at PostgreSQL and Redis."""
    var_dir = tempfile.mkdtemp(prefix="journeys-bench-latency-var-")
    env = {
        name: value
        for name, value in shell_env.items()
        if name not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    }
    env.update(base_env, VAR_DIR=var_dir)
    processes = Processes(env)
    try:
        yield Embedded(args, env, processes), processes
    finally:
        processes.stop_all()
        if args.keep:
            print(f"   kept VAR_DIR {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)


# --- a measured run -----------------------------------------------------------------------


@dataclass
class Result:
    mode: str
    triggers: list[Trigger]
    strays: Counter
    setup: str = ""
    stages: dict[str, list[float]] = field(default_factory=dict)
    tasks: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    queue_peaks: Counter = field(default_factory=Counter)
    queues_end: dict[str, int] = field(default_factory=dict)
    tasks_received: int = 0
    tasks_discarded: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    load: str = ""


def cpu_snapshot(roles: dict[str, list[int]]) -> dict[int, tuple[str, float]]:
    return {
        pid: (role, cpu)
        for role, pids in roles.items()
        for pid in pids
        if (cpu := process_cpu_seconds(pid)) is not None
    }


def quantile(values: list[float], fraction: float) -> float:
    """``percentile``, where a lost e-mail (infinite latency) may be among the values."""
    finite = [value for value in values if not math.isinf(value)]
    if len(finite) == len(values):
        return percentile(values, fraction)
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    if position == low or math.isinf(ordered[low]):
        return ordered[low]
    return math.inf if math.isinf(ordered[low + 1]) else percentile(values, fraction)


def seconds_text(value: float) -> str:
    if math.isinf(value):
        return "lost"
    if math.isnan(value):
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def measure(args: argparse.Namespace, target: Target, sink: Sink) -> Result:
    mode, api = target.mode, target.api
    count = round(args.seconds * args.rate)
    prefix, warm_prefix = f"lat-{mode}-", f"warm-{mode}-"
    started = time.perf_counter()
    journey = api.post_once("journeys", JOURNEY, (201,))["id"]
    api.post_once(f"journeys/{journey}/publish", {}, (200,))
    target.journey = journey
    warm_ids = [f"{warm_prefix}{n}" for n in range(WARMUP_TRIGGERS)]
    customers_seconds = customers_create(api, [f"{prefix}{n}" for n in range(count)] + warm_ids)
    strays: Counter = Counter()

    # Warm-up: the processes' first requests and tasks import and connect.
    warm = Load(api, journey, warm_prefix, WARMUP_TRIGGERS, rate=5.0)
    warm.begin(delay=0.0)
    warm.join()

    def warm_arrived() -> bool:
        received_file(sink, warm_prefix, warm.triggers, strays)
        return all(t.received for t in warm.triggers)

    warmed = wait_until(warm_arrived, timeout=60, interval=0.2)
    warm_latencies = sorted(t.latency for t in warm.triggers)
    setup = (
        f"set-up {time.perf_counter() - started:.0f} s ({count + WARMUP_TRIGGERS:,} customers"
        f" through the API in {customers_seconds:.1f} s); warm-up {WARMUP_TRIGGERS} triggers,"
        f" {sum(1 for t in warm.triggers if t.received)} received, latency"
        f" {seconds_text(warm_latencies[0])} to {seconds_text(warm_latencies[-1])} s"
        + ("" if warmed else " (NOT all received)")
    )
    print(f"   {mode}: {setup}")
    sys.stdout.flush()
    time.sleep(2.0)
    strays.clear()
    received_file(sink, warm_prefix, warm.triggers, strays)  # late warm-up arrivals
    strays.clear()

    result = Result(mode, [], strays, setup=setup, load=machine_load())
    log_offset = len(target.worker_log())
    roles_before = target.roles()
    cpu_before = cpu_snapshot(roles_before)
    machine_before, client_before = machine_cpu_seconds(), time.process_time()
    sink_before = process_cpu_seconds(sink.process.pid) or 0.0
    load = Load(api, journey, prefix, count, args.rate)
    load.begin()
    result.triggers = load.triggers
    next_sample = load.start + WINDOW_SECONDS
    sending_ended: float | None = None
    while True:
        time.sleep(max(0.05, min(next_sample, time.time() + 0.5) - time.time()))
        now = time.time()
        received_file(sink, prefix, load.triggers, strays)
        queues = target.queues()
        for name, length in queues.items():
            result.queue_peaks[name] = max(result.queue_peaks[name], length)
        if sending_ended is None and load.done():
            sending_ended = now
        answered = [t for t in load.triggers if t.status == "202"]
        outstanding = [t for t in answered if not t.received]
        if now >= next_sample:
            sent = sum(1 for t in load.triggers if t.sent)
            oldest = f" (oldest {now - outstanding[0].sent:.1f} s)" if outstanding else ""
            queue_text = " ".join(f"{name}={length}" for name, length in sorted(queues.items()))
            print(
                f"   {mode} {now - load.start:+5.0f} s: sent {sent:,}, received"
                f" {sum(1 for t in load.triggers if t.received):,}, outstanding"
                f" {len(outstanding):,}{oldest}; queued: {queue_text or 'none'}"
            )
            sys.stdout.flush()
            next_sample += WINDOW_SECONDS
        if sending_ended is not None and (not outstanding or now > sending_ended + args.grace):
            break
    load.join()
    result.seconds = time.time() - load.start
    client_cpu = time.process_time() - client_before
    machine = machine_cpu_seconds() - machine_before
    cpu_after = cpu_snapshot(target.roles())
    for pid, (role, cpu) in cpu_after.items():
        result.cpu[role] = result.cpu.get(role, 0.0) + cpu - cpu_before.get(pid, (role, 0.0))[1]
    result.cpu["client (this script)"] = client_cpu
    result.cpu["sink"] = (process_cpu_seconds(sink.process.pid) or 0.0) - sink_before
    result.cpu["rest of the machine"] = max(0.0, machine - sum(result.cpu.values()))

    # Where the time went, per run, from the database.
    sent_at = {f"{prefix}{t.number}": t for t in load.triggers}
    stages: dict[str, list[float]] = {"accept": [], "queue": [], "send": [], "http answer": []}
    for external_id, entered, step_started in target.runs():
        trigger = sent_at.get(external_id)
        if trigger is None or not trigger.sent:
            continue
        entered_ts, step_ts = _epoch(entered), _epoch(step_started)
        stages["accept"].append(entered_ts - trigger.sent)
        if step_ts is not None:
            stages["queue"].append(step_ts - entered_ts)
            if trigger.received:
                stages["send"].append(min(trigger.received) - step_ts)
    stages["http answer"] = [t.answered for t in load.triggers if t.sent]
    result.stages = stages
    result.queues_end = queues
    log = target.worker_log()[log_offset:]
    for name, seconds in TASK_DONE.findall(log):
        result.tasks.setdefault(name.rsplit(".", 1)[-1], []).append(float(seconds))
    result.tasks_received = len(TASK_RECEIVED.findall(log))
    result.tasks_discarded = Counter(
        name.rsplit(".", 1)[-1] for name in TASK_DISCARDED.findall(log)
    )
    return result


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


# --- reporting ------------------------------------------------------------------------------


def distribution(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {seconds_text(quantile(values, 0.5))}  p90 {seconds_text(quantile(values, 0.9))}"
        f"  p99 {seconds_text(quantile(values, 0.99))}  max {seconds_text(max(values))}"
    )


def result_print(args: argparse.Namespace, result: Result) -> None:
    triggers = [t for t in result.triggers if t.sent]
    statuses = Counter(t.status for t in triggers)
    received = [t for t in triggers if t.received]
    duplicates = sum(len(t.received) - 1 for t in received)
    lost = [t for t in triggers if t.status == "202" and not t.received]
    late = [t.sent - t.due for t in triggers]
    label = LABELS[result.mode]
    print(f"-- {result.mode} ({label}): {result.load} at the start")
    print(
        f"   triggers sent {len(triggers):,} of {len(result.triggers):,} in"
        f" {args.seconds:g} s at {args.rate:g}/s; HTTP "
        + ", ".join(f"{status} x{n:,}" for status, n in sorted(statuses.items()))
    )
    print(
        f"   e-mails received {len(received):,}, lost {len(lost):,} (202 but no e-mail"
        f" {args.grace:g} s after the last send), duplicates {duplicates:,}"
        + (f", strays {sum(result.strays.values())}" if result.strays else "")
    )
    print(
        f"   sends behind the schedule: p50 {percentile(late, 0.5) * 1000:.1f} ms, max"
        f" {max(late) * 1000:.0f} ms (8 client threads)"
    )
    latencies = [t.latency for t in triggers]
    print(f"   latency trigger -> sink, s: {distribution(latencies)}")
    print("   by 10-second window of send time:")
    print("     window    sent  recv  lost     p50     p99     max")
    start = result.triggers[0].due
    windows: dict[int, list[Trigger]] = {}
    for trigger in triggers:
        windows.setdefault(int((trigger.due - start) // WINDOW_SECONDS), []).append(trigger)
    for index, members in sorted(windows.items()):
        values = [t.latency for t in members]
        print(
            f"     {index * WINDOW_SECONDS:3.0f}-{(index + 1) * WINDOW_SECONDS:<3.0f} s"
            f" {len(members):5} {sum(1 for t in members if t.received):5}"
            f" {sum(1 for t in members if not t.received):5}"
            f" {seconds_text(quantile(values, 0.5)):>7} {seconds_text(quantile(values, 0.99)):>7}"
            f" {seconds_text(max(values)):>7}"
        )
    print("   where the time went (per run, from the database), s:")
    meaning = {
        "http answer": "the trigger request's answer, as the client saw it",
        "accept": "send -> run entered (HTTP, auth, entry INSERT)",
        "queue": "run entered -> its step started (broker, a free worker, claim)",
        "send": "step started -> e-mail at the sink (render, Message row, SMTP)",
    }
    for name in ("http answer", "accept", "queue", "send"):
        print(f"     {name:<12} {distribution(result.stages.get(name, []))}   {meaning[name]}")
    if result.tasks:
        pool = 2 if result.mode == "services" else 1
        print(
            f"   worker tasks logged over the run ({pool} pool process(es),"
            f" {result.seconds:.0f} s):"
        )
        for name, values in sorted(result.tasks.items(), key=lambda kv: -sum(kv[1])):
            share = sum(values) / (result.seconds * pool)
            print(
                f"     {name:<24} x{len(values):<6,} each p50"
                f" {percentile(values, 0.5) * 1000:.0f} ms,"
                f" p99 {percentile(values, 0.99) * 1000:.0f} ms; {share:.0%} of the pool's time"
            )
        discarded = ", ".join(f"{name} x{n}" for name, n in result.tasks_discarded.items())
        print(
            f"     the worker took in {result.tasks_received / result.seconds:.1f} tasks/s"
            f" ({result.tasks_received:,} received); expired tasks discarded:"
            f" {discarded or 'none'}"
        )
    peaks = ", ".join(f"{name} {n}" for name, n in sorted(result.queue_peaks.items()) if n)
    end = ", ".join(f"{name} {n}" for name, n in sorted(result.queues_end.items()) if n)
    print(
        f"   broker queues, peak length at the 0.5 s samples: {peaks or 'always empty'};"
        f" at the end: {end or 'empty'}"
    )
    cpu = ", ".join(
        f"{name} {seconds / result.seconds:.2f}" for name, seconds in result.cpu.items()
    )
    print(f"   CPU, cores busy on average over {result.seconds:.0f} s: {cpu}")
    sys.stdout.flush()


def summary_print(args: argparse.Namespace, results: list[Result]) -> None:
    print(
        f"== summary: trigger -> e-mail at the sink, {args.rate:g} triggers/s for"
        f" {args.seconds:g} s (lost e-mails count as infinite)"
    )
    print(
        "   mode      setup             sent  202    recv  lost    p50    p90    p99    max  target"
    )
    for result in results:
        triggers = [t for t in result.triggers if t.sent]
        values = [t.latency for t in triggers]
        p99 = quantile(values, 0.99)
        target = TARGETS[result.mode]
        verdict = "PASS" if p99 <= target else "MISS"
        print(
            f"   {result.mode:<9} {LABELS[result.mode]:<16} {len(triggers):5,}"
            f" {sum(1 for t in triggers if t.status == '202'):5,}"
            f" {sum(1 for t in triggers if t.received):6,}"
            f" {sum(1 for t in triggers if not t.received):5,}"
            f" {seconds_text(quantile(values, 0.5)):>6} {seconds_text(quantile(values, 0.9)):>6}"
            f" {seconds_text(p99):>6} {seconds_text(max(values)):>6}"
            f"  p99 <= {target:g} s: {verdict}"
        )
    sys.stdout.flush()


def main() -> None:
    args = parse_args()
    shell_env = dict(os.environ)
    modes = ["services", "embedded"] if args.mode == "both" else [args.mode]
    banner(
        "latency: trigger -> e-mail at an SMTP sink, open-loop at a steady rate",
        [
            f"{args.rate:g} triggers/s for {args.seconds:g} s per mode ({', '.join(modes)});"
            f" grace {args.grace:g} s; {CLIENT_THREADS} client threads; targets p99 <="
            f" {TARGETS['services']:g} s on PostgreSQL/Redis,"
            f" <= {TARGETS['embedded']:g} s embedded",
        ],
    )
    started = time.perf_counter()
    sink = Sink(args.port_base + 2)  # forked before Django is set up
    sigterm_as_interrupt()  # here, not in the sink: SIGTERM simply ends it
    base_env = {
        "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
        "RATELIMIT_TRIGGER_PER_MINUTE": UNLIMITED,
        "RATELIMIT_DEFAULT_PER_MINUTE": UNLIMITED,
        "PYTHONUNBUFFERED": "1",
    }
    results: list[Result] = []
    try:
        for mode in modes:
            if mode == "services":
                context = services_target(args, {**base_env, "LOG_LEVEL": "INFO"})
            else:
                context = embedded_target(args, base_env, shell_env)
            with context as (target, processes):
                print(f"   {mode}: logs in {processes.log_dir}")
                result = measure(args, target, sink)
                result_print(args, result)
                results.append(result)
                if not args.keep:
                    processes.stop_all()
                    shutil.rmtree(processes.log_dir, ignore_errors=True)
    finally:
        sink.stop()
        if not args.keep:
            shutil.rmtree(sink.path.parent, ignore_errors=True)
    if results:
        summary_print(args, results)
    print(f"   total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
