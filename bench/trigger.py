"""Single triggers per second over real HTTP vs a bare authenticated one-INSERT DRF view.

What it measures
    Throughput (requests/s) and latency (p50/p99) of two endpoints served by one gunicorn
    server, one configuration (``bench.settings``: the product's settings plus one URL),
    against PostgreSQL and Redis, in the same run:

    * A, ``POST /api/v1/workspaces/{ws}/journeys/{jrn}/trigger`` with
      ``{"external_id": ..., "payload": {"order_id": ...}}``, each request for a
      different customer of a live once-ever API journey, no Idempotency-Key: API-key
      auth, the rate limit on Redis, finding journey and customer, the entry core
      (classify and INSERT, in a transaction). Expects 202.
    * B, ``POST /bench/bare-insert`` (``bench/bare_view.py``): the same API-key auth,
      no throttle, one INSERT of an event row. Expects 201.

    A load generator in this process runs K threads, each with its own persistent
    ``http.client.HTTPConnection``, POSTing back to back for a fixed time per phase.
    Phases alternate A, B for several rounds after a short warm-up of each. It prints
    req/s per phase, the medians, the ratio A/B (target >= 0.5), p50/p99 latency per
    endpoint, non-expected answers as errors, the load generator's own CPU use, and the
    CPU the benchmark's processes (client, gunicorn, their PostgreSQL backends) and the
    rest of the machine used during each phase: client and server share the machine,
    and a phase slowed by other work shows it there. It checks that every 202 made
    exactly one run. The Celery broker is the same Redis database: a trigger publishes
    its "start now" kick there and the benchmark counts that publish; no worker runs, so
    the runs' steps are not part of the measurement.

How to run (from the project root; needs the local PostgreSQL and Redis)
    .venv/bin/python bench/trigger.py                       # 3 rounds of 10 s + 10 s
    .venv/bin/python bench/trigger.py --seconds 3 --rounds 1 --customers 20000   # quick

Options
    --customers N       customers loaded, one per trigger request (default 200,000)
    --threads K         client threads / connections (default 8)
    --seconds S         length of each measured phase (default 10)
    --rounds R          A/B pairs (default 3)
    --warmup S          unmeasured seconds per endpoint before round 1 (default 2)
    --workers W         gunicorn workers (default 2, one per core)
    --worker-class C    gunicorn worker class (default gthread: keeps connections alive)
    --server-threads T  threads per gthread worker (default 4; ignored by other classes,
                        since gunicorn turns ``sync`` with threads into ``gthread``)
    --database NAME     scratch database, dropped and re-created (journeys_bench_trigger)
    --redis-url URL     rate-limit cache, flushed at start (redis://127.0.0.1:6379/11)
    --enrollment-stats analyzed | stale (default analyzed). The runs table is analyzed
                        while empty at load. ``analyzed`` ANALYZEs it again after the
                        warm-up, as autovacuum does on a live system, so the planner
                        knows the journey has runs and probes one customer's runs by
                        index. ``stale`` keeps the empty-table statistics, to check that
                        the entry core's plan for one customer does not depend on fresh
                        statistics (a plan that hashes every run of the journey makes each
                        trigger cost grow with the journey's run count).
    --keep              leave the scratch database in place at the end (default: drop it)
"""

import argparse
import http.client
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import (
    PROJECT_ROOT,
    WELCOME_STEPS,
    CpuWindow,
    code_version,
    customers_load,
    database_backends,
    descendants,
    django_start,
    journey_publish,
    machine_load,
    scratch_database_create,
    scratch_database_drop,
    vacuum_analyze,
    workspace_with_key,
)

TARGET_RATIO = 0.5
SETTINGS_MODULE = "bench.settings"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--server-threads", type=int, default=4)
    parser.add_argument("--database", default="journeys_bench_trigger")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--enrollment-stats", choices=["analyzed", "stale"], default="analyzed")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


# --- data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    workspace_id: str
    journey_pk: int
    journey_id: str
    raw_key: str


def redis_flush(url: str) -> None:
    """Rate-limit counters from an earlier run must not count against this one."""
    import redis

    redis.Redis.from_url(url).flushdb()


def fixture_build(count: int) -> Fixture:
    """Workspace, unthrottled key, ``count`` customers and a live once-ever API journey."""
    workspace, raw_key = workspace_with_key("Trigger bench")
    customers_load(workspace_id=workspace.pk, count=count)
    _, journey, _ = journey_publish(name="Bench", steps=WELCOME_STEPS, workspace=workspace)
    vacuum_analyze()
    return Fixture(
        workspace_id=workspace.public_id,
        journey_pk=journey.pk,
        journey_id=journey.public_id,
        raw_key=raw_key,
    )


# --- the server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_start(args: argparse.Namespace, port: int) -> subprocess.Popen:
    """gunicorn on ``config.wsgi`` with the bench settings and this process's environment.

    Its own session, so a Ctrl-C here reaches only this script, which then stops it.
    """
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--env",
        f"DJANGO_SETTINGS_MODULE={SETTINGS_MODULE}",
        "--log-level",
        "warning",
    ]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.server_threads)]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE}
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True)


def health_wait(server: subprocess.Popen, port: int, *, timeout: float = 60.0) -> None:
    """Poll ``/healthz`` until it answers 200 (the workers are up and reach the database)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s")


def gunicorn_stop(server: subprocess.Popen) -> None:
    """Graceful stop (SIGTERM to the arbiter we started), then SIGKILL if it lingers."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- the load generator ---------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """What a phase POSTs: a path, a body per request number and the status expected."""

    name: str
    path: str
    body: Callable[[int], bytes]
    expected: int


def endpoints(fixture: Fixture) -> tuple[Endpoint, Endpoint]:
    trigger_path = (
        f"/api/v1/workspaces/{fixture.workspace_id}/journeys/{fixture.journey_id}/trigger"
    )

    def trigger_body(n: int) -> bytes:
        return json.dumps({"external_id": f"user_{n}", "payload": {"order_id": f"A-{n}"}}).encode()

    def bare_body(n: int) -> bytes:
        return json.dumps({"order_id": f"A-{n}"}).encode()

    return (
        Endpoint("A trigger", trigger_path, trigger_body, 202),
        Endpoint("B bare", "/bench/bare-insert", bare_body, 201),
    )


@dataclass
class PhaseResult:
    endpoint: str
    elapsed: float = 0.0
    client_cpu: float = 0.0
    cpu: CpuWindow | None = None
    #: CPU seconds of the web server's processes and of its PostgreSQL backends.
    server_cpu: float = 0.0
    database_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    errors: Counter = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0


@dataclass
class LoadContext:
    """What every client thread of one phase shares."""

    port: int
    endpoint: Endpoint
    headers: dict[str, str]
    counter: "itertools.count[int]"
    start: threading.Event
    deadline: list[float]
    lock: threading.Lock
    result: PhaseResult


def client_loop(ctx: LoadContext) -> None:
    """One connection, POSTing back to back until the deadline; records into ``ctx.result``."""
    conn = http.client.HTTPConnection("127.0.0.1", ctx.port, timeout=60)
    latencies: list[float] = []
    errors: Counter = Counter()
    ok = 0
    ctx.start.wait()
    deadline = ctx.deadline[0]
    while time.perf_counter() < deadline:
        body = ctx.endpoint.body(next(ctx.counter))
        started = time.perf_counter()
        try:
            conn.request("POST", ctx.endpoint.path, body=body, headers=ctx.headers)
            response = conn.getresponse()
            content = response.read()
        except (http.client.HTTPException, OSError) as exc:
            errors[f"{type(exc).__name__}: {exc}"] += 1
            conn.close()
            continue
        latencies.append(time.perf_counter() - started)
        if response.status == ctx.endpoint.expected:
            ok += 1
        else:
            errors[f"{response.status} {content[:120].decode(errors='replace')}"] += 1
    conn.close()
    with ctx.lock:
        ctx.result.latencies.extend(latencies)
        ctx.result.errors.update(errors)
        ctx.result.ok += ok


def phase_run(
    endpoint: Endpoint,
    *,
    port: int,
    raw_key: str,
    counter: "itertools.count[int]",
    threads: int,
    seconds: float,
    our_pids: Callable[[], list[int]],
    server_pids: Callable[[], list[int]],
    database_pids: Callable[[], list[int]],
) -> PhaseResult:
    """K threads hammer ``endpoint`` for ``seconds``; elapsed runs until the last finishes."""
    ctx = LoadContext(
        port=port,
        endpoint=endpoint,
        headers={"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"},
        counter=counter,
        start=threading.Event(),
        deadline=[0.0],
        lock=threading.Lock(),
        result=PhaseResult(endpoint=endpoint.name),
    )
    workers = [
        threading.Thread(target=client_loop, args=(ctx,), daemon=True) for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    cpu = CpuWindow(our_pids).start()
    server_cpu = CpuWindow(server_pids).start()
    database_cpu = CpuWindow(database_pids).start()
    cpu_started = time.process_time()
    started = time.perf_counter()
    ctx.deadline[0] = started + seconds
    ctx.start.set()
    for worker in workers:
        worker.join()
    ctx.result.elapsed = time.perf_counter() - started
    ctx.result.client_cpu = time.process_time() - cpu_started
    ctx.result.cpu = cpu.stop()
    ctx.result.server_cpu = server_cpu.stop().ours
    ctx.result.database_cpu = database_cpu.stop().ours
    return ctx.result


# --- report ---------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def phase_print(number: int, result: PhaseResult) -> None:
    cpu_share = result.client_cpu / result.elapsed
    print(
        f"round {number}  {result.endpoint:9}  {result.per_second:8.1f} req/s"
        f"  ({result.requests:,} in {result.elapsed:.2f} s, {sum(result.errors.values())} errors,"
        f" p50 {percentile(result.latencies, 0.5) * 1000:.1f} ms,"
        f" client CPU {cpu_share:.0%} of a core)",
        flush=True,
    )
    if result.cpu is not None:
        print(
            f"                {result.cpu.describe()} (ours: client, gunicorn, PostgreSQL backends)"
        )
        per_request = 1e3 / max(result.requests, 1)  # ms per request per CPU second
        print(
            f"                CPU per request: gunicorn {result.server_cpu * per_request:.2f} ms,"
            f" PostgreSQL {result.database_cpu * per_request:.2f} ms,"
            f" client {result.client_cpu * per_request:.2f} ms"
        )
    for error, n in result.errors.most_common(5):
        print(f"    {n} x {error}")


def summary_print(results: dict[str, list[PhaseResult]]) -> None:
    (a_name, a_results), (b_name, b_results) = results.items()
    a = statistics.median(r.per_second for r in a_results)
    b = statistics.median(r.per_second for r in b_results)
    ratio = a / b
    verdict = "within" if ratio >= TARGET_RATIO else "BELOW"
    print()
    print(f"median {a_name:9}  {a:8.1f} req/s")
    print(f"median {b_name:9}  {b:8.1f} req/s")
    print(f"ratio A/B          {ratio:8.2f}       ({verdict} target >= {TARGET_RATIO:g})")
    for name, phases in results.items():
        latencies = [x for phase in phases for x in phase.latencies]
        errors = sum(sum(phase.errors.values()) for phase in phases)
        print(
            f"latency {name:9}  p50 {percentile(latencies, 0.5) * 1000:6.1f} ms"
            f"  p99 {percentile(latencies, 0.99) * 1000:6.1f} ms"
            f"  ({len(latencies):,} requests, {errors} errors)"
        )


def runs_check(fixture: Fixture, results: list[PhaseResult], warmup_ok: int) -> None:
    """Every 202 (measured or warm-up) must have made exactly one run."""
    from journeys.models import Enrollment

    accepted = warmup_ok + sum(r.ok for r in results)
    runs = Enrollment.objects.filter(journey_id=fixture.journey_pk).count()
    print(f"runs created       {runs:,} for {accepted:,} answers 202")
    assert runs == accepted, (runs, accepted)


# --- main -----------------------------------------------------------------------------


def benchmark(
    args: argparse.Namespace, fixture: Fixture, port: int, server: subprocess.Popen
) -> None:
    """Warm both endpoints up, then alternate measured A/B phases and print the figures."""
    trigger, bare = endpoints(fixture)

    def server_pids() -> list[int]:
        return [server.pid, *descendants(server.pid)]

    def database_pids() -> list[int]:
        return database_backends(args.database)

    def our_pids() -> list[int]:
        return [os.getpid(), *server_pids(), *database_pids()]

    customer_numbers = itertools.count(1)
    bare_numbers = itertools.count(1)
    counters = {trigger.name: customer_numbers, bare.name: bare_numbers}

    def run(endpoint: Endpoint, seconds: float) -> PhaseResult:
        return phase_run(
            endpoint,
            port=port,
            raw_key=fixture.raw_key,
            counter=counters[endpoint.name],
            threads=args.threads,
            seconds=seconds,
            our_pids=our_pids,
            server_pids=server_pids,
            database_pids=database_pids,
        )

    warmup_ok = 0
    if args.warmup > 0:
        for endpoint in (trigger, bare):
            warm = run(endpoint, args.warmup)
            warmup_ok += warm.ok if endpoint is trigger else 0
            print(f"warm-up {endpoint.name}: {warm.requests:,} requests, {warm.ok:,} ok")
    if args.enrollment_stats == "analyzed":
        vacuum_analyze("journeys_enrollment")
    results: dict[str, list[PhaseResult]] = {trigger.name: [], bare.name: []}
    for number in range(1, args.rounds + 1):
        print(machine_load())
        for endpoint in (trigger, bare):
            result = run(endpoint, args.seconds)
            results[endpoint.name].append(result)
            phase_print(number, result)
    summary_print(results)
    runs_check(fixture, results[trigger.name], warmup_ok)
    used = next(customer_numbers) - 1
    if used > args.customers:
        print(f"WARNING: {used:,} triggers for {args.customers:,} customers; raise --customers")


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    print(code_version())
    print(machine_load())
    database_url = scratch_database_create(args.database)
    redis_flush(args.redis_url)
    django_start(
        database_url=database_url, redis_url=args.redis_url, settings_module=SETTINGS_MODULE
    )
    fixture = fixture_build(args.customers)
    print(f"loaded {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
    port = free_port()
    server = gunicorn_start(args, port)
    try:
        health_wait(server, port)
        threads = f" x {args.server_threads} threads" if args.worker_class == "gthread" else ""
        print(
            f"gunicorn on 127.0.0.1:{port}: {args.workers} {args.worker_class} workers{threads},"
            f" {args.threads} client connections, {args.seconds:g} s phases\n",
            flush=True,
        )
        benchmark(args, fixture, port, server)
    finally:
        gunicorn_stop(server)
        if not args.keep:
            scratch_database_drop(args.database)
    print(f"\n{machine_load()}")
    print(f"total run time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
