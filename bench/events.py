"""The event stream: events/s through Segment's batch endpoint against bare INSERTs of the
same rows, matching's own rate, and the time from a matching event to its e-mail.

What it measures
    Set-up: a scratch database ``journeys_bench_events`` (dropped and re-created), Redis
    db 11 (flushed), a workspace with an unthrottled key, ``--customers`` customers
    (``user_1..N``, with e-mails) and ``--journeys`` live event-triggered journeys (one
    e-mail step each), each triggered by its own event name with a condition on the
    event's properties (``event.properties.total > 50``). Batches are 10,000 Segment
    ``track`` messages (``--batch``): known customers, six event names of which the
    journeys' take half, a messageId each, properties and context as Segment's client
    sends them; gzip-compressed, as its clients do.

    1. Throughput, one gunicorn server (``bench.settings``: the product plus the
       baselines' URL, ``--workers`` sync workers), ``--threads`` client threads, no
       Celery worker (matching is measured in part 2). Phases alternate, ``--rounds``
       times, each sending ``--requests`` batches:
       * A, ``POST /compat/segment/v1/batch`` with the key as Basic auth's write key:
         parsing and checking every message, the batch's customers found (a track of a
         known customer only reads it), the events stored with their messageIds
         de-duplicated, those the journeys are triggered by marked for matching, the
         match kicked after the commit. Expects 200 ``{"success": true}``.
       * B, ``POST /bench/bare-events`` (``bench/bare_view.py``): the same key and body,
         decompressed, ``json.loads`` and one INSERT of the rows, nothing checked.
       * C, in this process, no HTTP: one INSERT of the same 10,000 rows, the statement
         B runs, with the rows' JSON made beforehand: the database's own floor.
       Each phase sends batches of its own, alike but for their messageIds.
       Printed: events/s per phase, the medians, the ratios A/B (like for like: both
       over HTTP and JSON) and A/C, and the CPU used by gunicorn and PostgreSQL per
       batch.
    2. Matching, in this process: ``events_match`` until nothing waits, over everything
       phase A stored: events matched per second and runs started (each batch of
       10,000 is one claim, one statement per journey and one UPDATE).
    3. Latency, with a real Celery worker (``--worker-concurrency``) and beat, and an
       SMTP sink (``bench/burst.py``'s): ``--latency-events`` single tracks through
       ``/compat/segment/v1/track``, one every ``1/--rate`` s, each for a customer who
       then enters a journey; latency = the e-mail's arrival at the sink - the moment the
       request began. p50/p90/p99/max, and how many arrived.

    Figures only: nothing is asserted.

How to run (from the project root; needs the local PostgreSQL and Redis)
    .venv/bin/python bench/events.py
    .venv/bin/python bench/events.py --rounds 1 --requests 2 --latency-events 20   # quick

Options
    --customers N         customers loaded (default 100,000)
    --batch N             messages per batch (default 10,000)
    --journeys N          live event-triggered journeys (default 3)
    --rounds R            A/B/C rounds (default 3)
    --requests N          batches per phase and round (default 4)
    --threads K           client threads (default 2)
    --workers W           gunicorn workers (default 2)
    --latency-events N    tracks sent for the latency part (default 100; 0 skips it)
    --rate R              tracks per second in the latency part (default 10)
    --worker-concurrency  Celery worker processes (default 2)
    --database NAME       scratch database (journeys_bench_events)
    --redis-url URL       cache and broker, flushed (redis://127.0.0.1:6379/11)
    --keep                keep the scratch database
"""

import argparse
import base64
import gzip
import http.client
import itertools
import json
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.burst import Sink
from bench.engine_support import banner, percentile, scratch_services, wait_until
from bench.scratch import (
    CpuWindow,
    customers_load,
    database_backends,
    descendants,
    sql_run,
    vacuum_analyze,
    workspace_with_key,
)
from bench.trigger import free_port, gunicorn_start, gunicorn_stop, health_wait

TARGET_RATIO = 0.5
NAMES = ["Order Completed", "Trial Started", "Cart Abandoned", "Product Viewed", "Page Opened",
         "Search Run"]  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--journeys", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--server-threads", type=int, default=1)
    parser.add_argument("--latency-events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--database", default="journeys_bench_events")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


# --- data -----------------------------------------------------------------------------


def journeys_publish(workspace, count: int) -> list[str]:
    """``count`` live journeys, each triggered by one of the first names, total > 50."""
    from journeys.authoring.services import journey_import, journey_publish

    names = []
    for number in range(count):
        name = NAMES[number % len(NAMES)]
        document = {
            "name": f"Bench {name} {number}",
            "trigger": {
                "type": "event",
                "event": name,
                "conditions": {"field": "event.properties.total", "op": "gt", "value": 50},
            },
            "entry": {"allow_reentry": True},
            "steps": [
                {"key": "mail", "type": "send", "channel": "email",
                 "subject": "{{ event.name }} {{ event.properties.order_id }}",
                 "body": "Total {{ data.total }}", "next": None},
            ],
        }  # fmt: skip
        journey_publish(journey=journey_import(workspace=workspace, document=document))
        names.append(name)
    return names


def batch_body(number: int, size: int, customers: int) -> bytes:
    """Batch ``number``: ``size`` tracks of known customers, gzip-compressed JSON."""
    first = number * size
    messages = [
        {
            "type": "track",
            "userId": f"user_{(first + i) % customers + 1}",
            "anonymousId": None,
            "event": NAMES[i % len(NAMES)],
            "properties": {"order_id": f"A-{first + i}", "total": (first + i) % 100,
                           "currency": "EUR", "sku": f"sku-{i % 500}"},
            "timestamp": "2026-01-01T12:00:00.000+00:00",
            "messageId": f"bench-{first + i:012d}-7c1e-4a5b-9d3f",
            "context": {"library": {"name": "analytics-python", "version": "2.3.4"}},
            "integrations": {},
        }
        for i in range(size)
    ]  # fmt: skip
    return gzip.compress(
        json.dumps({"batch": messages, "sentAt": messages[0]["timestamp"]}).encode()
    )


# --- throughput -------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    events: int = 0
    elapsed: float = 0.0
    errors: list[str] = field(default_factory=list)
    server_cpu: float = 0.0
    database_cpu: float = 0.0

    @property
    def per_second(self) -> float:
        return self.events / self.elapsed if self.elapsed else 0.0


def http_phase(
    name: str, port: int, path: str, headers: dict[str, str], bodies: list[bytes], args, pids
) -> Phase:
    """``len(bodies)`` POSTs from ``--threads`` threads, each on its own connection."""
    phase = Phase(name)
    queue = iter(bodies)
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                body = next(queue, None)
            if body is None:
                break
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
            with lock:
                if response.status == 200:
                    phase.events += args.batch
                else:
                    phase.errors.append(f"{response.status} {content[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(args.threads)]
    server_cpu, database_cpu = CpuWindow(pids["web"]).start(), CpuWindow(pids["db"]).start()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.elapsed = time.perf_counter() - started
    phase.server_cpu, phase.database_cpu = server_cpu.stop().ours, database_cpu.stop().ours
    return phase


def in_process_phase(workspace_id: int, bodies: list[bytes], args, pids) -> Phase:
    """Phase C: the bare INSERT of each batch's rows, their JSON made beforehand."""
    from django.db import connection

    from bench.bare_view import BARE_EVENTS_INSERT

    rows = []
    for body in bodies:
        batch = json.loads(gzip.decompress(body))["batch"]
        rows.append(
            json.dumps(
                [[m["event"], m["properties"], m["timestamp"], m["messageId"]] for m in batch]
            )
        )
    phase = Phase("C bare INSERT")
    database_cpu = CpuWindow(pids["db"]).start()
    started = time.perf_counter()
    for text in rows:
        with connection.cursor() as cursor:
            cursor.execute(BARE_EVENTS_INSERT, [workspace_id, text])
        phase.events += args.batch
    phase.elapsed = time.perf_counter() - started
    phase.database_cpu = database_cpu.stop().ours
    return phase


def phase_print(number: int, phase: Phase, batch: int) -> None:
    batches = max(phase.events / batch, 1)
    print(
        f"round {number}  {phase.name:16} {phase.per_second:9,.0f} events/s"
        f"  ({phase.events:,} in {phase.elapsed:.2f} s, {phase.elapsed / batches:.3f} s a batch;"
        f" CPU a batch: gunicorn {phase.server_cpu / batches:.3f} s,"
        f" PostgreSQL {phase.database_cpu / batches:.3f} s)",
        flush=True,
    )
    for error in phase.errors[:3]:
        print(f"    error: {error}")


# --- matching ----------------------------------------------------------------------------


def matching_measure() -> None:
    from journeys.entry.events.matching import events_match
    from journeys.models import Enrollment

    matched = runs = 0
    started = time.perf_counter()
    while True:
        result = events_match()
        matched, runs = matched + result.events, runs + result.runs
        if not result.events:
            break
    elapsed = time.perf_counter() - started
    print(
        f"matching: {matched:,} waiting events matched in {elapsed:.2f} s"
        f" ({matched / elapsed if elapsed else 0:,.0f} events/s), {runs:,} runs started;"
        f" {Enrollment.objects.count():,} runs in all"
    )
    # Out of the latency part's way: those runs would all send their e-mails now.
    sql_run("UPDATE journeys_enrollment SET state = 'exited', wake_at = NULL")


# --- latency ------------------------------------------------------------------------------


def track_headers(key: str) -> dict[str, str]:
    """A single track's headers: the key as Basic auth's write key, as Segment sends it."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
            "Content-Type": "application/json"}  # fmt: skip


@dataclass(frozen=True)
class Request:
    """One request of :func:`requests_paced`; ``recipient`` is whose e-mail it should bring."""

    method: str
    path: str
    body: dict
    headers: dict[str, str]
    recipient: str


def requests_paced(port: int, requests: list[Request], rate: float) -> list[tuple[str, float, int]]:
    """Send each request, one every ``1/rate`` s from half a second on, on one connection;
    answers per request its recipient, when it began (epoch seconds) and the HTTP status."""
    sends = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.time() + 0.5
    for number, request in enumerate(requests):
        time.sleep(max(0.0, start + number / rate - time.time()))
        began = time.time()
        conn.request(
            request.method, request.path, body=json.dumps(request.body), headers=request.headers
        )
        response = conn.getresponse()
        response.read()
        sends.append((request.recipient, began, response.status))
    conn.close()
    return sends


def tracks_send(
    port: int, key: str, messages: list[dict], rate: float
) -> list[tuple[str, float, int]]:
    """POST each message to ``/compat/segment/v1/track`` (:func:`requests_paced`); the
    recipient of each is ``<userId>@example.com``."""
    auth = track_headers(key)
    requests = [
        Request("POST", "/compat/segment/v1/track", body, auth, f"{body['userId']}@example.com")
        for body in messages
    ]
    return requests_paced(port, requests, rate)


def arrivals_wait(sink, arrived: dict[str, float], expected, *, timeout: float) -> bool:
    """Read the sink into ``arrived`` (each recipient's first e-mail) until every recipient
    of ``expected`` has one, or ``timeout`` s; answers whether all arrived."""

    def collect() -> bool:
        for stamp, recipient in sink.received():
            arrived.setdefault(recipient, stamp)
        return all(recipient in arrived for recipient in expected)

    return wait_until(collect, timeout=timeout)


def latency_report(
    label: str, sends: list[tuple[str, float, int]], arrived: dict[str, float]
) -> list[float]:
    """Print how many of ``sends`` (as :func:`tracks_send` answers) got their e-mail and
    p50/p90/p99/max of e-mail arrival - request start; answers the latencies (s)."""
    latencies = [arrived[to] - began for to, began, _ in sends if to in arrived]
    statuses = [status for _, _, status in sends]
    codes = ", ".join(f"{code} x{statuses.count(code)}" for code in sorted(set(statuses)))
    print(f"{label}: {len(latencies)} of {len(sends)} arrived (HTTP {codes})")
    if latencies:
        print(
            f"   p50 {percentile(latencies, 0.5) * 1000:.0f} ms,"
            f" p90 {percentile(latencies, 0.9) * 1000:.0f} ms,"
            f" p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
        )
    sys.stdout.flush()
    return latencies


def latency_measure(args, port: int, key: str, processes, env, customers: int) -> None:
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()  # the kicks nobody took in part 1
    sink = Sink()
    processes.env = {**env, "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}"}
    processes.worker("worker", concurrency=args.worker_concurrency)
    processes.beat()
    messages = [
        # never in the batches' first customers
        {"userId": f"user_{customers - number}", "event": NAMES[0],
         "properties": {"order_id": f"L-{number}", "total": 99},
         "messageId": f"latency-{number}"}
        for number in range(args.latency_events)
    ]  # fmt: skip
    sends = tracks_send(port, key, messages, args.rate)
    arrived: dict[str, float] = {}
    arrivals_wait(sink, arrived, [to for to, _, _ in sends], timeout=30)
    sink.process.kill()  # SIGTERM would print the interrupt it becomes here
    latency_report("latency, event -> e-mail at the sink", sends, arrived)


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    banner(
        "event stream: 10,000-event batches through /compat/segment/v1/batch",
        [f"{args.customers:,} customers, {args.journeys} event-triggered journeys,"
         f" {args.rounds} rounds x {args.requests} batches of {args.batch:,},"
         f" {args.threads} client threads, gunicorn {args.workers} workers"],
    )  # fmt: skip
    with scratch_services(
        database=args.database,
        redis_url=args.redis_url,
        keep=args.keep,
        RATELIMIT_TRIGGER_PER_MINUTE="1000000",
        RATELIMIT_DEFAULT_PER_MINUTE="1000000",
    ) as (env, processes):
        workspace, key = workspace_with_key("Events bench")
        customers_load(workspace_id=workspace.pk, count=args.customers)
        names = journeys_publish(workspace, args.journeys)
        vacuum_analyze()
        print(f"   journeys triggered by: {', '.join(names)} (total > 50)")
        port = free_port()
        server = gunicorn_start(args, port)
        try:
            health_wait(server, port)
            from django.conf import settings

            pids = {
                "web": lambda: [server.pid, *descendants(server.pid)],
                "db": lambda: database_backends(settings.DATABASES["default"]["NAME"]),
            }
            write_key = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
            a_headers = {"Authorization": write_key, "Content-Type": "application/json",
                         "Content-Encoding": "gzip"}  # fmt: skip
            b_headers = {**a_headers, "Authorization": f"Bearer {key}"}
            counter = itertools.count()
            warm = [batch_body(next(counter), args.batch, args.customers) for _ in range(4)]
            http_phase("warm-up", port, "/compat/segment/v1/batch", a_headers, warm[:2], args, pids)
            http_phase("warm-up", port, "/bench/bare-events", b_headers, warm[2:], args, pids)
            results: dict[str, list[Phase]] = {"A": [], "B": [], "C": []}
            for number in range(1, args.rounds + 1):
                # Each phase its own batches, alike but for their messageIds (unique).
                bodies = [
                    [batch_body(next(counter), args.batch, args.customers)
                     for _ in range(args.requests)]
                    for _phase in "ABC"
                ]  # fmt: skip
                a = http_phase("A segment batch", port, "/compat/segment/v1/batch", a_headers,
                               bodies[0], args, pids)  # fmt: skip
                b = http_phase("B bare view", port, "/bench/bare-events", b_headers, bodies[1],
                               args, pids)  # fmt: skip
                c = in_process_phase(workspace.pk, bodies[2], args, pids)
                for phase, kind in ((a, "A"), (b, "B"), (c, "C")):
                    phase_print(number, phase, args.batch)
                    results[kind].append(phase)
            medians = {k: statistics.median(p.per_second for p in v) for k, v in results.items()}
            print()
            for kind, value in medians.items():
                print(f"median {kind}  {value:10,.0f} events/s")
            for other in ("B", "C"):
                ratio = medians["A"] / medians[other]
                verdict = "within" if ratio >= TARGET_RATIO else "BELOW"
                print(f"ratio A/{other}   {ratio:6.2f}  ({verdict} target >= {TARGET_RATIO})")
            print()
            matching_measure()
            if args.latency_events:
                latency_measure(args, port, key, processes, env, args.customers)
        finally:
            gunicorn_stop(server)


if __name__ == "__main__":
    main()
