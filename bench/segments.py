"""Segment triggers: a customer updated into a dynamic segment -> the journey's e-mail,
against the native API trigger at the same rate; a static segment's 100,000 added
members entering and draining; and beat's reconcile of a watched dynamic segment.

What it measures
    Set-up: a scratch database ``journeys_bench_segments`` (dropped and re-created), Redis
    db 4 (flushed), an SMTP sink (``bench/burst.py``'s) that ``EMAIL_URL`` points every
    process at, and two workspaces with unthrottled keys:

    * the dynamic one: ``--customers`` customers ``user_1..N`` with e-mails and the
      attribute ``plan`` "free", but "pro" for every tenth (``user_10``, ``user_20``...:
      members at publish), and the baseline's customers ``ping_1..``;
    * the static one: ``--static`` customers ``st_1..K`` with e-mails (its own workspace,
      so that the dynamic segment's reconcile sees the N customers only).

    1. Dynamic segment latency. A dynamic segment ``customer.plan eq "pro"`` and a
       journey triggered by it (``{"type": "segment", "segment_id": ...}``, one e-mail
       step), imported and published through the product's services
       (``journey_import``, ``journey_publish``); publishing records the current members
       (``SegmentPresence``) without entering them. Printed: the publish's time and the
       rows it recorded. Then, in this process and rolled back, the check a worker runs
       after a customer change (``segment_presence_check`` for one customer who stays
       "free"): its time (median of 20) and statements. A baseline journey (API
       trigger, one e-mail step) is published beside it.
       A real Celery worker (``--worker-concurrency``) and beat start, and gunicorn
       (``bench.settings``, 2 sync workers, as ``bench/events.py`` serves) serves the API.
       Warm-up (not counted): 5 updates into the segment and 5 triggers, their e-mails
       awaited. Decoys: 20 ``PATCH customers/{id}`` setting plan "free" on "free"
       customers (no change) and 20 setting "team" (a change that matches nothing).
       Then, interleaved, each stream at ``--rate`` per second: ``--updates`` ``PATCH
       customers/{id}`` ``{"attributes": {"plan": "pro"}}`` of "free" customers picked at
       random, and as many ``POST journeys/{id}/trigger`` ``{"external_id": "ping_n"}``
       of the baseline. Latency = the e-mail's arrival at the sink - the moment the
       request began (e-mails awaited up to 90 s: beat's reconcile, every minute, would
       enter what a lost check missed). Printed: arrivals, p50/p90/p99/max of both, the
       ratios segment/baseline; the segment journey's runs (expected: the updates and the
       warm-up), those of members at publish (expected 0) and the decoys' e-mails and
       runs (expected 0).
    3. Beat's reconcile (printed before part 2, with the N customers only):
       ``segment_presence_reconcile(enter=True)`` called in this process when nothing
       changed, three times: its time is what beat's sweep costs the worker every minute
       for this one watched segment. Expected: 0 joined.
    2. Static segment burst. A static segment and a journey triggered by it (one e-mail
       step). The API takes at most ``MAX_MEMBERS_PER_REQUEST`` (1,000) external ids per
       ``POST segments/{id}/members``, so the K ids go in K/1,000 requests, one after the
       other on one connection. First, in this process and rolled back, the service the
       view calls (``segment_members_add``) with 1,000 and with 10 new ids under Django's
       ``CaptureQueriesContext``, after a first call that makes the one-off reads (the
       live version) a server process makes once: its statements, and how many follow the
       members' INSERT (the entry). The database's own counts (``pg_stat_statements``)
       are not used: the extension is not preloaded here. Then the requests: their total
       time and per request p50/max, and the runs they created (the journey's
       enrollments). Then, with ``--stats analyzed`` (the default), ``VACUUM ANALYZE`` of
       the runs, visits and messages tables, as autovacuum would do soon after 100,000 new
       runs on a live system (it is off on the shared server this was written on, so
       nothing else refreshes them): analyzed before the entry, the runs table tells the
       planner a journey has no runs, and the walker's lookups of its leased runs then read
       every active run of the journey per batch. ``--stats stale`` keeps the setup's
       statistics. The worker and beat of part 1 send the e-mails (the entry leaves the
       runs to the sweep, which pulls them in batches). Every 10 s a progress line: the
       e-mails at the sink, their rate over the last 10 and 60 s, the runs completed and
       failed, and the CPU used meanwhile by the worker, by PostgreSQL (this database's
       backends) and by the rest of the machine (the sink, this script, other work), in
       cores. Printed at the end: the time from the first request to the last e-mail, as
       runs/s, and from the last request; the worker's CPU per e-mail. If the e-mails are
       not all in ``--drain-timeout`` seconds after the first request, it stops there and
       says how many arrived (the last progress line has the rate over the last 60 s).

    Figures only: nothing is asserted.

How to run (from the project root; needs the local PostgreSQL and Redis)
    .venv/bin/python bench/segments.py
    .venv/bin/python bench/segments.py --customers 10000 --updates 40 --static 5000  # quick

Options
    --customers N         customers of the dynamic part (default 100,000; 10% "pro")
    --updates M           updates into the dynamic segment, and baseline triggers (default 200)
    --rate R              updates per second, and triggers per second (default 10)
    --static K            ids added to the static segment (default 100,000)
    --drain-timeout S     stop following the static part's e-mails S s after its first
                          request (default 900)
    --stats analyzed | stale  the drain's tables analyzed after the static requests, as
                          autovacuum would, or left as the setup made them (default analyzed)
    --worker-concurrency  Celery worker processes (default 2)
    --database NAME       scratch database (journeys_bench_segments)
    --redis-url URL       cache and broker, flushed (redis://127.0.0.1:6379/4)
    --keep                keep the scratch database
"""

import argparse
import contextlib
import http.client
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.burst import Sink
from bench.engine_support import banner, percentile, scratch_services
from bench.events import Request, arrivals_wait, latency_report, requests_paced
from bench.scratch import (
    CpuWindow,
    customers_load,
    database_backends,
    descendants,
    journey_publish,
    machine_load,
    sql_one,
    sql_run,
    tree_cpu_seconds,
    vacuum_analyze,
    workspace_with_key,
)
from bench.trigger import free_port, gunicorn_start, gunicorn_stop, health_wait
from bench.waits import SERVER

PRO = {"field": "customer.plan", "op": "eq", "value": "pro"}
WELCOME_STEPS = [
    {"key": "welcome", "type": "send", "channel": "email",
     "subject": "Welcome to {{ customer.plan }}", "body": "Hi {{ customer.external_id }}",
     "next": None},
]  # fmt: skip
STATIC_STEPS = [
    {"key": "welcome", "type": "send", "channel": "email",
     "subject": "Welcome to the beta", "body": "Hi {{ customer.external_id }}", "next": None},
]  # fmt: skip
BASELINE_STEPS = [
    {"key": "receipt", "type": "send", "channel": "email",
     "subject": "Hello {{ customer.external_id }}", "body": "Pong", "next": None},
]  # fmt: skip
WARMUP = 5
DECOYS = 20
ARRIVAL_TIMEOUT = 90.0
PROGRESS_SECONDS = 10.0
RATE_WINDOW = 60.0
#: The tables a drain reads and grows: analyzed after the static requests (``--stats``).
RUN_TABLES = ("journeys_enrollment", "journeys_steprun", "delivery_message")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--static", type=int, default=100_000)
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument("--stats", choices=["analyzed", "stale"], default="analyzed")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--database", default="journeys_bench_segments")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


# --- data -----------------------------------------------------------------------------


def plans_set(workspace_id: int) -> None:
    """``user_n``: plan "pro" when n is a multiple of 10, else "free"."""
    sql_run(
        "UPDATE customers_customer SET attributes = jsonb_build_object('plan', CASE WHEN"
        " substr(external_id, 6)::int %% 10 = 0 THEN 'pro' ELSE 'free' END)"
        " WHERE workspace_id = %s AND external_id LIKE 'user\\_%%'",
        [workspace_id],
    )


def segment_journey_make(workspace: Any, segment: Any, steps: list[dict]) -> tuple[Any, float]:
    """A journey triggered by ``segment`` (one e-mail step), imported and published the
    product's way; answers it and the publish's seconds."""
    from journeys.authoring.services import journey_import
    from journeys.authoring.services import journey_publish as publish

    document = {
        "name": f"Welcome to {segment.name}",
        "trigger": {"type": "segment", "segment_id": segment.public_id},
        "steps": steps,
    }
    journey = journey_import(workspace=workspace, document=document)
    started = time.perf_counter()
    publish(journey=journey)
    elapsed = time.perf_counter() - started
    journey.refresh_from_db()
    return journey, elapsed


def public_ids(workspace_id: int, external_ids: list[str]) -> dict[str, str]:
    from customers.models import Customer

    return dict(
        Customer.objects.filter(workspace_id=workspace_id, external_id__in=external_ids)
        .values_list("external_id", "public_id")
        .iterator()
    )


def runs_of(journey_id: int, external_ids: list[str] | None = None) -> int:
    """The journey's runs (of these customers)."""
    if external_ids is None:
        return sql_one(
            "SELECT count(*) FROM journeys_enrollment WHERE journey_id = %s", [journey_id]
        )[0]
    return sql_one(
        "SELECT count(*) FROM journeys_enrollment AS e JOIN customers_customer AS c"
        " ON c.id = e.customer_id WHERE e.journey_id = %s AND c.external_id = ANY(%s)",
        [journey_id, external_ids],
    )[0]


# --- in this process ------------------------------------------------------------------------


def presence_check_measure(workspace_id: int, customer_id: int) -> None:
    """The worker's check after a change (``segment_presence_check``) for one customer who
    does not join: time (median of 20) and statements, rolled back."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from journeys.entry.segment_entries import segment_presence_check

    timings, statements = [], 0
    for _ in range(20):
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            joined = segment_presence_check(workspace_id=workspace_id, customer_ids=[customer_id])
            timings.append(time.perf_counter() - started)
            transaction.set_rollback(True)
        statements = len(captured.captured_queries)
    print(
        f"   the check after a change (segment_presence_check, 1 customer, no join), in this"
        f" process: {statistics.median(timings) * 1000:.1f} ms (median of 20), {statements}"
        f" statements, {joined} joined",
        flush=True,
    )


def reconcile_measure() -> None:
    """Part 3: beat's reconcile when nothing changed, three times."""
    from journeys.entry.segment_entries import segment_presence_reconcile

    timings, joined = [], []
    for _ in range(3):
        started = time.perf_counter()
        joined.append(segment_presence_reconcile(enter=True))
        timings.append(time.perf_counter() - started)
    shown = ", ".join(f"{seconds:.2f}" for seconds in timings)
    print(
        f"3. reconcile (segment_presence_reconcile(enter=True), nothing changed), in this"
        f" process: {shown} s (median {statistics.median(timings):.2f} s, every minute in the"
        f" worker: {statistics.median(timings) / 60:.1%} of one process); joined {joined}"
        f" ({machine_load()})",
        flush=True,
    )


def members_add_statements(segment: Any, count: int) -> tuple[int, int, float]:
    """``segment_members_add`` of ``st_1..count`` in this process, rolled back: statements
    (savepoints left out), of which after the members' INSERT (the entry), and seconds."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from segments.services import segment_members_add

    ids = [f"st_{n}" for n in range(1, count + 1)]
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        segment_members_add(segment=segment, external_ids=ids)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    sql = [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    insert = next(
        (
            i
            for i, text in enumerate(sql)
            if text.startswith('INSERT INTO "segments_segmentmembership"')
        ),
        len(sql) - 1,
    )
    return len(sql), len(sql) - insert - 1, elapsed


# --- part 1: the latency of an update into the segment ------------------------------------


class Api:
    """The requests of part 1 and 2, as :func:`requests_paced` sends them."""

    def __init__(self, workspace: Any, key: str) -> None:
        self.base = f"/api/v1/workspaces/{workspace.public_id}"
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def update(self, public_id: str, external_id: str, plan: str) -> Request:
        return Request(
            "PATCH",
            f"{self.base}/customers/{public_id}",
            {"attributes": {"plan": plan}},
            self.headers,
            f"{external_id}@example.com",
        )

    def trigger(self, journey_id: str, external_id: str) -> Request:
        return Request(
            "POST",
            f"{self.base}/journeys/{journey_id}/trigger",
            {"external_id": external_id},
            self.headers,
            f"{external_id}@example.com",
        )


def latency_measure(args, port: int, api: Api, sink: Sink, workspace: Any, journeys) -> None:
    segment_journey, baseline = journeys
    rng = random.Random(12)
    free = [n for n in range(1, args.customers + 1) if n % 10]
    chosen = [f"user_{n}" for n in rng.sample(free, WARMUP + 2 * DECOYS + args.updates)]
    warm, unchanged = chosen[:WARMUP], chosen[WARMUP : WARMUP + DECOYS]
    other_plan = chosen[WARMUP + DECOYS : WARMUP + 2 * DECOYS]
    updated = chosen[WARMUP + 2 * DECOYS :]
    ids = public_ids(workspace.pk, chosen)
    arrived: dict[str, float] = {}

    warmup = [api.update(ids[e], e, "pro") for e in warm] + [
        api.trigger(baseline.public_id, f"ping_{n}") for n in range(1, WARMUP + 1)
    ]
    sends = requests_paced(port, warmup, args.rate)
    warmed = arrivals_wait(sink, arrived, [to for to, _, _ in sends], timeout=ARRIVAL_TIMEOUT)
    decoys = [api.update(ids[e], e, "free") for e in unchanged]
    decoys += [api.update(ids[e], e, "team") for e in other_plan]
    decoy_sends = requests_paced(port, decoys, args.rate)
    print(
        f"   warm-up: {len(sends)} requests, e-mails {'all in' if warmed else 'NOT all in'};"
        f" decoys: {len(decoy_sends)} updates to the same plan or to 'team' (HTTP"
        f" {sorted({status for _, _, status in decoy_sends})})",
        flush=True,
    )

    requests = []
    for number, external_id in enumerate(updated):
        requests.append(api.update(ids[external_id], external_id, "pro"))
        requests.append(api.trigger(baseline.public_id, f"ping_{WARMUP + number + 1}"))
    sends = requests_paced(port, requests, 2 * args.rate)
    arrivals_wait(sink, arrived, [to for to, _, _ in sends], timeout=ARRIVAL_TIMEOUT)
    arrivals_wait(sink, arrived, [], timeout=0)  # whatever else came meanwhile

    print()
    segment_sends = [send for send in sends if send[0].startswith("user_")]
    base_sends = [send for send in sends if send[0].startswith("ping_")]
    segment_latencies = latency_report(
        f"1. dynamic segment: PATCH plan 'pro' -> e-mail of the run it enters"
        f" ({args.customers:,} customers, {args.rate:g}/s)",
        segment_sends,
        arrived,
    )
    base_latencies = latency_report(
        f"   baseline: POST trigger -> e-mail of the run it starts ({args.rate:g}/s, interleaved)",
        base_sends,
        arrived,
    )
    if segment_latencies and base_latencies:
        ratios = [
            f"{label} {percentile(segment_latencies, q) / percentile(base_latencies, q):.2f}"
            for label, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
        ]
        ratios.append(f"max {max(segment_latencies) / max(base_latencies):.2f}")
        print(f"   ratio segment/baseline: {', '.join(ratios)}")
    members = [f"user_{n}" for n in range(10, args.customers + 1, 10)]
    print(
        f"   runs of the segment journey: {runs_of(segment_journey.pk):,} (expected"
        f" {len(updated) + len(warm)}: updates + warm-up); of members at publish:"
        f" {runs_of(segment_journey.pk, members)} (expected 0)"
    )
    decoy_ids = unchanged + other_plan
    mailed = sum(1 for external_id in decoy_ids if f"{external_id}@example.com" in arrived)
    print(
        f"   decoys (updated 'free' -> 'free': {len(unchanged)}, -> 'team': {len(other_plan)}):"
        f" {mailed} e-mails, {runs_of(segment_journey.pk, decoy_ids)} runs (expected 0)",
        flush=True,
    )


# --- part 2: the static burst ----------------------------------------------------------------


def members_post(
    port: int, api: Api, segment: Any, count: int, chunk: int
) -> list[tuple[float, int, dict]]:
    """``POST segments/{id}/members`` with ``st_1..count``, ``chunk`` ids a request, one after
    the other on one connection; answers (seconds, status, answer) per request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    path = f"{api.base}/segments/{segment.public_id}/members"
    answers = []
    for first in range(1, count + 1, chunk):
        ids = [f"st_{n}" for n in range(first, min(first + chunk, count + 1))]
        started = time.perf_counter()
        conn.request("POST", path, body=json.dumps({"external_ids": ids}), headers=api.headers)
        response = conn.getresponse()
        body = response.read()
        answers.append((time.perf_counter() - started, response.status, json.loads(body or b"{}")))
    conn.close()
    return answers


def drain_follow(
    args, sink: Sink, journey_id: int, first_request: float, worker_pid: int
) -> tuple[int, float, int]:
    """Follow the static part's e-mails (the sink's ``st_`` arrivals, each recipient once)
    until every run has its e-mail or failed, or ``--drain-timeout``; a progress line every
    10 s, with the CPU the worker, PostgreSQL (this database's backends) and the rest of
    the machine used meanwhile, in cores. Answers the e-mails, the last one's arrival and
    the runs failed."""

    def windows() -> tuple[CpuWindow, CpuWindow]:
        return (
            CpuWindow(lambda: [worker_pid, *descendants(worker_pid)]).start(),
            CpuWindow(lambda: database_backends(args.database)).start(),
        )

    worker_cpu, database_cpu = windows()
    recipients: set[str] = set()
    history: list[tuple[float, int]] = [(first_request, 0)]
    last_arrival, failed = 0.0, 0
    next_line = time.time() + PROGRESS_SECONDS
    while (
        len(recipients) + failed < args.static and time.time() < first_request + args.drain_timeout
    ):
        time.sleep(1.0)
        for stamp, recipient in sink.received():
            if recipient.startswith("st_") and recipient not in recipients:
                recipients.add(recipient)
                last_arrival = max(last_arrival, stamp)
        now = time.time()
        history.append((now, len(recipients)))
        if now >= next_line or len(recipients) >= args.static:
            completed, failed = sql_one(
                "SELECT count(*) FILTER (WHERE state = 'completed'),"
                " count(*) FILTER (WHERE state = 'failed')"
                " FROM journeys_enrollment WHERE journey_id = %s",
                [journey_id],
            )
            count = len(recipients)
            rates = []
            for span in (PROGRESS_SECONDS, RATE_WINDOW):
                then, was = next((p for p in history if p[0] >= now - span), history[0])
                rates.append(
                    f"{(count - was) / max(now - then, 1e-3):4,.0f}/s over {now - then:.0f} s"
                )
            worker_cpu.stop(), database_cpu.stop()
            elapsed = worker_cpu.elapsed
            print(
                f"   {now - first_request:6.0f} s  {count:>9,} e-mails ({', '.join(rates)});"
                f" runs completed {completed:,}, failed {failed:,}; CPU cores: worker"
                f" {worker_cpu.ours / elapsed:.2f}, PostgreSQL {database_cpu.ours / elapsed:.2f},"
                f" the rest {(worker_cpu.others - database_cpu.ours) / elapsed:.2f}",
                flush=True,
            )
            worker_cpu, database_cpu = windows()
            next_line = now + PROGRESS_SECONDS
    return len(recipients), last_arrival, failed


def static_measure(args, port: int, sink: Sink, workspace: Any, key: str, worker_pid: int) -> None:
    from segments.services import MAX_MEMBERS_PER_REQUEST, segment_create

    segment = segment_create(workspace=workspace, name="Beta", kind="static")
    journey, publish_seconds = segment_journey_make(workspace, segment, STATIC_STEPS)
    requests = -(-args.static // MAX_MEMBERS_PER_REQUEST)
    print(
        f"2. static segment: {args.static:,} ids in {requests} request(s) of at most"
        f" {MAX_MEMBERS_PER_REQUEST:,} (the API's limit per request); the journey on it published"
        f" in {publish_seconds * 1000:.0f} ms ({machine_load()})",
        flush=True,
    )
    members_add_statements(segment, 1)  # the first call's one-off reads (the live version)
    for count in (MAX_MEMBERS_PER_REQUEST, 10):
        total, entry, seconds = members_add_statements(segment, min(count, args.static))
        print(
            f"   segment_members_add of {min(count, args.static):,} new ids in this process"
            f" (rolled back): {total} statements, {entry} of them after the members' INSERT"
            f" (the entry), {seconds * 1000:.0f} ms"
        )
    sys.stdout.flush()

    api = Api(workspace, key)
    cpu_before = tree_cpu_seconds(worker_pid)
    first_request = time.time()
    answers = members_post(port, api, segment, args.static, MAX_MEMBERS_PER_REQUEST)
    last_request = time.time()
    seconds = [s for s, _, _ in answers]
    statuses = [status for _, status, _ in answers]
    added = sum(answer.get("added", 0) for _, _, answer in answers)
    runs = runs_of(journey.pk)
    print(
        f"   requests: {len(answers)} in {last_request - first_request:.1f} s (each p50"
        f" {percentile(seconds, 0.5) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms; HTTP"
        f" {', '.join(f'{c} x{statuses.count(c)}' for c in sorted(set(statuses)))}); added"
        f" {added:,}; runs created {runs:,} ({runs / (last_request - first_request):,.0f}"
        f" runs/s entered)",
        flush=True,
    )
    autovacuum = sql_one("SHOW autovacuum")[0]
    if args.stats == "analyzed":
        started = time.perf_counter()
        for table in RUN_TABLES:
            vacuum_analyze(table)
        print(
            f"   VACUUM ANALYZE of {', '.join(RUN_TABLES)} after the requests, as autovacuum"
            f" would soon: {time.perf_counter() - started:.2f} s (autovacuum is {autovacuum} on"
            f" this server)",
            flush=True,
        )
    else:
        print(
            f"   statistics as the setup left them (--stats stale; autovacuum is {autovacuum} on"
            f" this server)",
            flush=True,
        )

    received, last_arrival, failed = drain_follow(args, sink, journey.pk, first_request, worker_pid)
    worker_cpu = tree_cpu_seconds(worker_pid) - cpu_before
    if received + failed >= args.static and received:
        drain = last_arrival - first_request
        print(
            f"   {received:,} of {args.static:,} e-mails at the sink, the last {drain:.1f} s after"
            f" the first request:"
            f" {received / drain:,.0f} runs/s end to end; the last"
            f" {last_arrival - last_request:.1f} s after the last request ({machine_load()})"
        )
    else:
        now = time.time()
        print(
            f"   STOPPED at the --drain-timeout, {now - first_request:.0f} s after the first"
            f" request: {received:,} of {args.static:,} e-mails at the sink"
            f" ({received / (now - first_request):,.0f}/s on average)"
        )
    if received:
        print(
            f"   worker CPU {worker_cpu / received * 1000:.2f} ms per e-mail sent"
            f" ({worker_cpu:.0f} s in all, {args.worker_concurrency} processes)"
        )
    if failed:
        error = sql_one(
            "SELECT error FROM journeys_enrollment WHERE journey_id = %s AND state = 'failed'"
            " LIMIT 1",
            [journey.pk],
        )[0]
        print(f"   {failed:,} runs FAILED, e.g.: {error}")


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    banner(
        "segment triggers: dynamic update -> e-mail vs API trigger; static burst; reconcile",
        [f"{args.customers:,} customers (10% 'pro'), {args.updates} updates + {args.updates}"
         f" triggers at {args.rate:g}/s each; {args.static:,} added to a static segment;"
         f" worker concurrency {args.worker_concurrency}"],
    )  # fmt: skip
    started = time.perf_counter()
    sink = Sink()  # forked before Django is set up: the sink holds no connections
    try:
        with scratch_services(
            database=args.database,
            redis_url=args.redis_url,
            keep=args.keep,
            RATELIMIT_TRIGGER_PER_MINUTE="1000000",
            RATELIMIT_DEFAULT_PER_MINUTE="1000000",
            EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
        ) as (_env, processes):
            from segments.models import SegmentPresence
            from segments.services import segment_create

            workspace, key = workspace_with_key("Segments bench")
            customers_load(workspace_id=workspace.pk, count=args.customers)
            plans_set(workspace.pk)
            customers_load(workspace_id=workspace.pk, count=args.updates + WARMUP, prefix="ping_")
            static_workspace, static_key = workspace_with_key("Segments bench static")
            customers_load(workspace_id=static_workspace.pk, count=args.static, prefix="st_")
            vacuum_analyze()

            pros = segment_create(workspace=workspace, name="Pro", kind="dynamic", conditions=PRO)
            journey, publish_seconds = segment_journey_make(workspace, pros, WELCOME_STEPS)
            _, baseline, _ = journey_publish(
                name="Baseline", steps=BASELINE_STEPS, workspace=workspace
            )
            presences = SegmentPresence.objects.filter(segment=pros).count()
            print(
                f"1. publish of the journey on the dynamic segment (journey_publish):"
                f" {publish_seconds:.2f} s; it recorded {presences:,} members"
                f" (SegmentPresence rows; {args.customers // 10:,} are 'pro')",
                flush=True,
            )
            vacuum_analyze()
            stays_free = sql_one(
                "SELECT id FROM customers_customer WHERE workspace_id = %s AND external_id = %s",
                [workspace.pk, "user_1"],
            )[0]
            presence_check_measure(workspace.pk, stays_free)

            worker = processes.worker("worker", concurrency=args.worker_concurrency)
            processes.beat()
            port = free_port()
            server = gunicorn_start(SERVER, port)
            try:
                health_wait(server, port)
                latency_measure(
                    args, port, Api(workspace, key), sink, workspace, (journey, baseline)
                )
                print()
                reconcile_measure()
                print()
                static_measure(args, port, sink, static_workspace, static_key, worker.pid)
            finally:
                gunicorn_stop(server)
            errors = [line for line in processes.log("worker").splitlines() if "ERROR" in line]
            print(
                f"worker log: {len(errors)} ERROR lines"
                + (f", first: {errors[0]}" if errors else "")
            )
    finally:
        sink.stop()
        with contextlib.suppress(OSError):
            sink.path.unlink()
            sink.path.parent.rmdir()
    print(f"   total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
