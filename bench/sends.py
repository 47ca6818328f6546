"""E-mail sends: messages per second through the engine vs a bare smtplib loop, same sink.

What it measures
    A local SMTP sink (aiosmtpd ``Controller`` in a forked subprocess) counts the
    messages it accepts and the times of the first and the last; every rate below is
    messages / (last - first) as the sink saw them, so all paths are timed alike. Each
    path's sender CPU per message is printed too (the bare senders' own, the worker's
    process tree for the engine; PostgreSQL's not counted).

    * ``bare x1``: one ``smtplib.SMTP`` connection sending ``--messages`` messages
      (default 3,000) in a loop, each shaped like the engine's (same headers, one
      recipient, a short body): the floor for one sender on one connection.
    * ``bare x2``: the same count split over 2 processes with a connection each. If
      this is not clearly faster than ``bare x1``, the sink itself is the bottleneck.
    * ``engine``: ``--messages`` runs of a live one-step journey (``send`` e-mail,
      Liquid subject and body), enrolled with the bulk path
      (``journeys.entry.core.journey_enroll``) and walked by a real ``celery -A config
      worker`` (prefork, ``--concurrency``, default 2, hence 2 SMTP connections) fed by
      a real ``celery -A config beat``, with ``EMAIL_URL=smtp://127.0.0.1:<port>``.
      Each message costs the engine its idempotency record (a Message row written
      and committed before the send) and its StepRun.

    With the controls on (the default; ``--no-controls`` leaves them out), the journey's
    send names a subscription topic of its workspace, which also has a frequency cap
    on e-mail (high enough to let every message through, so every send is counted),
    1,000 suppressed addresses and a subscription row for every other customer: each
    message then passes the whole send gate (suppression, consent, the cap's per-customer
    lock and count) and carries its signed List-Unsubscribe headers.

    ``--rounds`` (default 3) repeats the three and prints medians, and the median of
    each round's ratio engine / bare x1 (target >= 0.5). Then it walks
    ``--profile-runs`` runs in this process against the same sink, in batches as a
    worker does, and prints SQL statements per run, time in SQL and a cProfile summary.

How to run (from the project root; needs the local PostgreSQL and Redis)
    .venv/bin/python bench/sends.py                       # 3 x 3,000 messages
    .venv/bin/python bench/sends.py --messages 500 --rounds 1   # quick look

Options
    --messages N        messages per path and round (default 3,000)
    --rounds R          rounds of bare x1, bare x2 and engine (default 3)
    --concurrency C     worker pool size (default 2)
    --profile-runs P    runs walked in-process for the profile (default 100; 0 skips)
    --database NAME     scratch database, dropped and re-created (journeys_bench_sends)
    --redis-url URL     broker and cache, flushed at start and end (redis://127.0.0.1:6379/2)
    --timeout S         give up on a phase after S seconds (default 600)
    --keep              leave the scratch database in place at the end
    --no-controls       measure without topics, suppressions and a frequency cap
"""

import argparse
import multiprocessing
import smtplib
import socket
import statistics
import sys
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_support import (
    DEFAULT_REDIS_URL,
    Processes,
    banner,
    scratch_services,
    walks_profile,
)
from bench.scratch import (
    customers_load,
    journey_publish,
    sql_one,
    sql_run,
    tree_cpu_seconds,
)

TARGET_RATIO = 0.5
FROM = "journeys@localhost"
STEPS = [
    {"key": "mail", "type": "send", "channel": "email",
     "subject": "Hello {{ customer.external_id }}",
     "body": "Hi {{ customer.external_id }}, your code is {{ api.payload.promo }}.", "next": None},
]  # fmt: skip
_fork = multiprocessing.get_context("fork")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--profile-runs", type=int, default=100)
    parser.add_argument("--database", default="journeys_bench_sends")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--no-controls", dest="controls", action="store_false",
        help="no topic, suppressions, subscriptions or frequency cap",
    )  # fmt: skip
    return parser.parse_args()


# --- the sink ---------------------------------------------------------------------------


class Sink:
    """aiosmtpd in a forked process; counters in shared memory."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.count = _fork.Value("q", 0)
        self.first = _fork.Value("d", 0.0, lock=False)
        self.last = _fork.Value("d", 0.0, lock=False)
        ready = _fork.Event()
        self.process = _fork.Process(
            target=_sink_serve, args=(self.port, self.count, self.first, self.last, ready),
            daemon=True,
        )  # fmt: skip
        self.process.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("the SMTP sink did not start")

    def reset(self) -> None:
        with self.count.get_lock():
            self.count.value = 0
            self.first.value = 0.0
            self.last.value = 0.0

    def received(self) -> int:
        return self.count.value

    def rate(self) -> tuple[float, float]:
        """(messages per second, seconds) between the first and the last message."""
        with self.count.get_lock():
            count, seconds = self.count.value, self.last.value - self.first.value
        return (count - 1) / seconds if seconds > 0 else float("nan"), seconds

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count.value >= count:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)


def _sink_serve(port: int, count: Any, first: Any, last: Any, ready: Any) -> None:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            now = time.time()
            with count.get_lock():
                count.value += 1
                if not first.value:
                    first.value = now
                last.value = now
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


# --- bare smtplib ---------------------------------------------------------------------------


def bare_send(port: int, start: int, count: int, cpu: Any) -> None:
    """``count`` messages over one connection, shaped like the engine's; adds the CPU
    seconds it used to ``cpu``."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for number in range(start, start + count):
            to = f"bare{number}@example.com"
            message = (
                'Content-Type: text/plain; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
                "Content-Transfer-Encoding: 7bit\r\n"
                f"Subject: Hello bare{number}\r\nFrom: {FROM}\r\nTo: {to}\r\n"
                f"Date: {formatdate(localtime=False)}\r\n"
                f"Message-ID: <run_{number:032x}.mail.1@journeys>\r\n\r\n"
                f"Hi bare{number}, your code is SPRING.\r\n"
            )
            smtp.sendmail(FROM, [to], message)
    with cpu.get_lock():
        cpu.value += time.process_time()


def bare_round(sink: Sink, messages: int, connections: int) -> tuple[float, float, float]:
    """(messages/s, seconds, sender CPU seconds per message) of the bare loop."""
    sink.reset()
    share = messages // connections
    cpu = _fork.Value("d", 0.0)
    senders = [
        _fork.Process(target=bare_send, args=(sink.port, index * share, share, cpu))
        for index in range(connections)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
        if sender.exitcode:
            raise RuntimeError(f"a bare sender failed (exit code {sender.exitcode})")
    assert sink.received() == share * connections, sink.received()
    return (*sink.rate(), cpu.value / (share * connections))


# --- the engine -------------------------------------------------------------------------


def journey_with_controls(args: argparse.Namespace, name: str, count: int, prefix: str) -> Any:
    """The bench journey, its customers and, with ``--controls``, its workspace's topic,
    frequency cap, suppressions and subscriptions (see the module docstring)."""
    from customers.models import Workspace
    from delivery.models import FrequencyCap, Subscription, Suppression, Topic

    workspace = Workspace.objects.create(name=name)
    steps = STEPS
    if args.controls:
        Topic.objects.create(workspace=workspace, key="news", name="Newsletter")
        steps = [{**STEPS[0], "topic": "news"}]
    published = journey_publish(name=name, steps=steps, workspace=workspace)
    customers_load(workspace_id=workspace.pk, count=count, prefix=prefix)
    if args.controls:
        FrequencyCap.objects.create(
            workspace=workspace, channel="email", limit=100, period_seconds=7 * 86400
        )
        Suppression.objects.bulk_create(
            Suppression(workspace=workspace, address=f"gone{i}@example.com", reason="hard_bounce")
            for i in range(1_000)
        )
        customers = workspace.customers.order_by("id").values_list("id", flat=True)
        Subscription.objects.bulk_create(
            Subscription(workspace=workspace, customer_id=customer_id, topic="news",
                         subscribed=True, source="api")
            for customer_id in customers[::2]
        )  # fmt: skip
    return published


def engine_round(
    args: argparse.Namespace, sink: Sink, processes: Processes, number: int
) -> tuple[float, float, float]:
    """(messages/s, seconds, worker CPU seconds per message) through the engine."""
    from customers.models import Customer
    from journeys.entry.core import journey_enroll

    workspace, journey, version = journey_with_controls(
        args, f"Sends bench {number}", args.messages, f"r{number}_"
    )
    sql_run("VACUUM ANALYZE")
    sink.reset()
    result = journey_enroll(
        journey=journey,
        version=version,
        customers=Customer.objects.filter(workspace=workspace),
        payload={"promo": "SPRING"},
    )
    assert result.enrolled_count == args.messages, result.outcomes
    processes.beat()
    worker = processes.worker("worker", concurrency=args.concurrency)
    cpu_before = tree_cpu_seconds(worker.pid)
    done = sink.wait_for(args.messages, timeout=args.timeout)
    rate, seconds = sink.rate()
    cpu = (tree_cpu_seconds(worker.pid) - cpu_before) / max(sink.received(), 1)
    if not done:
        raise RuntimeError(f"{sink.received()} of {args.messages} messages after {args.timeout} s")
    # The last batch records its runs' completion just after its last message is accepted.
    deadline = time.monotonic() + 30
    while True:
        completed, sent = sql_one(
            "SELECT (SELECT count(*) FROM journeys_enrollment WHERE journey_id = %s"
            "        AND state = 'completed'),"
            " (SELECT count(*) FROM delivery_message WHERE workspace_id = %s AND status = 'sent')",
            [journey.pk, workspace.pk],
        )
        if completed == args.messages or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    processes.stop("worker")
    processes.stop("beat")
    if completed != args.messages or sent != args.messages or sink.received() != args.messages:
        print(
            f"   !! {completed} runs completed, {sent} messages sent,"
            f" {sink.received()} received (expected {args.messages} each)"
        )
    return rate, seconds, cpu


def profile(args: argparse.Namespace) -> None:
    from customers.models import Customer
    from journeys.entry.core import journey_enroll

    workspace, journey, version = journey_with_controls(
        args, "Sends bench profile", args.profile_runs, "p_"
    )
    journey_enroll(
        journey=journey,
        version=version,
        customers=Customer.objects.filter(workspace=workspace),
        payload={"promo": "SPRING"},
    )
    run_ids = list(journey.enrollments.values_list("pk", flat=True))
    walks_profile(run_ids, label="one e-mail send per run")


def main() -> None:
    args = parse_args()
    banner(
        "sends: e-mails/s through the engine vs a bare smtplib loop, one local SMTP sink",
        [
            f"{args.messages:,} messages per path, {args.rounds} round(s); worker"
            f" --concurrency {args.concurrency}; sink: aiosmtpd in its own process",
            "controls: "
            + (
                "a topic, a frequency cap, 1,000 suppressions, subscriptions (every"
                " message passes the send gate and carries List-Unsubscribe)"
                if args.controls
                else "none (--no-controls)"
            ),
        ],
    )
    started = time.perf_counter()
    sink = Sink()  # forked before Django is set up: the sink holds no connections
    rates: dict[str, list[float]] = {"bare x1": [], "bare x2": [], "engine": []}
    cpus: dict[str, list[float]] = {"bare x1": [], "bare x2": [], "engine": []}
    try:
        with scratch_services(
            database=args.database,
            redis_url=args.redis_url,
            keep=args.keep,
            EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
            EMAIL_TIMEOUT="30",
        ) as (_env, processes):
            for number in range(1, args.rounds + 1):
                measured = {
                    "bare x1": bare_round(sink, args.messages, 1),
                    "bare x2": bare_round(sink, args.messages, 2),
                    "engine": engine_round(args, sink, processes, number),
                }
                line = []
                for name, (rate, seconds, cpu) in measured.items():
                    rates[name].append(rate)
                    cpus[name].append(cpu)
                    line.append(f"{name} {rate:,.0f}/s ({seconds:.2f} s, {cpu * 1e3:.2f} ms CPU)")
                print(f"   round {number}: " + ", ".join(line))
                sys.stdout.flush()

            medians = {name: statistics.median(values) for name, values in rates.items()}
            label = "median " if args.rounds > 1 else ""
            cpu = {name: statistics.median(values) * 1e3 for name, values in cpus.items()}
            print(
                f"engine:  {label}{medians['engine']:,.0f} e-mails/s ({args.concurrency} worker"
                f" processes; worker CPU {cpu['engine']:.2f} ms per e-mail, sender's"
                f" {cpu['bare x1']:.2f} ms in the bare loop)"
            )
            print(f"bare x1: {label}{medians['bare x1']:,.0f} e-mails/s (one smtplib connection)")
            print(f"bare x2: {label}{medians['bare x2']:,.0f} e-mails/s (two connections)")
            # Each round's ratio pairs measurements taken a few seconds apart; the machine's
            # speed drifts between rounds, so the median of those is the figure.
            paired = zip(rates["engine"], rates["bare x1"], strict=True)
            ratios = [engine / bare for engine, bare in paired]
            ratio = statistics.median(ratios)
            verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
            each = ", ".join(f"{value:.2f}" for value in ratios)
            print(
                f"ratio:   engine/bare x1 = {label}{ratio:.2f} per round ({each});"
                f" {verdict} the target >= {TARGET_RATIO:g}"
            )
            scaling = medians["bare x2"] / medians["bare x1"]
            if scaling < 1.3:
                print(
                    f"   the sink is the bottleneck: two connections reach only {scaling:.2f}x"
                    " one connection's rate"
                )
            else:
                print(
                    f"   the sink is not the bottleneck of the bare loop: two connections reach"
                    f" {scaling:.2f}x one connection's rate"
                )
            sys.stdout.flush()
            if args.profile_runs:
                profile(args)
    finally:
        sink.stop()
    print(f"   total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
