"""Engine throughput: non-I/O steps per second vs raw Celery no-op tasks, same broker.

What it measures
    * ``engine``: ``--runs`` runs (default 2,000) of a live journey whose steps never
      leave the process: branch -> split -> repeat (x2, looping back to the branch) ->
      exit, i.e. 10 steps per run. The runs are enrolled with the bulk path
      (``journeys.entry.core.journey_enroll`` over a queryset), then a real
      ``celery -A config worker`` (prefork, ``--concurrency``, default 2) and a real
      ``celery -A config beat`` (``runs_sweep`` every second) are started and walk them.
      Time runs from the first step's start (the first claim handed to a worker) to
      the last run's finish, both read from PostgreSQL; steps/s = StepRun rows / time.
    * ``noop`` (baseline): as many ``bench.noop`` Celery tasks as the engine wrote
      StepRuns, one message per task, published to the same Redis broker before a
      ``celery -A bench.engine_support:noop_app worker`` with the same pool, concurrency
      and Celery settings (late acks, prefetch 1, JSON) starts. Time runs from the
      first message taken off the queue to the last one acknowledged (the queue and the
      unacked set polled every 10 ms); the worker's own stats confirm the task count.

    It prints both rates and engine/noop (target >= 2: the engine carries a batch of
    100 runs per message, so a step should cost well under one broker round trip).
    ``--rounds`` (default 3) alternates the two and prints medians. It also prints the
    worker's CPU time per step and per no-op task (``/proc``; PostgreSQL's is not
    counted), which a busy shared machine distorts less than the clock, and how many
    PostgreSQL sessions the engine's worker opened. Then it walks ``--profile-runs``
    fresh runs in this process and prints SQL queries per run, time in SQL and a
    cProfile summary. Both workers log at WARNING (Celery's default level).

How to run (from the project root; needs the local PostgreSQL and Redis)
    .venv/bin/python bench/engine.py                     # 3 rounds of 2,000 runs
    .venv/bin/python bench/engine.py --runs 20000 --rounds 1   # longer, smoother
    .venv/bin/python bench/engine.py --runs 300 --rounds 1     # quick look

Options
    --runs N            runs per round (default 2,000; 10 steps each)
    --rounds R          engine/noop pairs (default 3); medians printed when R > 1
    --concurrency C     worker pool size, both workers (default 2)
    --profile-runs P    runs walked in-process for the profile (default 200; 0 skips)
    --database NAME     scratch database, dropped and re-created (journeys_bench_engine)
    --redis-url URL     broker and cache, flushed at start and end (redis://127.0.0.1:6379/2)
    --timeout S         give up on a phase after S seconds (default 900)
    --keep              leave the scratch database in place at the end
"""

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_support import (
    DEFAULT_REDIS_URL,
    Processes,
    banner,
    database_sessions,
    noop_app,
    noop_messages_publish,
    redis_flush,
    scratch_services,
    wait_until,
    walks_profile,
)
from bench.scratch import (
    customers_load,
    journey_publish,
    sql_one,
    sql_run,
    tree_cpu_seconds,
)

TARGET_RATIO = 2.0
STEPS = [
    {"key": "check", "type": "branch",
     "condition": {"field": "customer.plan", "op": "eq", "value": "pro"},
     "yes": "pick", "no": "pick"},
    {"key": "pick", "type": "split",
     "paths": [{"percentage": 50, "next": "loop"}, {"percentage": 50, "next": "loop"}]},
    {"key": "loop", "type": "repeat", "to": "check", "times": 2, "next": "done"},
    {"key": "done", "type": "exit"},
]  # fmt: skip
STEPS_PER_RUN = 10  # (check, pick, loop) x 3, then done


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--profile-runs", type=int, default=200)
    parser.add_argument("--database", default="journeys_bench_engine")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


@dataclass
class EngineRound:
    steps: int
    runs: int
    seconds: float
    enroll_seconds: float
    wall_seconds: float  # worker ready -> last run finished, as seen by this script
    max_queue: int
    worker_cpu: float  # CPU seconds of the worker's process tree
    sessions: int  # PostgreSQL sessions opened while the worker ran

    @property
    def rate(self) -> float:
        return self.steps / self.seconds


@dataclass
class NoopRound:
    tasks: int
    seconds: float
    publish_seconds: float
    counted: int  # the worker's own count of bench.noop tasks
    worker_cpu: float

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds


def engine_round(args: argparse.Namespace, processes: Processes, number: int) -> EngineRound:
    import redis

    from customers.models import Customer
    from journeys.entry.core import journey_enroll
    from journeys.models import Enrollment

    workspace, journey, version = journey_publish(name=f"Engine bench {number}", steps=STEPS)
    customers_load(workspace_id=workspace.pk, count=args.runs, prefix=f"r{number}_")
    sql_run("VACUUM ANALYZE")
    started = time.perf_counter()
    result = journey_enroll(
        journey=journey,
        version=version,
        customers=Customer.objects.filter(workspace=workspace),
        payload={"promo": "SPRING"},
    )
    enroll_seconds = time.perf_counter() - started
    assert result.enrolled_count == args.runs, result.outcomes

    broker = redis.Redis.from_url(args.redis_url)
    sessions_before = database_sessions()
    processes.beat()
    worker = processes.worker("worker", concurrency=args.concurrency)
    ready = time.perf_counter()
    cpu_before = tree_cpu_seconds(worker.pid)
    active = Enrollment.objects.filter(journey=journey, state=Enrollment.State.ACTIVE)
    max_queue = 0

    def finished() -> bool:
        nonlocal max_queue
        max_queue = max(max_queue, broker.llen("celery"))
        return not active.exists()

    if not wait_until(finished, timeout=args.timeout, interval=0.5):
        raise RuntimeError(f"runs still active after {args.timeout} s:\n{processes.log('worker')}")
    wall = time.perf_counter() - ready
    worker_cpu = tree_cpu_seconds(worker.pid) - cpu_before
    processes.stop("worker")
    processes.stop("beat")
    sessions = database_sessions() - sessions_before

    steps, first, last, runs, exited = sql_one(
        "SELECT (SELECT count(*) FROM journeys_steprun s JOIN journeys_enrollment e"
        "         ON e.id = s.enrollment_id WHERE e.journey_id = %s),"
        " (SELECT min(s.started_at) FROM journeys_steprun s JOIN journeys_enrollment e"
        "         ON e.id = s.enrollment_id WHERE e.journey_id = %s),"
        " max(finished_at), count(*), count(*) FILTER (WHERE state = 'exited')"
        " FROM journeys_enrollment WHERE journey_id = %s",
        [journey.pk, journey.pk, journey.pk],
    )
    if exited != runs or steps != runs * STEPS_PER_RUN:
        print(f"   !! {exited}/{runs} runs exited, {steps} steps (expected {runs * 10})")
    return EngineRound(
        steps=steps,
        runs=runs,
        seconds=(last - first).total_seconds(),
        enroll_seconds=enroll_seconds,
        wall_seconds=wall,
        max_queue=max_queue,
        worker_cpu=worker_cpu,
        sessions=sessions,
    )


def noop_round(args: argparse.Namespace, processes: Processes, tasks: int) -> NoopRound:
    import redis

    redis_flush(args.redis_url)
    broker = redis.Redis.from_url(args.redis_url)
    started = time.perf_counter()
    noop_messages_publish(args.redis_url, tasks)
    publish_seconds = time.perf_counter() - started
    queued = broker.llen("celery")
    assert queued == tasks, f"{queued} messages queued, expected {tasks}"

    worker = processes.worker(
        "noop-worker",
        app="bench.engine_support:noop_app",
        concurrency=args.concurrency,
        ping_app=noop_app,
    )
    cpu_before = tree_cpu_seconds(worker.pid)
    deadline = time.monotonic() + args.timeout
    first = None
    while time.monotonic() < deadline:
        pipe = broker.pipeline()
        pipe.llen("celery")
        pipe.hlen("unacked")
        queued, unacked = pipe.execute()
        now = time.perf_counter()
        if first is None and queued < tasks:
            first = now
        if queued == 0 and unacked == 0:
            break
        time.sleep(0.01)
    else:
        raise RuntimeError(f"noop tasks left after {args.timeout} s")
    last = time.perf_counter()
    worker_cpu = tree_cpu_seconds(worker.pid) - cpu_before
    stats = noop_app.control.inspect(timeout=2.0).stats() or {}
    counted = sum(node.get("total", {}).get("bench.noop", 0) for node in stats.values())
    processes.stop("noop-worker")
    return NoopRound(
        tasks=tasks,
        seconds=last - first,
        publish_seconds=publish_seconds,
        counted=counted,
        worker_cpu=worker_cpu,
    )


def profile(args: argparse.Namespace) -> None:
    from customers.models import Customer
    from journeys.entry.core import journey_enroll

    workspace, journey, version = journey_publish(name="Engine bench profile", steps=STEPS)
    customers_load(workspace_id=workspace.pk, count=args.profile_runs, prefix="p_")
    result = journey_enroll(
        journey=journey,
        version=version,
        customers=Customer.objects.filter(workspace=workspace),
        payload={"promo": "SPRING"},
    )
    run_ids = list(journey.enrollments.values_list("pk", flat=True))
    assert result.enrolled_count == len(run_ids)
    walks_profile(run_ids, label=f"{STEPS_PER_RUN} non-I/O steps per run")


def main() -> None:
    args = parse_args()
    noop_app.conf.broker_url = args.redis_url
    banner(
        "engine: non-I/O steps/s through the engine vs raw Celery no-op tasks",
        [
            f"{args.runs:,} runs x {STEPS_PER_RUN} steps (branch, split, repeat x2, exit),"
            f" worker --concurrency {args.concurrency}, {args.rounds} round(s)",
        ],
    )
    started = time.perf_counter()
    engine_rounds: list[EngineRound] = []
    noop_rounds: list[NoopRound] = []
    with scratch_services(database=args.database, redis_url=args.redis_url, keep=args.keep) as (
        _env,
        processes,
    ):
        for number in range(1, args.rounds + 1):
            engine = engine_round(args, processes, number)
            engine_rounds.append(engine)
            print(
                f"   round {number} engine: {engine.steps:,} steps ({engine.runs:,} runs) in"
                f" {engine.seconds:.2f} s = {engine.rate:,.0f} steps/s"
                f" ({engine.runs / engine.seconds:,.0f} runs/s); worker CPU per step"
                f" {engine.worker_cpu / engine.steps * 1e3:.3f} ms; enroll"
                f" {engine.enroll_seconds:.2f} s; worker ready -> done {engine.wall_seconds:.1f} s;"
                f" deepest queue {engine.max_queue} messages; {engine.sessions:,} PostgreSQL"
                " sessions opened"
            )
            sys.stdout.flush()
            baseline = noop_round(args, processes, engine.steps)
            noop_rounds.append(baseline)
            print(
                f"   round {number} noop:   {baseline.tasks:,} tasks in {baseline.seconds:.2f} s"
                f" = {baseline.rate:,.0f} tasks/s; worker CPU per task"
                f" {baseline.worker_cpu / baseline.tasks * 1e3:.3f} ms (published in"
                f" {baseline.publish_seconds:.1f} s; worker counted {baseline.counted:,})"
            )
            print(
                f"   round {number} ratio engine/noop: {engine.rate / baseline.rate:.2f}"
                f" by the clock; {baseline.worker_cpu / baseline.tasks:.3g} /"
                f" {engine.worker_cpu / engine.steps:.3g} ="
                f" {baseline.worker_cpu / baseline.tasks / (engine.worker_cpu / engine.steps):.2f}"
                " by worker CPU per unit"
            )
            sys.stdout.flush()
            redis_flush(args.redis_url)

        engine_rate = statistics.median(r.rate for r in engine_rounds)
        noop_rate = statistics.median(r.rate for r in noop_rounds)
        ratio = engine_rate / noop_rate
        label = "median " if args.rounds > 1 else ""
        print(f"engine: {label}{engine_rate:,.0f} steps/s")
        print(f"noop:   {label}{noop_rate:,.0f} Celery no-op tasks/s")
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        print(f"ratio:  engine/noop = {ratio:.2f} ({verdict} the target >= {TARGET_RATIO:g})")
        engine_cpu = statistics.median(r.worker_cpu / r.steps for r in engine_rounds)
        noop_cpu = statistics.median(r.worker_cpu / r.tasks for r in noop_rounds)
        print(
            f"cpu:    worker CPU per unit (PostgreSQL's not counted): engine"
            f" {engine_cpu * 1e3:.3f} ms/step, noop {noop_cpu * 1e3:.3f} ms/task;"
            f" noop/engine = {noop_cpu / engine_cpu:.2f}"
        )
        sys.stdout.flush()
        if args.profile_runs:
            profile(args)
    print(f"   total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
