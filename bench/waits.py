"""wait_for_event at scale: the time from an event to the e-mail of the run it wakes, with
100,000 runs waiting, against the time from an event to the first e-mail of a run it
newly triggers, measured in the same run at the same rate.

What it measures
    Set-up: a scratch database ``journeys_bench_waits`` (dropped and re-created), Redis
    db 10 (flushed), a workspace with an unthrottled key, ``--runs`` customers
    ``user_1..N`` and the baseline's customers ``ping_1..``, all with e-mails, an SMTP
    sink (``bench/burst.py``'s) that ``EMAIL_URL`` points the worker at, and two live
    journeys:

    * W, the abandoned cart (an API journey): ``wait_for_event`` "Order Completed" with
      the condition ``event.properties.cart_id eq value_from data.cart_id``, timeout 7
      days; matched -> an e-mail whose subject names the cart; timed out -> exit.
    * B, the baseline: triggered by the event "Bench Ping", one e-mail step.

    1. Parking. Every ``user_n`` enters W with its own payload ``{"cart_id": "cart-n"}``
       through the entry core (``journey_enroll(..., payloads=...)``, 10,000 customers a
       statement), then a real Celery worker (``--worker-concurrency``) and beat start
       and walk the runs to the wait. Printed: the entry's time; every 10 s, how many
       runs are at the wait (an open visit of it whose outcome is ``waiting``); once all
       are parked (that, on ``wait`` and not leased), the time from the worker's launch
       to the last run's visit of the wait, and from the first visit to the last (the
       walks alone), in runs/s. The progress poll is kept light (every 2 s, the visits
       only), lest it take the worker's CPU: polling the runs-and-visits join twice a
       second cut the rate by a third on this 2-core machine.
    2. The wait lookup of matching, in this process and read-only in effect:
       ``waits_wake_for`` (what the event stream's matching calls per batch) for
       "Order Completed" events of one customer and of 10,000 customers, each of another
       cart, so it finds the runs, evaluates their conditions and wakes none (inside a
       transaction rolled back all the same).
    3. Latency, through gunicorn (``bench.settings``, 2 sync workers, as
       ``bench/events.py`` serves) with the worker and beat of part 1: first, 20 tracks
       of "Order Completed" for waiting customers, each with another customer's cart;
       then ``--events`` single tracks through ``/compat/segment/v1/track``, one every
       ``1/--rate`` s, alternating: an "Order Completed" with the cart of a waiting
       customer picked at random (each once), which wakes that run, and a "Bench Ping"
       of a ``ping_`` customer (each once), which triggers B. Latency = the e-mail's
       arrival at the sink - the moment the request began, by recipient.
       Printed: for woken and baseline, e-mails arrived of events sent, p50/p90/p99/max;
       the ratios woken/baseline of p50 and p99; the woken runs that took the matched
       path; and who the other carts' orders woke: e-mails to those customers, and their
       runs whose row changed at all (PostgreSQL's ``xmin``: a wake, a claim or a walk
       writes it).

    Figures only: nothing is asserted.

How to run (from the project root; needs the local PostgreSQL and Redis)
    .venv/bin/python bench/waits.py
    .venv/bin/python bench/waits.py --runs 5000 --events 40       # quick

Options
    --runs N              customers waiting on their cart's order (default 100,000)
    --events N            tracks sent for the latency part, half each (default 200)
    --rate R              tracks per second in the latency part (default 10)
    --worker-concurrency  Celery worker processes (default 2)
    --park-timeout S      give up waiting for the runs to park after S s (default 3600)
    --database NAME       scratch database (journeys_bench_waits)
    --redis-url URL       cache and broker, flushed (redis://127.0.0.1:6379/10)
    --keep                keep the scratch database
"""

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.burst import Sink
from bench.engine_support import banner, percentile, scratch_services
from bench.events import arrivals_wait, latency_report, tracks_send
from bench.scratch import (
    customers_load,
    journey_publish,
    sql_one,
    vacuum_analyze,
    workspace_with_key,
)
from bench.trigger import free_port, gunicorn_start, gunicorn_stop, health_wait

ORDER = "Order Completed"
PING = "Bench Ping"
WAIT_SECONDS = 7 * 24 * 3600
CART_STEPS = [
    {"key": "wait", "type": "wait_for_event", "event": ORDER,
     "condition": {"field": "event.properties.cart_id", "op": "eq",
                   "value_from": "data.cart_id"},
     "timeout_seconds": WAIT_SECONDS, "matched": "thanks", "timeout": "gone"},
    {"key": "thanks", "type": "send", "channel": "email",
     "subject": "Thanks for cart {{ data.cart_id }}",
     "body": "Order {{ event.properties.order_id }}", "next": None},
    {"key": "gone", "type": "exit"},
]  # fmt: skip
PING_DOCUMENT = {
    "name": "Bench Ping",
    "trigger": {"type": "event", "event": PING},
    "entry": {"allow_reentry": True},
    "steps": [
        {"key": "mail", "type": "send", "channel": "email",
         "subject": "Ping {{ event.properties.n }}", "body": "Pong", "next": None},
    ],
}  # fmt: skip
ENROLL_CHUNK = 10_000
WRONG_CARTS = 20
PROGRESS_SECONDS = 10.0
#: As ``bench/events.py`` serves: 2 sync gunicorn workers.
SERVER = SimpleNamespace(workers=2, worker_class="sync", server_threads=1)
#: Parked: on the wait, not leased, and its visit of the wait open and waiting.
PARKED_SQL = (
    "SELECT count(*) FROM journeys_enrollment AS e WHERE e.journey_id = %s"
    " AND e.state = 'active' AND e.current_step = 'wait' AND e.lease_token IS NULL"
    " AND EXISTS (SELECT 1 FROM journeys_steprun AS s WHERE s.enrollment_id = e.id"
    "  AND s.step_key = 'wait' AND s.finished_at IS NULL AND s.outcome = 'waiting')"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--park-timeout", type=float, default=3600.0)
    parser.add_argument("--database", default="journeys_bench_waits")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


# --- data -----------------------------------------------------------------------------


def journeys_make(workspace: Any) -> Any:
    """W (the abandoned cart, an API journey) and B (triggered by "Bench Ping"); answers W."""
    from journeys.authoring.services import journey_import
    from journeys.authoring.services import journey_publish as publish

    _, cart, _ = journey_publish(name="Abandoned cart", steps=CART_STEPS, workspace=workspace)
    publish(journey=journey_import(workspace=workspace, document=PING_DOCUMENT))
    return cart


def customer_pks(workspace_id: int, prefix: str) -> dict[int, int]:
    """``<prefix>n`` customers' pks by n."""
    from customers.models import Customer

    return {
        int(external_id[len(prefix) :]): pk
        for pk, external_id in Customer.objects.filter(
            workspace_id=workspace_id, external_id__startswith=prefix
        ).values_list("pk", "external_id")
    }


def runs_enroll(journey: Any, pks: dict[int, int]) -> int:
    """Every customer into W with its own cart, ``ENROLL_CHUNK`` a statement."""
    from customers.db import in_values
    from customers.models import Customer
    from journeys.entry.core import journey_enroll

    numbers = sorted(pks)
    enrolled = 0
    for start in range(0, len(numbers), ENROLL_CHUNK):
        payloads = {pks[n]: {"cart_id": f"cart-{n}"} for n in numbers[start : start + ENROLL_CHUNK]}
        result = journey_enroll(
            journey=journey,
            version=journey.live_version,
            customers=Customer.objects.filter(in_values(Customer, "pk", list(payloads))),
            payload={},
            payloads=payloads,
        )
        enrolled += result.enrolled_count
    return enrolled


# --- parking --------------------------------------------------------------------------------


def parking_wait(journey_id: int, runs: int, timeout: float) -> int:
    """Poll every 2 s until ``runs`` runs of W are parked (or ``timeout`` s); a progress
    line every 10 s. Answers how many are parked.

    The poll counts the open waiting visits of the step ``wait`` (W's alone has that
    key), one scan of the visits, and checks the runs (``PARKED_SQL``, which scans the
    runs as well) only once they are all there: polled often, that join would take a
    good part of this 2-core machine from the worker it measures."""
    started = last_time = time.perf_counter()
    last_count, next_line = 0, started + PROGRESS_SECONDS
    while True:
        time.sleep(2.0)
        visits = sql_one(
            "SELECT count(*) FROM journeys_steprun WHERE step_key = 'wait'"
            " AND finished_at IS NULL AND outcome = 'waiting'"
        )[0]
        now = time.perf_counter()
        if visits >= runs:
            parked = sql_one(PARKED_SQL, [journey_id])[0]
            if parked >= runs:
                return parked
        if now - started > timeout:
            return sql_one(PARKED_SQL, [journey_id])[0]
        if now >= next_line:
            print(
                f"   {now - started:5.0f} s  {visits:>9,} of {runs:,} at the wait"
                f"  ({(visits - last_count) / (now - last_time):6,.0f} runs/s over the last"
                f" {now - last_time:.0f} s)",
                flush=True,
            )
            last_time, last_count = now, visits
            next_line = now + PROGRESS_SECONDS


# --- the wait lookup ----------------------------------------------------------------------------


def wait_lookup_measure(pks: dict[int, int]) -> None:
    """``waits_wake_for`` for other carts' orders: one customer (median of 20), and 10,000."""
    from django.db import transaction

    from journeys.engine.event_waits import Arrival, waits_wake_for

    def arrivals(numbers: list[int]) -> list[Arrival]:
        now = datetime.now(UTC)
        return [
            Arrival(pks[n], ORDER, now, {"name": ORDER, "properties": {"cart_id": "cart-none"},
                                         "timestamp": now.isoformat(), "message_id": None})
            for n in numbers
        ]  # fmt: skip

    def timed(numbers: list[int]) -> tuple[float, int]:
        batch = arrivals(numbers)
        with transaction.atomic():
            started = time.perf_counter()
            woken = waits_wake_for(batch)
            elapsed = time.perf_counter() - started
            transaction.set_rollback(True)
        return elapsed, len(woken)

    rng = random.Random(7)
    numbers = sorted(pks)
    singles = [timed([n]) for n in rng.sample(numbers, 20)]
    batch_seconds, batch_woken = timed(rng.sample(numbers, min(10_000, len(numbers))))
    print(
        f"wait lookup of matching (waits_wake_for, another cart's order, wakes none):"
        f" 1 customer {statistics.median(s for s, _ in singles) * 1000:.1f} ms (median of 20),"
        f" {min(10_000, len(numbers)):,} customers {batch_seconds * 1000:.0f} ms"
        f" (woken: {sum(w for _, w in singles) + batch_woken})",
        flush=True,
    )


# --- latency ----------------------------------------------------------------------------------


def rows_version(customer_ids: list[int], journey_id: int) -> dict[int, str]:
    """Each of these customers' W run: its row's ``xmin`` (changes with any write)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, xmin::text FROM journeys_enrollment"
            " WHERE journey_id = %s AND customer_id = ANY(%s)",
            [journey_id, customer_ids],
        )
        return dict(cursor.fetchall())


def latency_measure(args, port: int, key: str, sink: Sink, journey: Any, pks: dict) -> None:
    from journeys.models import StepRun

    woken_count = (args.events + 1) // 2
    rng = random.Random(12)
    chosen = rng.sample(sorted(pks), woken_count + WRONG_CARTS)
    woken, wrong = chosen[:woken_count], chosen[woken_count:]

    # Other carts' orders first: each customer of ``wrong`` gets the next one's cart.
    before = rows_version([pks[n] for n in wrong], journey.pk)
    decoys = [
        {"userId": f"user_{n}", "event": ORDER, "messageId": f"decoy-{i}",
         "properties": {"cart_id": f"cart-{wrong[(i + 1) % len(wrong)]}", "order_id": f"D-{i}"}}
        for i, n in enumerate(wrong)
    ]  # fmt: skip
    decoy_sends = tracks_send(port, key, decoys, args.rate)
    time.sleep(3.0)  # time enough for a wrongly woken run to send

    messages = []
    for number in range(args.events):
        if number % 2 == 0:
            n = woken[number // 2]
            messages.append(
                {"userId": f"user_{n}", "event": ORDER, "messageId": f"order-{number}",
                 "properties": {"cart_id": f"cart-{n}", "order_id": f"O-{number}"}}
            )  # fmt: skip
        else:
            messages.append(
                {"userId": f"ping_{number // 2 + 1}", "event": PING,
                 "messageId": f"ping-{number}", "properties": {"n": number}}
            )  # fmt: skip
    sends = tracks_send(port, key, messages, args.rate)
    arrived: dict[str, float] = {}
    arrivals_wait(sink, arrived, [to for to, _, _ in sends], timeout=30)
    arrivals_wait(sink, arrived, [], timeout=0)  # whatever else came meanwhile
    sink.process.kill()  # SIGTERM would print the interrupt it becomes here

    print()
    woken_sends = [send for send in sends if send[0].startswith("user_")]
    base_sends = [send for send in sends if send[0].startswith("ping_")]
    woken_latencies = latency_report(
        f"woken: {ORDER} -> e-mail of the run it wakes ({args.runs:,} waiting)",
        woken_sends,
        arrived,
    )
    base_latencies = latency_report(
        f"baseline: {PING} -> first e-mail of the run it triggers", base_sends, arrived
    )
    if woken_latencies and base_latencies:
        for label, fraction in (("p50", 0.5), ("p99", 0.99)):
            ratio = percentile(woken_latencies, fraction) / percentile(base_latencies, fraction)
            print(f"ratio woken/baseline {label}: {ratio:.2f}")
    matched = StepRun.objects.filter(
        enrollment__journey=journey,
        enrollment__customer_id__in=[pks[n] for n in woken],
        step_key="wait",
        outcome="matched",
    ).count()
    print(f"woken runs that took the matched path: {matched} of {len(woken)}")
    after = rows_version([pks[n] for n in wrong], journey.pk)
    touched = sum(1 for pk, version in before.items() if after.get(pk) != version)
    mailed = sum(1 for to, _, _ in decoy_sends if to in arrived)
    statuses = sorted({status for _, _, status in decoy_sends})
    print(
        f"woken by another cart's order: {mailed}"
        f" ({len(decoy_sends)} customers sent another cart's order, HTTP {statuses}:"
        f" {mailed} e-mails, {touched} runs whose row changed)"
    )


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    pings = args.events // 2 + 1
    banner(
        "wait_for_event: event -> woken waiting run -> e-mail, against a newly triggered run",
        [f"{args.runs:,} runs waiting, {args.events} tracks at {args.rate:g}/s,"
         f" worker concurrency {args.worker_concurrency}"],
    )  # fmt: skip
    with scratch_services(
        database=args.database,
        redis_url=args.redis_url,
        keep=args.keep,
        RATELIMIT_TRIGGER_PER_MINUTE="1000000",
        RATELIMIT_DEFAULT_PER_MINUTE="1000000",
    ) as (env, processes):
        workspace, key = workspace_with_key("Waits bench")
        customers_load(workspace_id=workspace.pk, count=args.runs)
        customers_load(workspace_id=workspace.pk, count=pings, prefix="ping_")
        journey = journeys_make(workspace)
        pks = customer_pks(workspace.pk, "user_")
        vacuum_analyze()

        started = time.perf_counter()
        enrolled = runs_enroll(journey, pks)
        elapsed = time.perf_counter() - started
        print(
            f"entry: {enrolled:,} runs with their own carts in {elapsed:.1f} s"
            f" ({enrolled / elapsed:,.0f} runs/s, {ENROLL_CHUNK:,} a statement)",
            flush=True,
        )
        vacuum_analyze()

        sink = Sink()
        processes.env = {**env, "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}"}
        print("parking: the worker walks the runs to the wait", flush=True)
        launched = time.time()
        processes.worker("worker", concurrency=args.worker_concurrency)
        boot = time.time() - launched
        processes.beat()
        parked = parking_wait(journey.pk, enrolled, args.park_timeout)
        first, last = sql_one(
            "SELECT min(s.started_at), max(s.started_at) FROM journeys_steprun AS s"
            " JOIN journeys_enrollment AS e ON e.id = s.enrollment_id"
            " WHERE e.journey_id = %s AND s.step_key = 'wait'",
            [journey.pk],
        )
        elapsed = last.timestamp() - launched
        walks = (last - first).total_seconds()
        print(
            f"parked {parked:,} of {enrolled:,} runs in {elapsed:.1f} s, from the worker's launch"
            f" to the last run's visit of the wait ({parked / elapsed:,.0f} runs/s; it answered"
            f" a ping after {boot:.1f} s)"
            + ("" if parked >= enrolled else f"; gave up after {args.park_timeout:g} s"),
            flush=True,
        )
        print(
            f"   the walks alone, first to last visit of the wait: {walks:.1f} s"
            f" ({parked / walks if walks else float('nan'):,.0f} runs/s)",
            flush=True,
        )
        vacuum_analyze()
        wait_lookup_measure(pks)

        port = free_port()
        server = gunicorn_start(SERVER, port)
        try:
            health_wait(server, port)
            latency_measure(args, port, key, sink, journey, pks)
        finally:
            gunicorn_stop(server)
        errors = [line for line in processes.log("worker").splitlines() if "ERROR" in line]
        print(
            f"worker log: {len(errors)} ERROR lines" + (f", first: {errors[0]}" if errors else "")
        )


if __name__ == "__main__":
    main()
