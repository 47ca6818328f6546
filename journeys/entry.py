"""The entry core: every trigger path (native API, dialects, events, bulk) enrolls here.

Given a journey's live version and a *set* of customers (a queryset, never a Python
list), it applies the entry rules and creates the runs in a handful of SQL statements,
however many customers the set holds:

1. one SELECT that classifies every candidate (``verdict``) and counts the verdicts;
2. with re-entry and ``restart_active``, one UPDATE that exits the active runs being
   replaced;
3. one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` that creates the runs.

Concurrency is decided by the database, not by reading first: the partial unique index
``enrollment_one_active_per_customer`` makes a concurrent duplicate's INSERT wait for
the first transaction and then conflict, so parallel identical triggers create exactly
one run. Any candidate that was eligible when classified but lost such a race is
reported as ``already_enrolled``.

The verdict's CASE is ordered so that step 2 cannot change it: it depends on the
conditions, the entry count, recent completions and, last, whether a run is active.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from customers.ids import PUBLIC_ID_HEX_LENGTH
from customers.models import Customer
from journeys.models import Enrollment, Journey, JourneyVersion
from segments.conditions import condition_to_q


class Outcome(StrEnum):
    """What a trigger did for one customer; the values are the API's ``status``."""

    ENROLLED = "enrolled"
    ALREADY_ENROLLED = "already_enrolled"
    RECENTLY_COMPLETED = "recently_completed"
    MAX_ENTRIES_REACHED = "max_entries_reached"
    CONDITIONS_NOT_MET = "conditions_not_met"


#: Verdicts of the classifying SELECT that lead to a new run.
_RESTART = "restart"
_ENROLLABLE = (Outcome.ENROLLED.value, _RESTART)


@dataclass(frozen=True)
class EntryRules:
    """The ``entry`` block of a published journey version."""

    allow_reentry: bool = False
    max_entries_per_customer: int | None = None
    reentry_cooldown_seconds: int = 0
    restart_active: bool = True
    conditions: dict | None = None

    @classmethod
    def from_definition(cls, definition: dict) -> "EntryRules":
        entry = definition.get("entry") or {}
        return cls(
            allow_reentry=bool(entry.get("allow_reentry", False)),
            max_entries_per_customer=entry.get("max_entries_per_customer"),
            reentry_cooldown_seconds=int(entry.get("reentry_cooldown_seconds") or 0),
            restart_active=bool(entry.get("restart_active", True)),
            conditions=entry.get("conditions"),
        )


@dataclass
class EntryResult:
    """Counts per outcome, and, when asked for, each new run's id by customer pk."""

    outcomes: Counter = field(default_factory=Counter)
    restarted: int = 0
    runs: dict[int, str] = field(default_factory=dict)

    @property
    def enrolled_count(self) -> int:
        return self.outcomes[Outcome.ENROLLED]

    def count(self, outcome: Outcome) -> int:
        return self.outcomes[outcome]


def run_context(
    *, payload: dict, profile: dict | None = None, tenant_id: str | None = None
) -> dict:
    """What a run carries from its trigger; templates see it as ``api.payload``, ``data``..."""
    return {"payload": payload, "profile": profile or {}, "tenant_id": tenant_id, "steps": {}}


def entry_constants(*, payload: dict, profile: dict | None = None) -> dict:
    """The part of a condition's context that is the same for every candidate."""
    return {
        "api": {"payload": payload, "properties": payload},
        "data": payload,
        "profile": profile or {},
    }


def _verdict(*, journey: Journey, rules: EntryRules, now: datetime, constants: dict) -> Case:
    """The CASE expression that classifies one candidate customer (see module docstring)."""
    runs = Enrollment.objects.filter(journey_id=journey.pk, customer_id=OuterRef("pk"))
    active = Exists(runs.filter(state=Enrollment.State.ACTIVE))
    whens: list[When] = []
    if not rules.allow_reentry:
        # Once ever: a run that is active or that completed blocks a new one. Runs that
        # failed or were exited do not, so a customer can be sent through again.
        blocking = [Enrollment.State.ACTIVE, Enrollment.State.COMPLETED]
        whens.append(When(Exists(runs.filter(state__in=blocking)), then=Value("already_enrolled")))
    else:
        if rules.max_entries_per_customer is not None:
            entries = Subquery(
                runs.order_by().values("customer_id").annotate(n=Count("*")).values("n")
            )
            reached = GreaterThanOrEqual(Coalesce(entries, 0), rules.max_entries_per_customer)
            whens.append(When(reached, then=Value(Outcome.MAX_ENTRIES_REACHED.value)))
        if rules.reentry_cooldown_seconds:
            since = now - timedelta(seconds=rules.reentry_cooldown_seconds)
            recent = runs.filter(state=Enrollment.State.COMPLETED, finished_at__gt=since)
            whens.append(When(Exists(recent), then=Value(Outcome.RECENTLY_COMPLETED.value)))
        if rules.restart_active:
            whens.append(When(active, then=Value(_RESTART)))
    whens.append(When(active, then=Value(Outcome.ALREADY_ENROLLED.value)))
    rule_verdict = Case(*whens, default=Value(Outcome.ENROLLED.value), output_field=CharField())
    if not rules.conditions:
        return rule_verdict
    # A condition that is false *or unknown* (NULL) means "not met": keep it in WHEN.
    met = condition_to_q(rules.conditions, constants=constants)
    return Case(
        When(met, then=rule_verdict),
        default=Value(Outcome.CONDITIONS_NOT_MET.value),
        output_field=CharField(),
    )


def _new_run_id_sql() -> str:
    """A ``run_<32 hex>`` id generated by the database, so bulk entry needs no Python."""
    if connection.vendor == "postgresql":
        expression = "replace(gen_random_uuid()::text, '-', '')"
    else:
        expression = f"lower(hex(randomblob({PUBLIC_ID_HEX_LENGTH // 2})))"
    return f"'run_' || {expression}"


def _json_param_sql() -> str:
    return "%s::jsonb" if connection.vendor == "postgresql" else "%s"


def journey_enroll(
    *,
    journey: Journey,
    version: JourneyVersion,
    customers: QuerySet[Customer],
    payload: dict[str, Any],
    profile: dict[str, Any] | None = None,
    tenant_id: str | None = None,
    return_runs: bool = False,
    now: datetime | None = None,
) -> EntryResult:
    """Enroll every customer of ``customers`` that the entry rules admit.

    ``customers`` must yield each customer at most once (filter with ``pk__in``
    subqueries rather than joins). ``return_runs`` asks for the new runs' ids, which
    single triggers answer with; bulk entry leaves it off so no rows travel back.
    """
    now = now or timezone.now()
    rules = EntryRules.from_definition(version.definition)
    constants = entry_constants(payload=payload, profile=profile)
    candidates = customers.order_by().annotate(
        verdict=_verdict(journey=journey, rules=rules, now=now, constants=constants)
    )
    result = EntryResult()
    with transaction.atomic():
        verdicts = dict(candidates.values_list("verdict").annotate(n=Count("pk")))
        eligible = sum(verdicts.get(v, 0) for v in _ENROLLABLE)
        for verdict, n in verdicts.items():
            if verdict not in _ENROLLABLE:
                result.outcomes[Outcome(verdict)] += n
        if verdicts.get(_RESTART):
            result.restarted = Enrollment.objects.filter(
                journey_id=journey.pk,
                state=Enrollment.State.ACTIVE,
                customer_id__in=candidates.filter(verdict=_RESTART).values("pk"),
            ).update(state=Enrollment.State.EXITED, exit_reason="restarted", finished_at=now)
        if eligible:
            inserted = _insert_runs(
                journey=journey,
                version=version,
                candidates=candidates,
                context=run_context(payload=payload, profile=profile, tenant_id=tenant_id),
                now=now,
                returning=return_runs,
            )
            if return_runs:
                result.runs = dict(inserted)
                inserted_count = len(inserted)
            else:
                inserted_count = inserted
            result.outcomes[Outcome.ENROLLED] += inserted_count
            # Lost a race to a concurrent trigger between classifying and inserting.
            result.outcomes[Outcome.ALREADY_ENROLLED] += eligible - inserted_count
    return result


def _insert_runs(
    *,
    journey: Journey,
    version: JourneyVersion,
    candidates: QuerySet[Customer],
    context: dict,
    now: datetime,
    returning: bool,
) -> Any:
    """One ``INSERT ... SELECT`` of the eligible candidates; due now (``wake_at = now``)."""
    source_sql, source_params = candidates.values("id", "verdict").query.sql_with_params()
    table = Enrollment._meta.db_table
    sql = (
        f"INSERT INTO {table} (public_id, workspace_id, journey_id, version_id, customer_id,"
        " state, current_step, wake_at, context, exit_reason, error, entered_at)"
        f" SELECT {_new_run_id_sql()}, %s, %s, %s, candidate.id, %s, %s, %s,"
        f" {_json_param_sql()}, '', '', %s"
        f" FROM ({source_sql}) AS candidate"
        " WHERE candidate.verdict IN (%s, %s)"
        " ON CONFLICT DO NOTHING"
    )
    params = [
        journey.workspace_id,
        journey.pk,
        version.pk,
        Enrollment.State.ACTIVE.value,
        version.definition.get("start") or "",
        now,
        json.dumps(context),
        now,
        *source_params,
        *_ENROLLABLE,
    ]
    with connection.cursor() as cursor:
        if returning:
            cursor.execute(sql + " RETURNING customer_id, public_id", params)
            return cursor.fetchall()
        cursor.execute(sql, params)
        return cursor.rowcount
