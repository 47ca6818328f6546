"""The entry core: every trigger path (native API, dialects, events, bulk) enrolls here.

Given a journey's live version and a *set* of customers (a queryset, never a Python
list), it applies the entry rules and creates the runs in a handful of SQL statements,
however many customers the set holds:

1. one SELECT that classifies every candidate (``verdict``) and counts the verdicts;
2. with re-entry and ``restart_active``, one UPDATE that exits the active runs being
   replaced;
3. one ``INSERT ... SELECT ... ON CONFLICT ... DO NOTHING`` that creates the runs.

What the runs carry from the trigger is the same for every one of them: the context
and the cancellation key, the journey's Liquid rendered once per entry from the
payload (a template compiled once per version), so a million runs share one rendered
value as one parameter of the INSERT.

Concurrency is decided by the database, not by reading first: the partial unique index
``enrollment_one_active_per_customer``, the INSERT's only arbiter, makes a concurrent
duplicate's INSERT wait for the first transaction and then conflict, so parallel
identical triggers create exactly one run. Any candidate that was eligible when
classified but lost such a race is reported as ``already_enrolled``.

The verdict's CASE is ordered so that step 2 cannot change it: it depends on the
conditions, the entry count, recent completions and, last, whether a run is active.

A trigger may give each customer a payload of its own (``payloads``, the Spotzee
dialect's per-user ``data``): the INSERT still writes every run at once, picking each
run's context (and its cancellation key, rendered from its own payload) out of one
JSON parameter by customer id, and entry conditions that read the payload are compiled
once per distinct answer they give, not once per customer.
An event-triggered entry gives each customer the event that brought them too
(``events``): conditions read it as ``event``, and it is kept in the run's context.
"""

import contextlib
import functools
import json
import logging
import operator
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from customers.db import in_subquery_once
from customers.ids import public_id_sql
from customers.models import Customer
from delivery.services import CompiledTemplate, TemplateRenderError, template_compile
from journeys.engine import tasks
from journeys.engine.exits import runs_exit
from journeys.models import Enrollment, Journey, JourneyVersion
from journeys.spec import EntryRules
from segments.conditions import condition_evaluate, condition_to_q

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What a trigger did for one customer; the values are the API's ``status``."""

    ENROLLED = "enrolled"
    ALREADY_ENROLLED = "already_enrolled"
    RECENTLY_COMPLETED = "recently_completed"
    MAX_ENTRIES_REACHED = "max_entries_reached"
    CONDITIONS_NOT_MET = "conditions_not_met"


#: Verdicts of the classifying SELECT that lead to a new run.
_RESTART = "restart"
#: ``exit_reason`` of a run replaced by a new entry of its customer (``restart_active``).
RESTARTED_REASON = "restarted"
_ENROLLABLE = (Outcome.ENROLLED.value, _RESTART)


class NewRun(NamedTuple):
    pk: int
    public_id: str


@dataclass
class EntryResult:
    """Counts per outcome, and, when asked for (``return_runs``), each new run's id and
    each candidate's outcome by customer pk."""

    outcomes: Counter = field(default_factory=Counter)
    restarted: int = 0
    runs: dict[int, "NewRun"] = field(default_factory=dict)
    by_customer: dict[int, Outcome] = field(default_factory=dict)
    #: With ``report``: each candidate that was not enrolled, by customer pk, and why
    #: (a bulk entry's: no row travels back for those who were).
    not_enrolled: dict[int, Outcome] = field(default_factory=dict)

    @property
    def enrolled_count(self) -> int:
        return self.outcomes[Outcome.ENROLLED]

    def count(self, outcome: Outcome) -> int:
        return self.outcomes[outcome]


def run_context(
    *,
    payload: dict,
    profile: dict | None = None,
    tenant_id: str | None = None,
    event: dict | None = None,
) -> dict:
    """What a run carries from its trigger; templates see it as ``api.payload``, ``data``...
    and, when an event brought the customer in, ``event``."""
    context = {"payload": payload, "profile": profile or {}, "tenant_id": tenant_id, "steps": {}}
    if event is not None:
        context["event"] = event
    return context


def entry_constants(*, payload: dict, event: dict | None = None) -> dict:
    """The part of a condition's context that is the same for every candidate.

    The payload under ``api.payload``, ``api.properties`` and ``data``, and each of its
    top-level keys by name (as templates see them); the named roots win a clash. The
    event that triggered the entry, if one did, as ``event``.
    """
    constants = {**payload, "api": {"payload": payload, "properties": payload}, "data": payload}
    if event is not None:
        constants["event"] = event
    return constants


#: ``Enrollment.cancellation_key``'s length: a longer rendered key is no key.
CANCELLATION_KEY_MAX_LENGTH = Enrollment._meta.get_field("cancellation_key").max_length


def cancellation_key_render(*, version: JourneyVersion, payload: dict) -> str | None:
    """The key a run of ``version`` entered with ``payload`` can be cancelled by, or None.

    The journey's template reads the trigger only (publishing checks that it names
    nothing else), so one render serves every run of an entry. A key that cannot be
    rendered (a value missing from the payload) or that comes out blank or longer than
    the column leaves the runs without one (a key is stripped, as the cancel APIs strip
    theirs): they run as usual and can be cancelled by
    id, and the trigger is not refused for it (a payload may lack any field, as the
    Courier seed says).
    """
    template = _cancellation_key_template(version)
    if template is None:
        return None
    try:
        key = template.render(entry_constants(payload=payload)).strip()
    except TemplateRenderError as error:
        logger.warning("no cancellation key for runs of %s: %s", version, error)
        return None
    if not key or len(key) > CANCELLATION_KEY_MAX_LENGTH:
        logger.warning("no cancellation key for runs of %s: it is %d characters", version, len(key))
        return None
    return key


def _cancellation_key_template(version: JourneyVersion) -> CompiledTemplate | None:
    """The version's cancellation key template, compiled once and kept on the (cached,
    immutable) version; None when the journey has none."""
    kept = version.__dict__
    if "_cancellation_key_template" not in kept:
        source = version.spec.cancellation_key
        template = None
        if source:
            try:
                template = template_compile(source)
            except TemplateRenderError as error:  # publishing refuses such a template
                logger.warning("the cancellation key of %s does not compile: %s", version, error)
        kept["_cancellation_key_template"] = template
    return kept["_cancellation_key_template"]


def _verdict(
    *,
    journey: Journey,
    rules: EntryRules,
    now: datetime,
    constants: dict,
    payloads: Mapping[int, dict] | None = None,
    events: Mapping[int, dict] | None = None,
) -> Case:
    """The CASE expression that classifies one candidate customer (see module docstring)."""
    runs = Enrollment.objects.filter(journey_id=journey.pk, customer_id=OuterRef("pk"))
    whens: list[When] = []
    if rules.single_entry:
        # Once ever: a run that is active or that completed blocks a new one. Runs that
        # failed or were exited do not, so a customer can be sent through again. One
        # probe: an active run is among the blocking ones.
        blocking = [Enrollment.State.ACTIVE, Enrollment.State.COMPLETED]
        whens.append(
            When(
                Exists(runs.filter(state__in=blocking)), then=Value(Outcome.ALREADY_ENROLLED.value)
            )
        )
    else:
        if rules.max_entries_per_customer is not None:
            # The seed: "fewer *completed* entries than the maximum". A run that is
            # active, exited or failed is not an entry the customer has had.
            completed = runs.filter(state=Enrollment.State.COMPLETED)
            entries = Subquery(
                completed.order_by().values("customer_id").annotate(n=Count("*")).values("n")
            )
            reached = GreaterThanOrEqual(Coalesce(entries, 0), rules.max_entries_per_customer)
            whens.append(When(reached, then=Value(Outcome.MAX_ENTRIES_REACHED.value)))
        if rules.reentry_cooldown_seconds:
            since = now - timedelta(seconds=rules.reentry_cooldown_seconds)
            recent = runs.filter(state=Enrollment.State.COMPLETED, finished_at__gt=since)
            whens.append(When(Exists(recent), then=Value(Outcome.RECENTLY_COMPLETED.value)))
        # Last, an active run: replaced by the new entry (restart_active) or kept.
        kept = _RESTART if rules.restarts_active else Outcome.ALREADY_ENROLLED.value
        whens.append(When(Exists(runs.filter(state=Enrollment.State.ACTIVE)), then=Value(kept)))
    rule_verdict = Case(*whens, default=Value(Outcome.ENROLLED.value), output_field=CharField())
    if not rules.conditions:
        return rule_verdict
    # A condition that is false *or unknown* (NULL) means "not met": keep it in WHEN.
    if payloads is None:
        met = condition_to_q(rules.conditions, constants=constants)
    else:
        met = _conditions_met_each(rules.conditions, payloads, events or {})
    return Case(
        When(met, then=rule_verdict),
        default=Value(Outcome.CONDITIONS_NOT_MET.value),
        output_field=CharField(),
    )


def _conditions_met_each(
    conditions: dict, payloads: Mapping[int, dict], events: Mapping[int, dict]
) -> Q:
    """Entry conditions for customers that each bring a payload of their own.

    A leaf on the payload folds to true or false per customer, so customers whose
    payload leaves give the same answers share one compiled condition: one group when no
    leaf reads the payload (or all payloads agree), at most two per leaf otherwise.
    """
    leaves = list(_payload_leaves(conditions))
    groups: dict[tuple[bool, ...], list[int]] = defaultdict(list)
    for customer_pk, payload in payloads.items():
        constants = entry_constants(payload=payload, event=events.get(customer_pk))
        groups[tuple(condition_evaluate(leaf, constants) for leaf in leaves)].append(customer_pk)
    compiled = [
        (
            pks,
            condition_to_q(
                conditions,
                constants=entry_constants(payload=payloads[pks[0]], event=events.get(pks[0])),
            ),
        )
        for pks in groups.values()
    ]
    if len(compiled) == 1:
        return compiled[0][1]
    return functools.reduce(operator.or_, (Q(pk__in=pks) & met for pks, met in compiled))


def _payload_leaves(node: dict) -> Iterator[dict]:
    """The leaves of a (valid) condition that read the trigger, not the customer."""
    if "not" in node:
        yield from _payload_leaves(node["not"])
    elif "all" in node or "any" in node:
        for child in node["all"] if "all" in node else node["any"]:
            yield from _payload_leaves(child)
    elif node["field"].split(".", 1)[0] != "customer":
        yield node


def _json_param_sql() -> str:
    return "%s::jsonb" if connection.vendor == "postgresql" else "%s"


def journey_enroll(
    *,
    journey: Journey,
    version: JourneyVersion,
    customers: QuerySet[Customer] | None = None,
    customer_pk: int | None = None,
    payload: dict[str, Any],
    payloads: Mapping[int, dict[str, Any]] | None = None,
    events: Mapping[int, dict[str, Any]] | None = None,
    profile: dict[str, Any] | None = None,
    tenant_id: str | None = None,
    return_runs: bool = False,
    report: bool = False,
    rules: EntryRules | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> EntryResult:
    """Enroll every customer of ``customers`` (or the one ``customer_pk``) that the
    entry rules admit.

    ``customers`` must yield each customer at most once (filter with ``pk__in``
    subqueries rather than joins). ``payloads`` gives customers a payload of their own
    (by customer pk; then every customer of ``customers`` must have one), which takes
    the place of ``payload`` in their entry conditions and their run's context; with it,
    ``events`` may give each the event that triggered their entry (``event`` there).
    ``return_runs`` asks for the new runs' ids and each candidate's outcome, which
    single triggers answer with; bulk entry leaves it off so no rows travel back.
    ``report`` asks instead who was not enrolled and why (``not_enrolled``), for callers
    that answer per customer: only those rows travel back. ``rules`` replaces the
    version's entry rules for this entry (a dialect's own rules). ``dry_run`` only
    classifies: the counts say what an entry now would do, and nothing is written.
    """
    if return_runs and report:
        raise TypeError("ask for the new runs or for the report, not both")
    now = now or timezone.now()
    rules = rules or version.spec.entry
    candidates = _Candidates(
        journey=journey,
        version=version,
        rules=rules,
        customers=customers,
        customer_pk=customer_pk,
        now=now,
        constants=entry_constants(payload=payload),
        payloads=payloads,
        events=events,
    )
    if dry_run:
        return _classify_only(candidates.queryset, by_customer=return_runs, report=report)
    batch = _RunBatch(
        journey=journey,
        version=version,
        context=run_context(payload=payload, profile=profile, tenant_id=tenant_id),
        cancellation_key=cancellation_key_render(version=version, payload=payload),
        now=now,
        contexts=None
        if payloads is None
        else {
            pk: run_context(
                payload=own,
                profile=profile,
                tenant_id=tenant_id,
                event=events.get(pk) if events else None,
            )
            for pk, own in payloads.items()
        },
        cancellation_keys=None
        if payloads is None or _cancellation_key_template(version) is None
        else {
            pk: cancellation_key_render(version=version, payload=own)
            for pk, own in payloads.items()
        },
    )
    result = EntryResult()
    # One statement is atomic on its own; the restart UPDATE and SQLite's two
    # statements need a transaction around them.
    one_statement = connection.vendor == "postgresql" and not rules.restarts_active
    with contextlib.nullcontext() if one_statement else transaction.atomic():
        if rules.restarts_active:
            result.restarted = _runs_restart(journey, candidates.queryset, now)
        if report:
            tallies, result.not_enrolled = _enroll_reporting(candidates, batch)
            verdicts = {}
        elif connection.vendor == "postgresql":
            tallies, result.runs, verdicts = _enroll_in_one_statement(
                candidates, batch, return_runs
            )
        else:
            tallies, result.runs, verdicts = _enroll_in_two_statements(
                candidates, batch, return_runs
            )
    for customer_id, verdict in verdicts.items():
        if customer_id in result.runs:
            result.by_customer[customer_id] = Outcome.ENROLLED
        elif verdict in _ENROLLABLE:  # lost a race, as below
            result.by_customer[customer_id] = Outcome.ALREADY_ENROLLED
        else:
            result.by_customer[customer_id] = Outcome(verdict)
    for verdict, candidate_count, inserted_count in tallies:
        result.outcomes[Outcome.ENROLLED] += inserted_count
        if verdict in _ENROLLABLE:
            # Lost a race to a concurrent trigger: the unique index said no.
            result.outcomes[Outcome.ALREADY_ENROLLED] += candidate_count - inserted_count
        else:
            result.outcomes[Outcome(verdict)] += candidate_count
    if result.enrolled_count:
        _kick_after_commit(result, bulk=not return_runs)
    return result


class _Candidates:
    """The customers an entry classifies, each with its verdict: a queryset for the ORM's
    statements (counts, restarts) and the SQL the INSERT reads from.

    A single trigger names one customer, and compiling the classifying query through the
    ORM costs more CPU than running it. So for one customer, when no entry condition
    reads the payload into the SQL, the compiled statement is kept on the (cached,
    immutable) version and only its customer and time parameters change per call.
    """

    def __init__(
        self,
        *,
        journey: Journey,
        version: JourneyVersion,
        rules: EntryRules | None = None,
        customers: QuerySet[Customer] | None = None,
        customer_pk: int | None = None,
        now: datetime,
        constants: dict,
        payloads: Mapping[int, dict] | None = None,
        events: Mapping[int, dict] | None = None,
    ) -> None:
        if (customers is None) == (customer_pk is None):
            raise TypeError("name the candidates by customers or by customer_pk, not both")
        self.journey, self.version, self.now, self.constants = journey, version, now, constants
        self.rules = rules or version.spec.entry
        self.customers = customers
        self.customer_pk = customer_pk
        self.payloads = payloads
        self.events = events

    @functools.cached_property
    def queryset(self) -> QuerySet[Customer]:
        customers = self.customers
        if customers is None:
            customers = Customer.objects.filter(pk=self.customer_pk)
        return customers.order_by().annotate(
            verdict=_verdict(
                journey=self.journey,
                rules=self.rules,
                now=self.now,
                constants=self.constants,
                payloads=self.payloads,
                events=self.events,
            )
        )

    def source_sql(self) -> tuple[str, list[Any]]:
        """``SELECT id, verdict`` of the candidates."""
        # The kept statement is the version's own rules compiled: not for other rules.
        if (
            self.customer_pk is not None
            and self.payloads is None
            and self.rules == self.version.spec.entry
            and not self.rules.conditions
        ):
            template = _one_customer_template(self.journey, self.version)
            if template is not None:
                return template.sql, template.params(customer_pk=self.customer_pk, now=self.now)
        sql, params = self.queryset.values("id", "verdict").query.sql_with_params()
        return sql, list(params)


#: Stand-ins compiled into a kept statement, found again among its parameters.
_MARKER_PK = -7_319_053_346_827_113
_MARKER_NOW = datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)


@dataclass(frozen=True)
class _OneCustomerTemplate:
    sql: str
    base_params: tuple[Any, ...]
    pk_slots: tuple[int, ...]
    since_slots: tuple[int, ...]
    cooldown: timedelta

    def params(self, *, customer_pk: int, now: datetime) -> list[Any]:
        params = list(self.base_params)
        for slot in self.pk_slots:
            params[slot] = customer_pk
        if self.since_slots:
            since = connection.ops.adapt_datetimefield_value(now - self.cooldown)
            for slot in self.since_slots:
                params[slot] = since
        return params


def _one_customer_template(
    journey: Journey, version: JourneyVersion
) -> "_OneCustomerTemplate | None":
    """The classifying statement for one customer of ``version``, compiled once per
    database vendor and kept on the version; None if it cannot be kept (then every call
    compiles it)."""
    kept = version.__dict__.setdefault("_one_customer_templates", {})
    if connection.vendor not in kept:
        kept[connection.vendor] = _one_customer_template_build(journey, version)
    return kept[connection.vendor]


def _one_customer_template_build(
    journey: Journey, version: JourneyVersion
) -> "_OneCustomerTemplate | None":
    rules = version.spec.entry
    cooldown = timedelta(seconds=rules.reentry_cooldown_seconds)
    queryset = (
        Customer.objects.filter(pk=_MARKER_PK)
        .order_by()
        .annotate(verdict=_verdict(journey=journey, rules=rules, now=_MARKER_NOW, constants={}))
    )
    sql, params = queryset.values("id", "verdict").query.sql_with_params()
    marker_since = _MARKER_NOW - cooldown
    since_values = {marker_since, connection.ops.adapt_datetimefield_value(marker_since)}
    pk_slots = tuple(i for i, value in enumerate(params) if _same(value, _MARKER_PK))
    since_slots = tuple(
        i for i, value in enumerate(params) if any(_same(value, s) for s in since_values)
    )
    # Each stand-in must be where it was put, once; otherwise compile per call.
    if len(pk_slots) != 1 or len(since_slots) != (1 if rules.reentry_cooldown_seconds else 0):
        return None
    return _OneCustomerTemplate(sql, tuple(params), pk_slots, since_slots, cooldown)


def _same(value: Any, marker: Any) -> bool:
    return type(value) is type(marker) and value == marker


def _classify_only(
    candidates: QuerySet[Customer], *, by_customer: bool = False, report: bool = False
) -> EntryResult:
    """What :func:`journey_enroll` would do: the verdicts counted (and, ``by_customer``,
    each candidate's outcome; ``report``, those that would not be enrolled), nothing
    written.

    A concurrent trigger may still take a customer between this answer and a real
    entry; the real entry then reports that customer as ``already_enrolled``.
    """
    result = EntryResult()
    if report:
        result.not_enrolled = {
            pk: Outcome(verdict)
            for pk, verdict in candidates.exclude(verdict__in=_ENROLLABLE).values_list(
                "pk", "verdict"
            )
        }
    if by_customer:
        verdicts = dict(candidates.values_list("id", "verdict"))
        counts = dict(Counter(verdicts.values()))
    else:
        verdicts, counts = {}, _verdict_counts(candidates)
    for customer_id, verdict in verdicts.items():
        enrollable = verdict in _ENROLLABLE
        result.by_customer[customer_id] = Outcome.ENROLLED if enrollable else Outcome(verdict)
    for verdict, count in counts.items():
        if verdict in _ENROLLABLE:
            result.outcomes[Outcome.ENROLLED] += count
            if verdict == _RESTART:
                result.restarted += count
        else:
            result.outcomes[Outcome(verdict)] += count
    return result


def _verdict_counts(candidates: QuerySet[Customer]) -> dict[str, int]:
    return dict(candidates.values_list("verdict").annotate(n=Count("pk")))


def _runs_restart(journey: Journey, candidates: QuerySet[Customer], now: datetime) -> int:
    """Exit the active runs that a new entry replaces (``restart_active``)."""
    replaced = Enrollment.objects.filter(
        in_subquery_once("customer_id", candidates.filter(verdict=_RESTART).values("pk")),
        journey_id=journey.pk,
        state=Enrollment.State.ACTIVE,
    )
    return runs_exit(journey=journey, runs=replaced, reason=RESTARTED_REASON, finished_at=now)


def _kick_after_commit(result: EntryResult, *, bulk: bool) -> None:
    """Start the new runs' first steps now instead of at the next sweep: those the
    trigger knows by id; a bulk entry's are left to the sweep."""
    tasks.runs_kick_after_commit(None if bulk else [run.pk for run in result.runs.values()])


#: The INSERT's arbiter: ``enrollment_one_active_per_customer`` alone, the index that
#: decides races. A clash on another unique index (the primary key, a public id) is an
#: error rather than a lost race, and the INSERT checks no other index before writing.
_ONE_ACTIVE_RUN = f"(journey_id, customer_id) WHERE state = '{Enrollment.State.ACTIVE.value}'"


@dataclass(frozen=True)
class _RunBatch:
    """What every run created by one entry shares: the INSERT's constant columns; and
    the context and cancellation key, unless customers have their own (``contexts``,
    ``cancellation_keys``, by customer pk: each rendered from the customer's payload)."""

    journey: Journey
    version: JourneyVersion
    context: dict
    cancellation_key: str | None
    now: datetime
    contexts: Mapping[int, dict] | None = None
    cancellation_keys: Mapping[int, str | None] | None = None

    def cancellation_key_sql(self) -> tuple[str, list[Any]]:
        """The cancellation key column's expression, as :meth:`context_sql` picks."""
        if self.cancellation_keys is None:
            return "%s", [self.cancellation_key]
        own = json.dumps({str(pk): key for pk, key in self.cancellation_keys.items()})
        if connection.vendor == "postgresql":
            return "(%s::jsonb ->> candidate.id::text)", [own]
        return "json_extract(%s, '$.\"' || candidate.id || '\"')", [own]

    def context_sql(self) -> tuple[str, list[Any]]:
        """The context column's expression for the row of ``candidate``: the shared
        context, or the candidate's own, picked by its id out of one JSON object."""
        if self.contexts is None:
            return _json_param_sql(), [json.dumps(self.context)]
        own = json.dumps({str(pk): context for pk, context in self.contexts.items()})
        if connection.vendor == "postgresql":
            return "(%s::jsonb -> candidate.id::text)", [own]
        return "json_extract(%s, '$.\"' || candidate.id || '\"')", [own]

    def insert_sql(self, source: str, *, returning: str = "") -> tuple[str, list[Any]]:
        """``INSERT ... SELECT`` of the enrollable rows of the CTE named ``source``,
        ``RETURNING`` the expressions ``returning`` lists, if any.

        The runs are due now (``wake_at``); the caller puts ``WITH source AS (...)``
        in front, so the candidates' parameters come before these.
        """
        table = Enrollment._meta.db_table
        context_sql, context_params = self.context_sql()
        key_sql, key_params = self.cancellation_key_sql()
        # Ordered inserts take the unique index's locks in one order: two overlapping
        # bulk entries wait for each other instead of deadlocking. The subquery sorts
        # the customers' ids alone; sorting the rows to insert would carry each one's
        # copy of the context (and every other constant) through the sort. (WHERE true:
        # SQLite would read ON CONFLICT as a join's ON.)
        sql = (
            f"INSERT INTO {table} (public_id, workspace_id, journey_id, version_id,"
            " customer_id, state, current_step, wake_at, context, cancellation_key,"
            " exit_reason, error, entered_at) SELECT"
            f" {public_id_sql('run')}, %s, %s, %s, candidate.id, %s, %s, %s,"
            f" {context_sql}, {key_sql}, '', '', %s FROM (SELECT enrollable.id FROM {source}"
            " AS enrollable WHERE enrollable.verdict IN (%s, %s) ORDER BY enrollable.id)"
            f" AS candidate WHERE true ON CONFLICT {_ONE_ACTIVE_RUN} DO NOTHING"
        )
        if returning:
            sql += f" RETURNING {returning}"
        now = connection.ops.adapt_datetimefield_value(self.now)
        params = [
            self.journey.workspace_id,
            self.journey.pk,
            self.version.pk,
            Enrollment.State.ACTIVE.value,
            self.version.spec.start or "",
            now,
            *context_params,
            *key_params,
            now,
            *_ENROLLABLE,
        ]
        return sql, params


#: What the INSERT returns of each new run when the caller asks for them (:class:`NewRun`).
_NEW_RUNS = "customer_id, id, public_id"

#: (verdict, candidates with it, runs inserted for them)
Tally = tuple[str, int, int]


def _enroll_in_one_statement(
    candidates: _Candidates, batch: _RunBatch, return_runs: bool
) -> tuple[list[Tally], dict[int, NewRun], dict[int, str]]:
    """PostgreSQL: classify and insert in one statement, so both see one snapshot.

    Counts computed by a separate SELECT could disagree with what the INSERT saw when
    another transaction commits in between; here every candidate is counted once.
    Returns the tallies and, with ``return_runs``, the new runs and every candidate's
    verdict by customer pk.
    """
    source_sql, source_params = candidates.source_sql()
    # Counted, not read, in bulk: a million rows of NULL keep less than their ids would.
    returning = _NEW_RUNS if return_runs else "NULL"
    insert_sql, insert_params = batch.insert_sql("candidate_set", returning=returning)
    if return_runs:
        select = (
            "SELECT candidate_set.verdict, candidate_set.id, inserted.id, inserted.public_id"
            " FROM candidate_set LEFT JOIN inserted ON inserted.customer_id = candidate_set.id"
        )
    else:
        # Counts only, and no join between the two sets: its plan would rest on row
        # estimates, and a table loaded a moment ago has none (a nested loop over a
        # million candidates and a million new runs never ends).
        select = (
            "SELECT candidate_set.verdict, count(*), (SELECT count(*) FROM inserted)"
            " FROM candidate_set GROUP BY candidate_set.verdict"
        )
    sql = f"WITH candidate_set AS MATERIALIZED ({source_sql}), inserted AS ({insert_sql}) {select}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*source_params, *insert_params])
        rows = cursor.fetchall()
    if not return_runs:
        counts = {verdict: candidate_count for verdict, candidate_count, _ in rows}
        return _tallies(counts, inserted=rows[0][2] if rows else 0), {}, {}
    tallies: Counter = Counter()
    runs = {}
    verdicts = {}
    for verdict, customer_id, run_pk, run_id in rows:
        verdicts[customer_id] = verdict
        tallies[(verdict, "candidates")] += 1
        if run_id is not None:
            tallies[(verdict, "inserted")] += 1
            runs[customer_id] = NewRun(run_pk, run_id)
    kinds = {verdict for verdict, _ in tallies}
    tallied = [(v, tallies[(v, "candidates")], tallies[(v, "inserted")]) for v in kinds]
    return tallied, runs, verdicts


def _enroll_in_two_statements(
    candidates: _Candidates, batch: _RunBatch, return_runs: bool
) -> tuple[list[Tally], dict[int, NewRun], dict[int, str]]:
    """SQLite (no INSERT inside WITH): classify, then insert (returns as above).

    The embedded default's transactions are IMMEDIATE, so no other writer commits
    between the two statements and they see the same data.
    """
    verdicts: dict[int, str] = {}
    if return_runs:
        verdicts = dict(candidates.queryset.values_list("id", "verdict"))
        counts = dict(Counter(verdicts.values()))
    else:
        counts = _verdict_counts(candidates.queryset)
    source_sql, source_params = candidates.source_sql()
    insert_sql, insert_params = batch.insert_sql(
        "candidate_set", returning=_NEW_RUNS if return_runs else ""
    )
    sql = f"WITH candidate_set AS ({source_sql}) {insert_sql}"
    runs: dict[int, NewRun] = {}
    inserted = 0
    if any(counts.get(verdict) for verdict in _ENROLLABLE):
        with connection.cursor() as cursor:
            cursor.execute(sql, [*source_params, *insert_params])
            if return_runs:
                runs = {row[0]: NewRun(*row[1:]) for row in cursor.fetchall()}
                inserted = len(runs)
            else:
                # sqlite3 reports no rowcount for a statement that starts with WITH.
                cursor.execute("SELECT changes()")
                (inserted,) = cursor.fetchone()
    return _tallies(counts, inserted=inserted), runs, verdicts


def _enroll_reporting(
    candidates: _Candidates, batch: _RunBatch
) -> tuple[list[Tally], dict[int, Outcome]]:
    """Enroll, and say which candidates were not enrolled and why (``report``).

    Only those rows travel back, with the count of runs inserted. On PostgreSQL it is one
    statement like :func:`_enroll_in_one_statement`; the candidates that were eligible
    but lost a race to a concurrent trigger are the eligible ones less the inserted
    ones, an ``EXCEPT`` (hashed or sorted, never a nested loop over two unestimated
    sets). SQLite classifies, then inserts, as :func:`_enroll_in_two_statements`.
    """
    source_sql, source_params = candidates.source_sql()
    enrollable = ", ".join(f"'{verdict}'" for verdict in _ENROLLABLE)
    if connection.vendor == "postgresql":
        insert_sql, insert_params = batch.insert_sql("candidate_set", returning="customer_id")
        sql = (
            f"WITH candidate_set AS MATERIALIZED ({source_sql}), inserted AS ({insert_sql})"
            " SELECT candidate_set.verdict, candidate_set.id FROM candidate_set"
            f" WHERE candidate_set.verdict NOT IN ({enrollable})"
            f" UNION ALL SELECT '{Outcome.ALREADY_ENROLLED.value}', lost.id FROM"
            " (SELECT candidate_set.id FROM candidate_set"
            f" WHERE candidate_set.verdict IN ({enrollable})"
            " EXCEPT ALL SELECT inserted.customer_id FROM inserted) AS lost"
            " UNION ALL SELECT NULL, count(*) FROM inserted"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*source_params, *insert_params])
            rows = cursor.fetchall()
        inserted = next(count for verdict, count in rows if verdict is None)
        not_enrolled = {pk: Outcome(verdict) for verdict, pk in rows if verdict is not None}
    else:
        classified = list(candidates.queryset.values_list("id", "verdict"))
        eligible = [pk for pk, verdict in classified if verdict in _ENROLLABLE]
        inserted_pks: set[int] = set()
        if eligible:
            insert_sql, insert_params = batch.insert_sql("candidate_set", returning="customer_id")
            with connection.cursor() as cursor:
                cursor.execute(
                    f"WITH candidate_set AS ({source_sql}) {insert_sql}",
                    [*source_params, *insert_params],
                )
                inserted_pks = {pk for (pk,) in cursor.fetchall()}
        inserted = len(inserted_pks)
        not_enrolled = {
            pk: Outcome(verdict) for pk, verdict in classified if verdict not in _ENROLLABLE
        }
        not_enrolled.update(
            (pk, Outcome.ALREADY_ENROLLED) for pk in eligible if pk not in inserted_pks
        )
    # Those who lost a race are already counted among the already enrolled here.
    counts = Counter(outcome.value for outcome in not_enrolled.values())
    counts[Outcome.ENROLLED.value] = inserted
    return _tallies(counts, inserted=inserted), not_enrolled


def _tallies(counts: dict[str, int], *, inserted: int) -> list[Tally]:
    """Tallies from the candidates' count per verdict and the runs inserted for them."""
    tallies = [(v, n, 0) for v, n in counts.items() if v not in _ENROLLABLE]
    enrollable = sum(counts.get(verdict, 0) for verdict in _ENROLLABLE)
    tallies.append((Outcome.ENROLLED.value, enrollable, inserted))
    return tallies
