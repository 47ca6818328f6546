"""Bulk entry: a static segment enrolled through the trigger API vs a raw INSERT ... SELECT.

What it measures
    The time to enroll every member of one static segment (default 1,000,000 customers)
    into a live, once-ever, API-triggered journey, two ways, in the same run:

    * ``raw``: one ``INSERT INTO journeys_enrollment ... SELECT ... FROM
      segments_segmentmembership`` writing the same columns the entry core writes: the
      floor PostgreSQL sets for creating that many runs;
    * ``api``: ``POST /api/v1/workspaces/{ws}/journeys/{jrn}/trigger`` with
      ``{"segment_ids": [seg]}`` through the whole Django stack in-process
      (``django.test.Client``: middleware, API-key auth, Redis rate limit, view, entry
      core, commit).

    First, right after the customers and the segment are loaded (autovacuum off for
    those tables, so nothing has analyzed them: the state after any import), one API
    trigger: ``fresh``. Then everything is analyzed and the rounds begin.

    The runs table is truncated and checkpointed before every run, and the two alternate
    for several rounds. It prints each time, the medians, the API/raw ratio (target <= 2),
    the fresh trigger's time against the API median (target <= 2: the entry
    statement's plan must not rest on statistics), and the process's RSS before, during
    (peak) and after each API call: the entry core
    keeps the audience in SQL, so memory must not grow with the segment. Counts are
    checked (every member enrolled); times never are. Each run also prints the CPU this
    process and its PostgreSQL backends used, and what the rest of the machine used
    meanwhile: a run slowed by other work shows it there.

    With ``--explain always`` (or ``auto`` when the ratio is above 2) it captures the
    statements the API call runs and prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the heavy
    ones, replayed in a transaction that is rolled back.

How to run (from the project root; needs the local PostgreSQL and Redis)
    .venv/bin/python bench/bulk_entry.py                      # 1,000,000 customers
    .venv/bin/python bench/bulk_entry.py --customers 50000 --rounds 1   # quick look

Options
    --customers N      segment size (default 1,000,000)
    --rounds R         raw/API pairs (default 3)
    --database NAME    scratch database, dropped and re-created (default journeys_bench_bulk)
    --redis-url URL    rate-limit cache and Celery broker; no worker consumes the entry
                       core's kick (default redis://127.0.0.1:6379/10, cleared at start)
    --explain MODE     auto | always | never (default auto: only when API/raw > 2)
    --enrollment-stats none | analyzed (default none). Before each run the runs table is
                       truncated, which leaves it without statistics, as on a fresh
                       install. ``analyzed`` then VACUUM ANALYZEs the empty table, as a
                       routine maintenance run would: the planner then believes the table
                       stays empty and checks each candidate's runs with a Seq Scan. That
                       is only safe while every candidate is classified before the first
                       run is inserted; if inserts interleave with classification, each
                       scan reads the rows inserted so far and the API path turns
                       quadratic. Run this mode with a small --customers after changing
                       the entry core.
    --keep             leave the scratch database in place at the end (default: drop it)
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import (
    WELCOME_STEPS,
    CpuWindow,
    code_version,
    customers_load,
    database_backends,
    django_start,
    journey_publish,
    machine_load,
    scratch_database_create,
    scratch_database_drop,
    sql_run,
    vacuum_analyze,
    workspace_with_key,
)

PAYLOAD = {"promo": "SPRING"}
TARGET_RATIO = 2.0
#: The bulk trigger right after a load (no statistics) vs after ANALYZE.
TARGET_FRESH_RATIO = 2.0
EXPLAINABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


@dataclass(frozen=True)
class Fixture:
    """The ids both paths need: public ones for the URL, primary keys for the raw SQL."""

    workspace_pk: int
    workspace_id: str
    journey_pk: int
    journey_id: str
    version_pk: int
    start_step: str
    segment_pk: int
    segment_id: str
    raw_key: str


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default="journeys_bench_bulk")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--explain", choices=["auto", "always", "never"], default="auto")
    parser.add_argument("--enrollment-stats", choices=["none", "analyzed"], default="none")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


# --- memory ---------------------------------------------------------------------------


def rss_mib() -> float:
    """Resident set size now (``/proc/self/statm``), in MiB."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """``ru_maxrss`` (KiB on Linux): the peak since start or since :func:`peak_rss_reset`."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_reset() -> bool:
    """Reset the peak to the current RSS (Linux ``clear_refs`` 5) to measure one window."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


# --- data -----------------------------------------------------------------------------


def segment_load(*, workspace, count: int):
    """One static segment whose members are all ``count`` customers, by one INSERT."""
    from segments.models import Segment

    segment = Segment.objects.create(workspace=workspace, name="Everyone", kind="static")
    inserted = sql_run(
        "INSERT INTO segments_segmentmembership (segment_id, customer_id, added_at)"
        " SELECT %s, id, now() FROM customers_customer WHERE workspace_id = %s",
        [segment.pk, workspace.pk],
    )
    assert inserted == count, f"segment has {inserted} members, expected {count}"
    return segment


#: The tables a bulk trigger reads and writes; a fresh load leaves them without statistics.
LOADED_TABLES = ("customers_customer", "segments_segmentmembership", "journeys_enrollment")


def fixture_build(count: int) -> Fixture:
    """Workspace, key, ``count`` customers, a segment of all of them and a live journey,
    loaded with autovacuum off for the loaded tables: nothing has analyzed them yet."""
    for table in LOADED_TABLES:
        sql_run(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    workspace, raw_key = workspace_with_key("Bulk bench")
    customers_load(workspace_id=workspace.pk, count=count)
    segment = segment_load(workspace=workspace, count=count)
    _, journey, _ = journey_publish(name="Bench", steps=WELCOME_STEPS, workspace=workspace)
    return Fixture(
        workspace_pk=workspace.pk,
        workspace_id=workspace.public_id,
        journey_pk=journey.pk,
        journey_id=journey.public_id,
        version_pk=journey.live_version.pk,
        start_step=journey.live_version.definition["start"],
        segment_pk=segment.pk,
        segment_id=segment.public_id,
        raw_key=raw_key,
    )


def enrollments_reset(*, analyze: bool) -> None:
    """Empty the runs table and leave no dirty pages from the last run to flush.

    TRUNCATE also forgets the table's statistics (``reltuples = -1``), the state of a
    fresh install. ``analyze`` then records "empty" instead (what a routine VACUUM
    ANALYZE of an empty or nearly empty table leaves), which changes the entry core's
    INSERT plan: see ``--enrollment-stats``.
    """
    sql_run("TRUNCATE journeys_enrollment CASCADE")
    if analyze:
        vacuum_analyze("journeys_enrollment")
    sql_run("CHECKPOINT")


def enrollments_count(fixture: Fixture) -> int:
    from journeys.models import Enrollment

    return Enrollment.objects.filter(journey_id=fixture.journey_pk).count()


# --- the two paths --------------------------------------------------------------------


def raw_insert(fixture: Fixture) -> tuple[float, int]:
    """The floor: the entry core's INSERT columns straight from the memberships (public
    ids made by the same SQL as the entry core's)."""
    from customers.ids import public_id_sql
    from journeys.entry.core import run_context

    context = json.dumps(run_context(payload=PAYLOAD))
    statement = (
        "INSERT INTO journeys_enrollment (public_id, workspace_id, journey_id, version_id,"
        " customer_id, state, current_step, wake_at, context, exit_reason, error, entered_at)"
        f" SELECT {public_id_sql('run')}, %s, %s, %s,"
        " m.customer_id, 'active', %s, now(), %s::jsonb, '', '', now()"
        " FROM segments_segmentmembership AS m WHERE m.segment_id = %s"
    )
    params = [
        fixture.workspace_pk,
        fixture.journey_pk,
        fixture.version_pk,
        fixture.start_step,
        context,
        fixture.segment_pk,
    ]
    started = time.perf_counter()
    inserted = sql_run(statement, params)
    return time.perf_counter() - started, inserted


def trigger_url(fixture: Fixture) -> str:
    return f"/api/v1/workspaces/{fixture.workspace_id}/journeys/{fixture.journey_id}/trigger"


def api_client(fixture: Fixture):
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {fixture.raw_key}")


def api_trigger(client, fixture: Fixture) -> tuple[float, int]:
    """One bulk trigger through the full stack; returns (seconds, enrolled_count)."""
    body = json.dumps({"segment_ids": [fixture.segment_id], "payload": PAYLOAD})
    started = time.perf_counter()
    response = client.post(trigger_url(fixture), data=body, content_type="application/json")
    elapsed = time.perf_counter() - started
    assert response.status_code == 202, (response.status_code, response.content[:500])
    return elapsed, response.json()["enrolled_count"]


# --- rounds and report ----------------------------------------------------------------


@dataclass
class Timings:
    raw: list[float]
    api: list[float]
    peak_rss: float
    fresh: float = 0.0


def rounds_run(
    fixture: Fixture, *, rounds: int, count: int, analyze: bool, database: str
) -> Timings:
    """Alternate raw / API on an emptied table, printing each run as it finishes."""
    client = api_client(fixture)
    timings = Timings(raw=[], api=[], peak_rss=peak_rss_mib())
    cpu = CpuWindow(lambda: [os.getpid(), *database_backends(database)])
    for number in range(1, rounds + 1):
        enrollments_reset(analyze=analyze)
        cpu.start()
        seconds, inserted = raw_insert(fixture)
        cpu.stop()
        assert inserted == count == enrollments_count(fixture), (inserted, count)
        timings.raw.append(seconds)
        print(
            f"round {number}  raw  {seconds:8.2f} s  inserted {inserted:,}  ({cpu.describe()})",
            flush=True,
        )

        enrollments_reset(analyze=analyze)
        timings.peak_rss = max(timings.peak_rss, peak_rss_mib())
        windowed = peak_rss_reset()
        before = rss_mib()
        cpu.start()
        seconds, enrolled = api_trigger(client, fixture)
        cpu.stop()
        after = rss_mib()
        during = max(peak_rss_mib(), after)  # the kernel updates the peak lazily
        timings.peak_rss = max(timings.peak_rss, during)
        assert enrolled == count == enrollments_count(fixture), (enrolled, count)
        timings.api.append(seconds)
        peak_text = f"peak during {during:.1f} MiB" if windowed else "peak n/a"
        print(
            f"round {number}  api  {seconds:8.2f} s  enrolled {enrolled:,}  ({cpu.describe()})\n"
            f"               RSS before {before:.1f} MiB, after {after:.1f} MiB, {peak_text}",
            flush=True,
        )
    return timings


def fresh_trigger(fixture: Fixture, *, count: int) -> float:
    """The bulk trigger right after the load, before any ANALYZE (as after an import);
    then autovacuum back on and the statistics gathered, for the rounds."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_user_tables WHERE relname = ANY(%s)"
            " AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)",
            [list(LOADED_TABLES)],
        )
        (analyzed,) = cursor.fetchone()
    assert analyzed == 0, "the fresh load has statistics already"
    seconds, enrolled = api_trigger(api_client(fixture), fixture)
    assert enrolled == count == enrollments_count(fixture), (enrolled, count)
    print(f"fresh load, no ANALYZE  api  {seconds:8.2f} s  enrolled {enrolled:,}", flush=True)
    for table in LOADED_TABLES:
        sql_run(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
    vacuum_analyze()
    return seconds


def summary_print(timings: Timings, *, count: int) -> float:
    raw = statistics.median(timings.raw)
    api = statistics.median(timings.api)
    ratio = api / raw
    verdict = "within" if ratio <= TARGET_RATIO else "ABOVE"
    print()
    print(f"customers            {count:,}")
    print(f"raw INSERT median    {raw:8.2f} s   ({count / raw:,.0f} runs/s)")
    print(f"API trigger median   {api:8.2f} s   ({count / api:,.0f} runs/s)")
    print(f"ratio API/raw        {ratio:8.2f}     ({verdict} target <= {TARGET_RATIO:g})")
    fresh_ratio = timings.fresh / api
    verdict = "within" if fresh_ratio <= TARGET_FRESH_RATIO else "ABOVE"
    print(
        f"API, fresh load       {timings.fresh:8.2f} s   {fresh_ratio:.2f}x the analyzed median"
        f" ({verdict} target <= {TARGET_FRESH_RATIO:g})"
    )
    print(f"peak RSS (ru_maxrss) {timings.peak_rss:8.1f} MiB (whole process, incl. data load)")
    return ratio


# --- investigation --------------------------------------------------------------------


def entry_statements_capture(fixture: Fixture, *, analyze: bool) -> list[dict]:
    """Run one API trigger with the query log on; return its statements with times."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    enrollments_reset(analyze=analyze)
    with CaptureQueriesContext(connection) as captured:
        api_trigger(api_client(fixture), fixture)
    return list(captured.captured_queries)


def explain_print(statements: list[dict], *, analyze: bool) -> None:
    """EXPLAIN ANALYZE each statement over 1% of the call, in order, then roll back."""
    from django.db import connection, transaction

    total = sum(float(s["time"]) for s in statements)
    print(f"\nstatements of one API trigger ({total:.2f} s in SQL):")
    for s in statements:
        print(f"  {float(s['time']):8.3f} s  {s['sql'][:110]}")
    heavy = [
        s["sql"]
        for s in statements
        if float(s["time"]) > 0.01 * total and s["sql"].lstrip().upper().startswith(EXPLAINABLE)
    ]
    enrollments_reset(analyze=analyze)
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in heavy:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            print(f"\nEXPLAIN ANALYZE {sql[:300]}{'...' if len(sql) > 300 else ''}")
            for (line,) in cursor.fetchall():
                print(f"  {line}")
        transaction.set_rollback(True)


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    print(code_version())
    print(machine_load())
    database_url = scratch_database_create(args.database)
    django_start(database_url=database_url, redis_url=args.redis_url)
    from django.core.cache import cache

    cache.clear()
    print(f"loading {args.customers:,} customers into {args.database} ...", flush=True)
    load_started = time.perf_counter()
    fixture = fixture_build(args.customers)
    print(f"loaded in {time.perf_counter() - load_started:.1f} s; RSS {rss_mib():.1f} MiB\n")
    try:
        fresh = fresh_trigger(fixture, count=args.customers)
        analyze = args.enrollment_stats == "analyzed"
        timings = rounds_run(
            fixture,
            rounds=args.rounds,
            count=args.customers,
            analyze=analyze,
            database=args.database,
        )
        timings.fresh = fresh
        ratio = summary_print(timings, count=args.customers)
        if args.explain == "always" or (args.explain == "auto" and ratio > TARGET_RATIO):
            statements = entry_statements_capture(fixture, analyze=analyze)
            explain_print(statements, analyze=analyze)
    finally:
        if not args.keep:
            scratch_database_drop(args.database)
    print(f"\n{machine_load()}")
    print(f"total run time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
