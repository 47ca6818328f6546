"""Durable timers: how late delayed runs wake, and worker memory vs runs waiting.

What it measures
    A live journey whose only step is a delay (``wait``, then the run completes). Runs
    waiting on it are written by SQL exactly as the engine leaves a run that waits
    (``journeys.engine.walker``): the enrollment ``active`` on ``current_step =
    'wait'`` with ``wake_at`` set and no lease, plus the delay's open StepRun (visit 1,
    ``finished_at`` NULL, outcome ``waiting``), so the walker resumes that visit.

    Two phases, each with a fresh ``celery -A config worker`` (prefork,
    ``--concurrency``, default 2) and ``celery -A config beat`` (``runs_sweep`` every
    second), differing only in how many runs wait far in the future:

    * ``small``: ``--small-waiting`` runs (default 1,000);
    * ``large``: ``--waiting`` runs (default 1,000,000).

    After writing the waiting runs it runs ``VACUUM ANALYZE`` and ``CHECKPOINT``, so
    that a phase pays neither for stale statistics nor for its setup's dirty pages.

    In each phase, once the worker answers, a due slice is inserted: ``--rate`` runs a
    second (default 200) for ``--seconds`` (default 30), their ``wake_at`` spread evenly
    from ``--lead`` seconds (default 5) ahead. Lateness of a run = its delay StepRun's
    ``finished_at`` (the moment the walker resumed the step) minus its ``wake_at`` (kept
    aside in table ``bench_due``). It prints p50/p95/p99/max lateness per phase (target
    p99 <= 2 s), the rate at which runs were woken (below ``--rate``, the worker could
    not keep up and lateness grows through the slice) with the worker's CPU time per
    woken run, and the worker's RSS (VmRSS summed over the worker's process tree from
    ``/proc``: idle once ready, peak while the slice ran, and at the end) for both
    phases with the large/small ratio (target <= 1.1x: waiting runs live in PostgreSQL,
    not in worker memory). Then it times an empty sweep claim with all the runs waiting
    and walks ``--profile-runs`` woken runs in this process (queries per run, time in
    SQL, cProfile by area).

How to run (from the project root; needs the local PostgreSQL and Redis)
    .venv/bin/python bench/timers.py                      # 1,000,000 waiting
    .venv/bin/python bench/timers.py --waiting 50000 --seconds 10   # quick look

Options
    --waiting N         runs waiting in the large phase (default 1,000,000)
    --small-waiting N   runs waiting in the small phase (default 1,000)
    --rate R            due runs per second (default 200)
    --seconds S         seconds over which runs fall due (default 30)
    --lead S            seconds between inserting the due slice and its first wake_at (5)
    --concurrency C     worker pool size (default 2)
    --profile-runs P    woken runs walked in-process for the profile (default 200; 0 skips)
    --database NAME     scratch database, dropped and re-created (journeys_bench_timers)
    --redis-url URL     broker and cache, flushed at start and end (redis://127.0.0.1:6379/2)
    --keep              leave the scratch database in place at the end
"""

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_support import (
    DEFAULT_REDIS_URL,
    Processes,
    banner,
    percentile,
    scratch_services,
    tree_rss_kib,
    walks_profile,
)
from bench.scratch import (
    customers_load,
    journey_publish,
    sql_one,
    sql_run,
    tree_cpu_seconds,
)

TARGET_P99_SECONDS = 2.0
TARGET_RSS_RATIO = 1.1
STEPS = [{"key": "wait", "type": "delay", "seconds": 86_400, "next": None}]
RUN_CONTEXT = {"payload": {}, "profile": {}, "tenant_id": None, "steps": {}}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiting", type=int, default=1_000_000)
    parser.add_argument("--small-waiting", type=int, default=1_000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--lead", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--profile-runs", type=int, default=200)
    parser.add_argument("--database", default="journeys_bench_timers")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


@dataclass
class Journey:
    workspace_id: int
    journey_id: int
    version_id: int


@dataclass
class Phase:
    name: str
    waiting: int
    due: int = 0
    lateness: list[float] = field(default_factory=list)
    unfinished: int = 0
    rss_idle: int = 0
    rss_peak: int = 0
    rss_end: int = 0
    worker_cpu: float = 0.0  # CPU seconds of the worker's tree while the slice ran
    processes_in_tree: int = 0
    drain_seconds: float = 0.0
    throughput: float = 0.0  # woken runs per second, first wake_at to last finish


def runs_insert(
    journey: Journey, *, prefix: str, wake_at_sql: str, params: list, phase: str | None
) -> int:
    """Waiting runs for the customers ``<prefix>*``, each with its delay's open StepRun;
    with ``phase``, their ``wake_at`` is also kept in ``bench_due``."""
    due_insert = (
        ", kept AS (INSERT INTO bench_due (enrollment_id, phase, wake_at)"
        " SELECT id, %s, wake_at FROM inserted)"
        if phase
        else ""
    )
    return sql_one(
        "WITH candidates AS ("
        "  SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM customers_customer"
        "  WHERE workspace_id = %s AND external_id LIKE %s),"
        " inserted AS ("
        "  INSERT INTO journeys_enrollment (public_id, workspace_id, journey_id, version_id,"
        "   customer_id, state, current_step, wake_at, context, cancellation_key, exit_reason,"
        "   error, entered_at)"
        "  SELECT 'run_' || replace(gen_random_uuid()::text, '-', ''), %s, %s, %s, c.id,"
        f"   'active', 'wait', {wake_at_sql}, %s::jsonb, NULL, '', '', now()"
        "  FROM candidates AS c ORDER BY c.id RETURNING id, entered_at, wake_at),"
        " opened AS (INSERT INTO journeys_steprun (enrollment_id, step_key, step_type, visit,"
        "   started_at, finished_at, outcome, error, message_id)"
        "  SELECT id, 'wait', 'delay', 1, entered_at, NULL, 'waiting', '', NULL FROM inserted)"
        f" {due_insert}"
        " SELECT count(*) FROM inserted",
        [
            journey.workspace_id,
            prefix.replace("_", "\\_") + "%",
            journey.workspace_id,
            journey.journey_id,
            journey.version_id,
            *params,
            json.dumps(RUN_CONTEXT),
            *([phase] if phase else []),
        ],
    )[0]


def waiting_add(journey: Journey, count: int, prefix: str) -> float:
    """``count`` more runs waiting between 1 and 31 days from now; returns seconds taken."""
    started = time.perf_counter()
    customers_load(workspace_id=journey.workspace_id, count=count, prefix=prefix)
    inserted = runs_insert(
        journey,
        prefix=prefix,
        wake_at_sql="now() + interval '1 day' + (c.n %% 2592000) * interval '1 second'",
        params=[],
        phase=None,
    )
    assert inserted == count, (inserted, count)
    sql_run("VACUUM ANALYZE")
    # Flush the pages just written now, so the phase does not pay for this setup's
    # checkpoint (PostgreSQL would otherwise write them out while the worker runs).
    sql_run("CHECKPOINT")
    return time.perf_counter() - started


def phase_run(
    args: argparse.Namespace, processes: Processes, journey: Journey, phase: Phase
) -> None:
    from django.utils import timezone

    due = args.rate * args.seconds
    customers_load(workspace_id=journey.workspace_id, count=due, prefix=f"due_{phase.name}_")
    processes.beat()
    worker = processes.worker("worker", concurrency=args.concurrency)
    time.sleep(2)  # let the pool settle before the idle reading
    phase.rss_idle, phase.processes_in_tree = tree_rss_kib(worker.pid)
    cpu_before = tree_cpu_seconds(worker.pid)

    first_due = timezone.now() + timedelta(seconds=args.lead)
    phase.due = runs_insert(
        journey,
        prefix=f"due_{phase.name}_",
        wake_at_sql="%s::timestamptz + make_interval(secs => c.n::float8 / %s)",
        params=[first_due, args.rate],
        phase=phase.name,
    )
    started = time.monotonic()
    deadline = started + args.lead + args.seconds + 300
    remaining = phase.due
    next_check = 0.0
    while time.monotonic() < deadline:
        rss, _ = tree_rss_kib(worker.pid)
        phase.rss_peak = max(phase.rss_peak, rss)
        if time.monotonic() >= next_check:
            remaining = sql_one(
                "SELECT count(*) FROM bench_due d JOIN journeys_enrollment e"
                " ON e.id = d.enrollment_id WHERE d.phase = %s AND e.state = 'active'",
                [phase.name],
            )[0]
            next_check = time.monotonic() + 1.0
            if remaining == 0:
                break
        time.sleep(0.5)
    phase.drain_seconds = time.monotonic() - started
    phase.rss_end, _ = tree_rss_kib(worker.pid)
    phase.worker_cpu = tree_cpu_seconds(worker.pid) - cpu_before
    phase.rss_peak = max(phase.rss_peak, phase.rss_end)
    processes.stop("worker")
    processes.stop("beat")

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) / extract(epoch FROM max(s.finished_at) - min(d.wake_at))"
            " FROM bench_due d JOIN journeys_steprun s ON s.enrollment_id = d.enrollment_id"
            " AND s.step_key = 'wait' AND s.visit = 1 WHERE d.phase = %s",
            [phase.name],
        )
        phase.throughput = float(cursor.fetchone()[0] or 0)
        cursor.execute(
            "SELECT extract(epoch FROM s.finished_at - d.wake_at) FROM bench_due d"
            " JOIN journeys_steprun s ON s.enrollment_id = d.enrollment_id"
            " AND s.step_key = 'wait' AND s.visit = 1"
            " WHERE d.phase = %s AND s.finished_at IS NOT NULL",
            [phase.name],
        )
        phase.lateness = [float(row[0]) for row in cursor.fetchall()]
    phase.unfinished = phase.due - len(phase.lateness)


def phase_print(phase: Phase) -> None:
    late = phase.lateness
    print(
        f"   {phase.name}: {phase.waiting:,} waiting + {phase.due:,} falling due;"
        f" {len(late):,} woke ({phase.unfinished} not within the time limit),"
        f" last one done {phase.drain_seconds:.1f} s after the slice was inserted;"
        f" {phase.throughput:,.0f} runs/s woken from the first wake_at to the last finish;"
        f" worker CPU {phase.worker_cpu / max(phase.due, 1) * 1e3:.2f} ms per woken run"
    )
    if late:
        print(
            f"      lateness p50 {percentile(late, 0.5):.3f} s, p95 {percentile(late, 0.95):.3f} s,"
            f" p99 {percentile(late, 0.99):.3f} s, max {max(late):.3f} s"
            f" (min {min(late):.3f} s, mean {statistics.fmean(late):.3f} s)"
        )
    print(
        f"      worker RSS ({phase.processes_in_tree} processes): idle {phase.rss_idle / 1024:.1f}"
        f" MiB, peak {phase.rss_peak / 1024:.1f} MiB, end {phase.rss_end / 1024:.1f} MiB"
    )
    sys.stdout.flush()


def profile(args: argparse.Namespace, journey: Journey, waiting: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from journeys.engine.claims import runs_claim_due

    timings = []
    for _ in range(20):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            claimed = runs_claim_due(limit=100).run_ids
            timings.append(time.perf_counter() - started)
        assert not claimed
    print(
        f"-- empty sweep claim with {waiting:,} runs waiting: median"
        f" {statistics.median(timings) * 1000:.2f} ms, {len(queries.captured_queries)} queries"
    )
    if not args.profile_runs:
        return
    ids = [
        row[0]
        for row in _fetchall(
            "UPDATE journeys_enrollment SET wake_at = now() - interval '1 second'"
            " WHERE id IN (SELECT id FROM journeys_enrollment WHERE journey_id = %s"
            " AND state = 'active' AND current_step = 'wait' ORDER BY id LIMIT %s)"
            " RETURNING id",
            [journey.journey_id, args.profile_runs],
        )
    ]
    walks_profile(ids, label=f"woken delay runs, {waiting:,} waiting")


def _fetchall(statement: str, params: list) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def main() -> None:
    args = parse_args()
    due = args.rate * args.seconds
    banner(
        "timers: lateness of due delays and worker memory vs runs waiting",
        [
            f"{args.small_waiting:,} then {args.waiting:,} runs waiting; {due:,} falling due"
            f" at {args.rate}/s for {args.seconds} s per phase; worker --concurrency"
            f" {args.concurrency}, beat sweeping every second",
        ],
    )
    started = time.perf_counter()
    with scratch_services(database=args.database, redis_url=args.redis_url, keep=args.keep) as (
        _env,
        processes,
    ):
        sql_run(
            "CREATE TABLE bench_due (enrollment_id bigint PRIMARY KEY, phase text NOT NULL,"
            " wake_at timestamptz NOT NULL)"
        )
        workspace, journey_row, version = journey_publish(name="Timers bench", steps=STEPS)
        journey = Journey(workspace.pk, journey_row.pk, version.pk)

        small = Phase("small", waiting=args.small_waiting)
        setup = waiting_add(journey, args.small_waiting, "w1_")
        print(f"   {args.small_waiting:,} waiting runs written in {setup:.1f} s")
        phase_run(args, processes, journey, small)
        phase_print(small)

        large = Phase("large", waiting=args.waiting)
        setup = waiting_add(journey, args.waiting - args.small_waiting, "w2_")
        print(
            f"   {args.waiting - args.small_waiting:,} more waiting runs written (then VACUUM"
            f" ANALYZE, CHECKPOINT) in {setup:.1f} s"
        )
        phase_run(args, processes, journey, large)
        phase_print(large)

        for phase in (small, large):
            p99 = percentile(phase.lateness, 0.99)
            verdict = "meets" if p99 <= TARGET_P99_SECONDS else "MISSES"
            print(
                f"lateness ({phase.name}, {phase.waiting:,} waiting): p50"
                f" {percentile(phase.lateness, 0.5):.2f} s, p95"
                f" {percentile(phase.lateness, 0.95):.2f} s, p99 {p99:.2f} s, max"
                f" {max(phase.lateness):.2f} s ({verdict} p99 <= {TARGET_P99_SECONDS:g} s)"
            )
        ratio = large.rss_peak / small.rss_peak
        verdict = "meets" if ratio <= TARGET_RSS_RATIO else "MISSES"
        print(
            f"worker RSS peak: {small.rss_peak / 1024:.1f} MiB with {small.waiting:,} waiting,"
            f" {large.rss_peak / 1024:.1f} MiB with {large.waiting:,} waiting:"
            f" ratio {ratio:.3f} ({verdict} <= {TARGET_RSS_RATIO:g}x);"
            f" at the end {large.rss_end / max(small.rss_end, 1):.3f}x"
        )
        sys.stdout.flush()
        profile(args, journey, args.waiting)
    print(f"   total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
