"""Burst: a campaign's runs all falling due at once, with transactional sends beside it.

What it measures
    Journey A, the campaign: ``delay`` (20 s) -> ``split`` (two paths, 50/50, both to
    ``done``) -> ``exit`` step ``done``; no I/O, three StepRuns per run. With ``--mode
    email`` it is ``delay`` -> ``send`` e-mail (Liquid subject and body) -> end instead,
    two StepRuns per run. Its runs are written by SQL exactly as the engine leaves a run
    waiting on its delay (as ``bench/timers.py`` writes them: the enrollment ``active``
    on ``current_step = 'wait'`` with ``wake_at`` set and no lease, plus the delay's
    open StepRun, visit 1, outcome ``waiting``), all with one common ``wake_at``.

    Journey B, transactional: one ``send`` e-mail step. Every ``--trigger-interval``
    seconds B is triggered for one fresh customer through the product's trigger service,
    called in this process as the API view calls it (``journey_trigger``, the trigger
    service every trigger API calls): the run is committed and handed
    to a worker (``runs_advance``) right after the commit. B's latency = when the SMTP
    sink received its e-mail minus when the trigger call began (one clock: the sink
    and this script run on the same machine).

    Every e-mail goes to a local SMTP sink (aiosmtpd in a forked process; ``EMAIL_URL``
    points at it in every mode) that appends each message's receive time and recipient
    to a file; this script reads the file as it grows and tells B's messages (recipients
    ``b_<phase>_N@``) from A's (``a_<phase>_N@``).

    Two phases, each with its own journeys A and B and a fresh ``celery -A config
    worker`` (prefork, ``--concurrency``, default 2) and ``celery -A config beat``
    (``runs_sweep`` every second), started in that order on an empty broker:

    * ``steady``: ``--steady-runs`` runs of A (default 20,000) due at once;
    * ``burst``: ``--runs`` runs of A (default 1,000,000) due at once.

    Setup of a phase: A's and B's customers are loaded, A's runs written, then ``VACUUM
    ANALYZE`` and ``CHECKPOINT`` (so the phase pays neither for stale statistics nor for
    its setup's dirty pages); then the worker and beat start, B's triggers begin, and the
    runs fall due ``--lead`` seconds later. The common ``wake_at`` has to be written
    with the runs, before the time the writes take is known: it is estimated from the
    time A's customers took to load (writing the runs takes about 2.2 times as long
    here) with a margin, and any time left over is waited out before the lead. Should
    the setup overrun, the phase's clock starts when beat starts, and it says so.

    Every ``--sample-interval`` seconds (default 5) it prints a progress line: A's runs
    finished (and the rate since the last line), A's active runs under a live lease and
    under a lapsed one (claimed, not walked within ``RUN_LEASE_SECONDS``), B's e-mails
    received of triggered and the age of the oldest still missing, the worker's RSS,
    and the length of every Redis list in the broker db (Celery's queues) with kombu's
    ``unacked`` hash (tasks reserved by the worker). The sample costs one scan of A's
    runs (a few hundred ms at 1,000,000 runs). A phase ends when every run of A has
    finished (B's outstanding e-mails then get up to 30 s more) or ``--timeout``
    seconds after the wake_at, when it stops and prints what was reached.

    Figures per phase: A's drain rate in runs/s and steps/s (A's StepRuns finished from
    the wake_at on, divided by the seconds from the wake_at to the last run's finish,
    or to the timeout); B's latency p50/p99/max for triggers made while A drained (and,
    apart, before the wake_at: the idle baseline) and the trigger call's own time; the
    worker's RSS (process tree: idle once ready, peak, end) and CPU per run of A; A's
    runs unfinished. Checks: every finished run of A has exactly its expected StepRuns
    (each step once, visit 1, finished) and no run of A has more visits than expected;
    B's e-mails received vs triggered (a duplicate is a failure); with ``--mode email``,
    A's e-mails received vs runs completed. Then: burst drain rate / steady drain rate
    (target >= 0.8), B's p99 while the burst drained (target <= 2 s), and the worker's
    RSS peak burst / steady (target: flat, <= 1.1x).

How to run (from the project root; needs the local PostgreSQL and Redis)
    .venv/bin/python bench/burst.py                                   # 20,000 then 1,000,000
    .venv/bin/python bench/burst.py --runs 100000 --steady-runs 5000 --timeout 240  # quicker
    .venv/bin/python bench/burst.py --mode email --runs 200000        # the campaign sends

Options
    --runs N            runs of A due at once in the burst phase (default 1,000,000)
    --steady-runs N     runs of A due at once in the steady phase (default 20,000)
    --mode M            A's journey: steps (delay, split, exit) or email (delay, send)
    --concurrency C     worker pool size (default 2)
    --lead S            seconds between beat starting and the common wake_at (default 10)
    --timeout S         a phase stops S seconds after its wake_at (default 1800)
    --trigger-interval S  seconds between B's triggers (default 1.0)
    --sample-interval S seconds between progress lines (default 5)
    --database NAME     scratch database, dropped and re-created (journeys_bench_burst)
    --redis-url URL     broker and cache, flushed at start, between phases and at the end
                        (redis://127.0.0.1:6379/2)
    --keep              leave the scratch database in place at the end
"""

import argparse
import contextlib
import json
import math
import multiprocessing
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_support import (
    DEFAULT_REDIS_URL,
    Processes,
    banner,
    percentile,
    redis_flush,
    scratch_services,
    tree_rss_kib,
)
from bench.scratch import (
    customers_load,
    journey_publish,
    sql_one,
    sql_run,
    tree_cpu_seconds,
)

TARGET_RATE_RATIO = 0.8
TARGET_B_P99_SECONDS = 2.0
TARGET_RSS_RATIO = 1.1
#: Writing A's runs took 2.2x as long as loading their customers here; the wake_at is
#: set this far ahead of the runs' writes, plus a fixed allowance for the rest of the
#: setup (B's customers, VACUUM ANALYZE, CHECKPOINT, worker and beat start) and the lead.
RUNS_WRITE_FACTOR = 3.0
SETUP_ALLOWANCE_SECONDS = 12.0
#: After A drained, how long B's last e-mails may still take.
B_GRACE_SECONDS = 30.0

STEPS_A = {
    "steps": [
        {"key": "wait", "type": "delay", "seconds": 20, "next": "split"},
        {"key": "split", "type": "split", "paths": [
            {"percentage": 50, "next": "done"}, {"percentage": 50, "next": "done"}]},
        {"key": "done", "type": "exit"},
    ],
    "email": [
        {"key": "wait", "type": "delay", "seconds": 20, "next": "mail"},
        {"key": "mail", "type": "send", "channel": "email",
         "subject": "Spring sale for {{ customer.external_id }}",
         "body": "Hi {{ customer.external_id }}, use {{ api.payload.promo }} at checkout.",
         "next": None},
    ],
}  # fmt: skip
#: What a finished run of A has: one finished visit 1 of each step, and its end state.
EXPECTED_A = {
    "steps": (("wait", "split", "done"), "exited"),
    "email": (("wait", "mail"), "completed"),
}
STEPS_B = [
    {"key": "receipt", "type": "send", "channel": "email",
     "subject": "Your order {{ api.payload.order_id }}",
     "body": "Hi {{ customer.external_id }}, order {{ api.payload.order_id }} is confirmed.",
     "next": None},
]  # fmt: skip
RUN_CONTEXT = {"payload": {"promo": "SPRING"}, "profile": {}, "tenant_id": None, "steps": {}}
_fork = multiprocessing.get_context("fork")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--steady-runs", type=int, default=20_000)
    parser.add_argument("--mode", choices=("steps", "email"), default="steps")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--lead", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--trigger-interval", type=float, default=1.0)
    parser.add_argument("--sample-interval", type=float, default=5.0)
    parser.add_argument("--database", default="journeys_bench_burst")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


# --- the sink ---------------------------------------------------------------------------


class Sink:
    """aiosmtpd in a forked process (on ``port``, or a free one), appending ``<epoch
    seconds>\\t<recipient>`` per message and recipient to a file, which :meth:`received`
    reads as it grows."""

    def __init__(self, port: int | None = None) -> None:
        if port is None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
        self.port = port
        self.path = Path(tempfile.mkdtemp(prefix="journeys-bench-sink-")) / "received.tsv"
        self.path.touch()
        self._offset = 0
        self._partial = b""
        ready = _fork.Event()
        self.process = _fork.Process(
            target=_sink_serve, args=(self.port, str(self.path), ready), daemon=True
        )
        self.process.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("the SMTP sink did not start")

    def received(self) -> list[tuple[float, str]]:
        """(receive time, recipient) of the messages received since the last call."""
        with self.path.open("rb") as log:
            log.seek(self._offset)
            data = log.read()
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        found = []
        for line in lines:
            stamp, recipient = line.decode().split("\t", 1)
            found.append((float(stamp), recipient))
        return found

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)


def _sink_serve(port: int, path: str, ready: Any) -> None:
    from aiosmtpd.controller import Controller

    log = open(path, "a", buffering=1)  # noqa: SIM115 (lives as long as the process)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            now = time.time()
            log.write("".join(f"{now:.6f}\t{recipient}\n" for recipient in envelope.rcpt_tos))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


# --- journeys and runs --------------------------------------------------------------------


@dataclass
class Journeys:
    workspace: Any
    a_id: int
    a_version_id: int
    b_public_id: str
    b_id: int


@dataclass
class Trigger:
    number: int
    started: float  # epoch seconds, when the trigger call began
    call_seconds: float
    outcome: str
    received: list[float] = field(default_factory=list)  # sink receive times


@dataclass
class Phase:
    name: str
    runs: int
    journeys: Journeys | None = None
    worker_pid: int = 0
    wake_at: datetime | None = None
    clock_start: float = 0.0  # epoch: the wake_at, or beat's start if the setup overran
    lead: float = 0.0  # seconds from beat's start to the wake_at
    setup: dict[str, float] = field(default_factory=dict)
    rss_idle: int = 0
    rss_peak: int = 0
    rss_end: int = 0
    processes_in_tree: int = 0
    worker_cpu: float = 0.0
    stopped: float = 0.0  # epoch: when the phase stopped waiting
    timed_out: bool = False
    finished: int = 0
    last_finish: float | None = None
    steps_done: int = 0
    drain_seconds: float = 0.0
    triggers: list[Trigger] = field(default_factory=list)
    trigger_errors: list[str] = field(default_factory=list)
    a_received: bytearray = field(default_factory=bytearray)  # e-mails per customer number
    stray_received: int = 0
    queue_peak: int = 0
    lapsed_peak: int = 0

    @property
    def runs_per_second(self) -> float:
        return self.finished / self.drain_seconds if self.drain_seconds > 0 else math.nan

    @property
    def steps_per_second(self) -> float:
        return self.steps_done / self.drain_seconds if self.drain_seconds > 0 else math.nan


def journeys_publish(workspace: Any, phase: str, mode: str) -> Journeys:
    _, a_journey, a_version = journey_publish(
        name=f"Burst A {phase}", steps=STEPS_A[mode], workspace=workspace
    )
    _, b_journey, _ = journey_publish(name=f"Burst B {phase}", steps=STEPS_B, workspace=workspace)
    return Journeys(workspace, a_journey.pk, a_version.pk, b_journey.public_id, b_journey.pk)


def runs_insert(journeys: Journeys, *, prefix: str, wake_at: datetime) -> int:
    """A run of A waiting on its delay for each customer ``<prefix>*``, all due at
    ``wake_at``: the enrollment and the delay's open visit, as the engine leaves them."""
    return sql_one(
        "WITH inserted AS ("
        "  INSERT INTO journeys_enrollment (public_id, workspace_id, journey_id, version_id,"
        "   customer_id, state, current_step, wake_at, context, cancellation_key, exit_reason,"
        "   error, entered_at)"
        "  SELECT 'run_' || replace(gen_random_uuid()::text, '-', ''), %s, %s, %s, c.id,"
        "   'active', 'wait', %s, %s::jsonb, NULL, '', '', now()"
        "  FROM customers_customer AS c WHERE c.workspace_id = %s AND c.external_id LIKE %s"
        "  ORDER BY c.id RETURNING id, entered_at),"
        " opened AS (INSERT INTO journeys_steprun (enrollment_id, step_key, step_type, visit,"
        "   started_at, finished_at, outcome, error, message_id)"
        "  SELECT id, 'wait', 'delay', 1, entered_at, NULL, 'waiting', '', NULL FROM inserted)"
        " SELECT count(*) FROM inserted",
        [
            journeys.workspace.pk,
            journeys.a_id,
            journeys.a_version_id,
            wake_at,
            json.dumps(RUN_CONTEXT),
            journeys.workspace.pk,
            prefix.replace("_", "\\_") + "%",
        ],
    )[0]


# --- during a phase -------------------------------------------------------------------------


def b_trigger(phase: Phase, number: int) -> None:
    """Trigger B for customer ``b_<phase>_<number>`` as the API view does."""
    from journeys.entry.service import Audience, journey_trigger

    journeys = phase.journeys
    started, clock = time.time(), time.perf_counter()
    try:
        result = journey_trigger(
            workspace=journeys.workspace,
            journey_id=journeys.b_public_id,
            audience=Audience(external_id=f"b_{phase.name}_{number}"),
            payload={"order_id": f"B-{number}"},
        )
        outcome = result.outcome.value
    except Exception as error:  # a failed trigger is a figure, not the end of the bench
        outcome = "error"
        phase.trigger_errors.append(f"{type(error).__name__}: {error}")
    phase.triggers.append(Trigger(number, started, time.perf_counter() - clock, outcome))


def received_sort(phase: Phase, sink: Sink) -> None:
    """File the sink's new receipts under B's triggers and A's customers."""
    a_prefix, b_prefix = f"a_{phase.name}_", f"b_{phase.name}_"
    by_number = {trigger.number: trigger for trigger in phase.triggers}
    for stamp, recipient in sink.received():
        local = recipient.split("@", 1)[0]
        if local.startswith(b_prefix) and int(local[len(b_prefix) :]) in by_number:
            by_number[int(local[len(b_prefix) :])].received.append(stamp)
        elif local.startswith(a_prefix):
            number = int(local[len(a_prefix) :])
            phase.a_received[number] = min(phase.a_received[number] + 1, 255)
        else:
            phase.stray_received += 1


def broker_queues(client: Any) -> dict[str, int]:
    """LLEN of every list in the broker db, and kombu's ``unacked`` hash (HLEN)."""
    lengths = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        name = key.decode(errors="replace").replace("\x06\x16", ":")
        if kind == b"list":
            lengths[name] = client.llen(key)
        elif kind == b"hash" and name == "unacked":
            lengths["unacked(hash)"] = client.hlen(key)
    return lengths


def a_counts(phase: Phase) -> tuple[int, int, int]:
    """A's runs still active: all of them, under a live lease, under a lapsed lease."""
    active, leased, lapsed = sql_one(
        "SELECT count(*), count(*) FILTER (WHERE lease_expires_at >= now()),"
        " count(*) FILTER (WHERE lease_expires_at < now())"
        " FROM journeys_enrollment WHERE journey_id = %s AND state = 'active'",
        [phase.journeys.a_id],
    )
    return active, leased, lapsed


def progress_print(
    phase: Phase,
    now: float,
    finished: int,
    previous: tuple[float, int],
    counts: tuple[int, int, int],
    queues: dict[str, int],
) -> None:
    _, leased, lapsed = counts
    then, finished_then = previous
    rate = (finished - finished_then) / (now - then) if now > then else 0.0
    triggered = [t for t in phase.triggers if t.outcome == "enrolled"]
    got = [t for t in triggered if t.received]
    missing = [t for t in triggered if not t.received]
    oldest = f", oldest missing {now - missing[0].started:.0f} s" if missing else ""
    rss, _ = tree_rss_kib(phase.worker_pid)
    queue_text = " ".join(f"{name}={length:,}" for name, length in sorted(queues.items()))
    print(
        f"   {phase.name} {now - phase.clock_start:+6.0f} s: A finished {finished:,}/"
        f"{phase.runs:,} ({rate:,.0f}/s), leased {leased:,}, lapsed {lapsed:,};"
        f" B {len(got)}/{len(triggered)} received{oldest}; RSS {rss / 1024:.0f} MiB;"
        f" queues {queue_text or 'none'}"
    )
    sys.stdout.flush()


def phase_run(
    args: argparse.Namespace, processes: Processes, sink: Sink, phase: Phase, workspace: Any
) -> None:
    import redis
    from django.utils import timezone

    setup_started = time.perf_counter()
    phase.journeys = journeys_publish(workspace, phase.name, args.mode)
    phase.a_received = bytearray(phase.runs + 1)
    started = time.perf_counter()
    customers_load(workspace_id=workspace.pk, count=phase.runs, prefix=f"a_{phase.name}_")
    phase.setup["customers"] = time.perf_counter() - started
    ahead = RUNS_WRITE_FACTOR * phase.setup["customers"] + SETUP_ALLOWANCE_SECONDS + args.lead
    phase.wake_at = timezone.now() + timedelta(seconds=ahead)
    started = time.perf_counter()
    written = runs_insert(phase.journeys, prefix=f"a_{phase.name}_", wake_at=phase.wake_at)
    assert written == phase.runs, (written, phase.runs)
    phase.setup["runs"] = time.perf_counter() - started
    # B's customers: one per trigger until the timeout, with room to spare.
    b_count = int((ahead + args.timeout + 2 * B_GRACE_SECONDS) / args.trigger_interval) + 10
    customers_load(workspace_id=workspace.pk, count=b_count, prefix=f"b_{phase.name}_")
    started = time.perf_counter()
    sql_run("VACUUM ANALYZE")
    sql_run("CHECKPOINT")
    phase.setup["vacuum"] = time.perf_counter() - started
    phase.setup["total"] = time.perf_counter() - setup_started

    redis_flush(args.redis_url)  # publishing queued a sweep; the phase starts empty
    broker = redis.Redis.from_url(args.redis_url)
    worker = processes.worker("worker", concurrency=args.concurrency)
    phase.worker_pid = worker.pid
    processes.beat()
    beat_started = time.time()
    wake = phase.wake_at.timestamp()
    phase.clock_start = max(wake, beat_started)
    phase.lead = wake - beat_started
    time.sleep(min(2.0, max(0.0, wake - time.time())))  # let the pool settle
    phase.rss_idle, phase.processes_in_tree = tree_rss_kib(worker.pid)
    phase.rss_peak = phase.rss_idle
    cpu_before = tree_cpu_seconds(worker.pid)
    print(
        f"   {phase.name}: setup {phase.setup['total']:.0f} s ({phase.runs:,} customers"
        f" {phase.setup['customers']:.1f} s, runs {phase.setup['runs']:.1f} s, VACUUM ANALYZE +"
        f" CHECKPOINT {phase.setup['vacuum']:.1f} s); the runs fall due {phase.lead:.1f} s after"
        f" beat started"
        + ("" if phase.lead >= 0 else " (setup overran: the clock starts at beat's start)")
    )
    sys.stdout.flush()

    deadline = phase.clock_start + args.timeout
    next_trigger = next_sample = time.time()
    number = 0
    previous = (phase.clock_start, 0)
    drained_at: float | None = None
    while True:
        now = time.time()
        if now >= next_trigger and drained_at is None:
            number += 1
            b_trigger(phase, number)
            next_trigger = max(next_trigger + args.trigger_interval, time.time())
        rss, _ = tree_rss_kib(worker.pid)
        phase.rss_peak = max(phase.rss_peak, rss)
        now = time.time()
        if now >= next_sample:
            received_sort(phase, sink)
            counts = a_counts(phase)
            queues = broker_queues(broker)
            finished = phase.runs - counts[0]
            phase.queue_peak = max(phase.queue_peak, sum(queues.values()))
            phase.lapsed_peak = max(phase.lapsed_peak, counts[2])
            if now >= phase.clock_start or finished:
                progress_print(phase, now, finished, previous, counts, queues)
                previous = (now, finished)
            if finished == phase.runs and drained_at is None:
                drained_at = now
            pending = [t for t in phase.triggers if t.outcome == "enrolled" and not t.received]
            if drained_at is not None and (not pending or now > drained_at + B_GRACE_SECONDS):
                break
            if now >= deadline:
                phase.timed_out = drained_at is None
                break
            next_sample += args.sample_interval
        wake = min(next_sample, time.time() + 1.0)
        if drained_at is None:
            wake = min(wake, next_trigger)
        time.sleep(max(0.05, wake - time.time()))
    phase.stopped = time.time()
    received_sort(phase, sink)
    phase.rss_end, _ = tree_rss_kib(worker.pid)
    phase.rss_peak = max(phase.rss_peak, phase.rss_end)
    phase.worker_cpu = tree_cpu_seconds(worker.pid) - cpu_before
    processes.stop("worker")
    processes.stop("beat")
    redis_flush(args.redis_url)
    time.sleep(1.0)
    received_sort(phase, sink)  # anything accepted while the worker shut down

    finished, last_finish = sql_one(
        "SELECT count(*) FILTER (WHERE state <> 'active'), extract(epoch FROM max(finished_at))"
        " FROM journeys_enrollment WHERE journey_id = %s",
        [phase.journeys.a_id],
    )
    phase.finished = finished
    phase.last_finish = float(last_finish) if last_finish is not None else None
    phase.steps_done = sql_one(
        "SELECT count(*) FROM journeys_steprun WHERE finished_at IS NOT NULL AND enrollment_id"
        " IN (SELECT id FROM journeys_enrollment WHERE journey_id = %s)",
        [phase.journeys.a_id],
    )[0]
    end = phase.last_finish if finished == phase.runs and phase.last_finish else phase.stopped
    phase.drain_seconds = end - phase.clock_start


# --- after a phase ----------------------------------------------------------------------------


def latency_line(label: str, triggers: list[Trigger], until: float) -> str:
    enrolled = [t for t in triggers if t.outcome == "enrolled"]
    if not enrolled:
        return f"{label}: no trigger"
    latencies = [min(t.received) - t.started for t in enrolled if t.received]
    missing = [t for t in enrolled if not t.received]
    text = f"{label}: {len(enrolled)} triggered"
    if latencies:
        text += (
            f", latency p50 {percentile(latencies, 0.5):.2f} s, p99"
            f" {percentile(latencies, 0.99):.2f} s, max {max(latencies):.2f} s"
        )
    if missing:
        ages = [until - t.started for t in missing]
        text += f"; {len(missing)} never received (waited {min(ages):.0f} to {max(ages):.0f} s)"
    return text


def b_during(phase: Phase) -> list[Trigger]:
    """B's triggers made while A drained: from the wake_at to A's last finish (or stop)."""
    end = phase.clock_start + phase.drain_seconds
    return [t for t in phase.triggers if phase.clock_start <= t.started <= end]


def b_p99(phase: Phase) -> float:
    """p99 of B's latency while A drained; a trigger never received counts as infinite."""
    enrolled = [t for t in b_during(phase) if t.outcome == "enrolled"]
    values = sorted(min(t.received) - t.started if t.received else math.inf for t in enrolled)
    if not values:
        return math.nan
    if values[math.ceil((len(values) - 1) * 0.99)] == math.inf:
        return math.inf
    return percentile(values, 0.99)


def checks_print(args: argparse.Namespace, phase: Phase) -> bool:
    """StepRuns of A's runs, B's e-mails vs triggers (and A's e-mails); True if all good."""
    keys, end_state = EXPECTED_A[args.mode]
    # Per run of A: its visits, the highest visit number, and how many are one of its
    # steps' first visit, finished; then counted by the run's state.
    by_state = _fetchall(
        "WITH per_run AS (SELECT s.enrollment_id, count(*) AS visits,"
        "  max(s.visit) AS max_visit, count(*) FILTER (WHERE s.visit = 1"
        "   AND s.finished_at IS NOT NULL AND s.step_key = ANY(%s)) AS good"
        "  FROM journeys_steprun s JOIN journeys_enrollment e ON e.id = s.enrollment_id"
        "  WHERE e.journey_id = %s GROUP BY s.enrollment_id)"
        " SELECT e.state, count(*),"
        "  count(*) FILTER (WHERE p.visits = %s AND p.good = %s),"
        "  count(*) FILTER (WHERE p.max_visit > 1 OR p.visits > %s)"
        " FROM journeys_enrollment e LEFT JOIN per_run p ON p.enrollment_id = e.id"
        " WHERE e.journey_id = %s GROUP BY e.state ORDER BY e.state",
        [list(keys), phase.journeys.a_id, len(keys), len(keys), len(keys), phase.journeys.a_id],
    )
    good = True
    exact = sum(row[2] for row in by_state if row[0] == end_state)
    too_many = sum(row[3] for row in by_state)
    finished = sum(row[1] for row in by_state if row[0] != "active")
    states = ", ".join(f"{state} {count:,}" for state, count, _, _ in by_state)
    verdict = "ok" if exact == finished and not too_many else "FAILED"
    good &= verdict == "ok"
    print(
        f"      check A: runs by state: {states}; {exact:,} of {finished:,} finished runs"
        f" {end_state} with exactly their StepRuns ({', '.join(keys)}: each once, visit 1);"
        f" {too_many:,} runs with more visits than expected: {verdict}"
    )
    if verdict != "ok":
        examples = _fetchall(
            "SELECT e.public_id, e.state, string_agg(s.step_key || '#' || s.visit || ':'"
            " || s.outcome, ', ' ORDER BY s.id) FROM journeys_enrollment e"
            " JOIN journeys_steprun s ON s.enrollment_id = e.id WHERE e.journey_id = %s"
            " GROUP BY e.id HAVING (e.state <> 'active' AND (count(*) <> %s OR e.state <> %s))"
            " OR max(s.visit) > 1 OR count(*) > %s LIMIT 5",
            [phase.journeys.a_id, len(keys), end_state, len(keys)],
        )
        for run_id, state, visits in examples:
            print(f"         e.g. {run_id} ({state}): {visits}")
    enrolled = [t for t in phase.triggers if t.outcome == "enrolled"]
    received = sum(len(t.received) for t in enrolled)
    duplicates = sum(len(t.received) - 1 for t in enrolled if len(t.received) > 1)
    missing = sum(1 for t in enrolled if not t.received)
    sent = sql_one(
        "SELECT count(*) FROM delivery_message m JOIN journeys_steprun s ON s.message_id = m.id"
        " JOIN journeys_enrollment e ON e.id = s.enrollment_id"
        " WHERE e.journey_id = %s AND m.status = 'sent'",
        [phase.journeys.b_id],
    )[0]
    outcomes: dict[str, int] = {}
    for trigger in phase.triggers:
        outcomes[trigger.outcome] = outcomes.get(trigger.outcome, 0) + 1
    verdict = "ok" if not duplicates and outcomes.get("error", 0) == 0 else "FAILED"
    good &= verdict == "ok"
    print(
        f"      check B: {len(phase.triggers)} triggers ({outcomes}); {received} e-mails"
        f" received for {len(enrolled)} enrolled ({duplicates} duplicates, {missing} missing);"
        f" {sent} Messages sent: {verdict}"
    )
    if phase.trigger_errors:
        print(f"      first trigger error: {phase.trigger_errors[0]}")
    if args.mode == "email":
        counts = phase.a_received
        a_received = sum(counts)
        a_duplicates = sum(count - 1 for count in counts if count > 1)
        completed = sum(row[1] for row in by_state if row[0] == "completed")
        verdict = "ok" if not a_duplicates and a_received == completed else "FAILED"
        good &= verdict == "ok"
        print(
            f"      check A e-mails: {a_received:,} received for {completed:,} runs completed"
            f" ({a_duplicates:,} duplicates): {verdict}"
        )
    if phase.stray_received:
        print(f"      {phase.stray_received} e-mails to recipients of no trigger or run")
    sys.stdout.flush()
    return good


def _fetchall(statement: str, params: list) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def phase_print(args: argparse.Namespace, phase: Phase) -> None:
    unfinished = phase.runs - phase.finished
    until = (
        f"to the last run's finish {phase.drain_seconds:.1f} s after the wake_at"
        if not unfinished
        else f"in {phase.drain_seconds:.0f} s, when the phase stopped"
    )
    print(
        f"   {phase.name}: {phase.finished:,} of {phase.runs:,} runs of A finished {until}"
        + (f"; {unfinished:,} UNFINISHED at the {args.timeout:.0f} s timeout" if unfinished else "")
    )
    per_run = f"{phase.worker_cpu / phase.finished * 1e3:.2f} ms" if phase.finished else "n/a"
    print(
        f"      A drained at {phase.runs_per_second:,.0f} runs/s, {phase.steps_per_second:,.0f}"
        f" steps/s ({phase.steps_done:,} StepRuns finished); worker CPU {per_run} per run of A"
        f" ({phase.worker_cpu:.0f} s in all); peak broker queues {phase.queue_peak:,} messages,"
        f" peak runs with a lapsed lease {phase.lapsed_peak:,}"
    )
    before = [t for t in phase.triggers if t.started < phase.clock_start]
    calls = [t.call_seconds for t in phase.triggers]
    print("      B " + latency_line("while A drained", b_during(phase), phase.stopped))
    print("      B " + latency_line("before the wake_at (idle)", before, phase.stopped))
    if calls:
        print(
            f"      B trigger call (this process): p50 {percentile(calls, 0.5) * 1e3:.1f} ms,"
            f" p99 {percentile(calls, 0.99) * 1e3:.1f} ms, max {max(calls) * 1e3:.1f} ms"
        )
    print(
        f"      worker RSS ({phase.processes_in_tree} processes): idle {phase.rss_idle / 1024:.1f}"
        f" MiB, peak {phase.rss_peak / 1024:.1f} MiB, end {phase.rss_end / 1024:.1f} MiB"
    )
    sys.stdout.flush()


def summary_print(steady: Phase, burst: Phase) -> None:
    ratio = burst.runs_per_second / steady.runs_per_second if steady.finished else math.nan
    verdict = "meets" if ratio >= TARGET_RATE_RATIO else "MISSES"
    note = " (the burst phase timed out: its rate so far)" if burst.timed_out else ""
    print(
        f"drain rate: burst {burst.runs_per_second:,.0f} runs/s ({burst.runs:,} due at once),"
        f" steady {steady.runs_per_second:,.0f} runs/s ({steady.runs:,}): ratio {ratio:.2f}"
        f" ({verdict} >= {TARGET_RATE_RATIO:g}){note}"
    )
    for phase in (steady, burst):
        p99 = b_p99(phase)
        verdict = "meets" if p99 <= TARGET_B_P99_SECONDS else "MISSES"
        shown = f"{p99:.2f} s" if p99 != math.inf else "unbounded (e-mails never received)"
        print(
            f"B latency while A drained ({phase.name}): p99 {shown}"
            f" ({verdict} p99 <= {TARGET_B_P99_SECONDS:g} s)"
        )
    ratio = burst.rss_peak / max(steady.rss_peak, 1)
    verdict = "meets" if ratio <= TARGET_RSS_RATIO else "MISSES"
    print(
        f"worker RSS peak: steady {steady.rss_peak / 1024:.1f} MiB, burst"
        f" {burst.rss_peak / 1024:.1f} MiB: ratio {ratio:.3f} ({verdict} <= {TARGET_RSS_RATIO:g}x,"
        f" flat); burst end/idle {burst.rss_end / max(burst.rss_idle, 1):.3f}x"
    )
    print(
        f"unfinished runs of A: steady {steady.runs - steady.finished:,},"
        f" burst {burst.runs - burst.finished:,}"
    )
    sys.stdout.flush()


def main() -> None:
    args = parse_args()
    banner(
        "burst: a campaign's runs due at once, transactional sends beside it",
        [
            f"A ({args.mode}): {args.steady_runs:,} then {args.runs:,} runs due at once; B"
            f" triggered every {args.trigger_interval:g} s; worker --concurrency"
            f" {args.concurrency}, beat sweeping every second; timeout {args.timeout:.0f} s"
            f" per phase",
        ],
    )
    started = time.perf_counter()
    sink = Sink()  # forked before Django is set up: the sink holds no connections
    try:
        with scratch_services(
            database=args.database,
            redis_url=args.redis_url,
            keep=args.keep,
            EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
            EMAIL_TIMEOUT="30",
        ) as (_env, processes):
            from customers.models import Workspace

            workspace = Workspace.objects.create(name="Burst bench")
            phases = [Phase("steady", args.steady_runs), Phase("burst", args.runs)]
            all_good = True
            for phase in phases:
                phase_run(args, processes, sink, phase, workspace)
                phase_print(args, phase)
                all_good &= checks_print(args, phase)
            summary_print(*phases)
            print(f"checks: {'all passed' if all_good else 'SOME FAILED (see above)'}")
    finally:
        sink.stop()
        with contextlib.suppress(OSError):
            sink.path.unlink()
            sink.path.parent.rmdir()
    print(f"   total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
