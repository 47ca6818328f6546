"""Trigger services: find the journey, resolve the customers, hand them to the entry core.

Every trigger API (the native one and each dialect) parses its own request shape and
calls these functions, so they all share one set of rules and one set of errors.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Field, Model, QuerySet

from customers.errors import InvalidRequest, NotFound
from customers.models import Customer, Workspace, normalize_email
from journeys.entry.core import EntryResult, Outcome, entry_constants, journey_enroll
from journeys.models import Journey, JourneyVersion, journey_version_get
from segments.conditions import condition_evaluate
from segments.selectors import segment_members_q, segments_resolve

MAX_EXTERNAL_IDS = 1000
MAX_SEGMENT_IDS = 10
MAX_EXCLUDED_EXTERNAL_IDS = 1000
#: What a trigger reads of a journey: not the draft graph, not the version's definition.
JOURNEY_TRIGGER_FIELDS = ("id", "workspace_id", "public_id", "name", "status", "live_version_id")
#: What a single trigger reads of its customer: the entry core works on ids.
CUSTOMER_TRIGGER_FIELDS = ("id", "workspace_id", "public_id")


# The two lookups every single trigger makes are written out once, here: compiling them
# through the ORM costs more CPU than running them. Their columns (integers and text)
# read back the same on every backend, so rows become instances through ``from_db``.
# The customer lookup applies the rule of :func:`active_customers` (inactive customers
# count as not found) as a condition on ``status``.


def _fields(model: type[Model], attnames: Sequence[str]) -> list[Field]:
    """``attnames``' fields in the model's field order, which ``Model.from_db`` expects."""
    return [field for field in model._meta.concrete_fields if field.attname in attnames]


def _column(model: type[Model], name: str) -> str:
    return model._meta.get_field(name).column


_JOURNEY_FIELDS = _fields(Journey, JOURNEY_TRIGGER_FIELDS)
_JOURNEY_COLUMNS = [field.attname for field in _JOURNEY_FIELDS]
_JOURNEY_LOOKUP_SQL = (
    f"SELECT {', '.join(f'journey.{field.column}' for field in _JOURNEY_FIELDS)},"
    f" version.{_column(JourneyVersion, 'number')}"
    f" FROM {Journey._meta.db_table} AS journey"
    f" LEFT JOIN {JourneyVersion._meta.db_table} AS version"
    f" ON version.{_column(JourneyVersion, 'id')} = journey.{_column(Journey, 'live_version')}"
    f" WHERE journey.{_column(Journey, 'workspace')} = %s"
    f" AND journey.{_column(Journey, 'public_id')} = %s"
)
_CUSTOMER_FIELDS = _fields(Customer, CUSTOMER_TRIGGER_FIELDS)
_CUSTOMER_COLUMNS = [field.attname for field in _CUSTOMER_FIELDS]
_CUSTOMER_LOOKUP_SQL = {
    by: f"SELECT {', '.join(field.column for field in _CUSTOMER_FIELDS)}"
    f" FROM {Customer._meta.db_table} WHERE {_column(Customer, 'workspace')} = %s"
    f" AND {_column(Customer, 'status')} = %s AND {_column(Customer, by)} = %s LIMIT 1"
    for by in ("public_id", "external_id", "email")
}


def _row(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@dataclass(frozen=True)
class TriggerTarget:
    """A live journey and the version new runs pin."""

    journey: Journey
    version: JourneyVersion


def journey_for_trigger(
    *, workspace: Workspace, journey_id: str, trigger_type: str = Journey.TriggerType.API
) -> TriggerTarget:
    """The live journey behind ``journey_id``, checked to accept this kind of trigger.

    The journey row is read every time (its status decides), but not its draft; the
    published version comes from a per-process cache, as versions never change.
    """
    row = _row(_JOURNEY_LOOKUP_SQL, [workspace.pk, journey_id])
    journey = Journey.from_db(connection.alias, _JOURNEY_COLUMNS, row[:-1]) if row else None
    if journey is None or journey.status != Journey.Status.LIVE or not journey.live_version_id:
        raise NotFound("Journey not found", journey_id=journey_id)
    version = journey_version_get(journey.public_id, row[-1], journey.live_version_id)
    actual_type = version.definition.get("trigger", {}).get("type", Journey.TriggerType.API)
    if actual_type != trigger_type:
        raise InvalidRequest(
            f"Invalid journey type: this journey's trigger type is '{actual_type}', "
            f"not '{trigger_type}'",
        )
    return TriggerTarget(journey=journey, version=version)


_SCHEMA_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "datetime": lambda v: isinstance(v, str) and _parses_as_iso_datetime(v),
}


def _parses_as_iso_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def payload_problems(*, version: JourneyVersion, payload: dict[str, Any]) -> list[str]:
    """Type errors of payload fields declared in the trigger schema, and fields marked
    ``required`` that are missing (or null).

    Other missing fields are not errors: a run that reaches a step needing one fails
    there, which is what a caller with an evolving payload expects.
    """
    problems = []
    for field in version.definition.get("trigger", {}).get("schema") or []:
        name, expected = field.get("name"), field.get("type")
        if field.get("required") and payload.get(name) is None:
            problems.append(f"payload.{name} is required ({expected})")
        elif name in payload and payload[name] is not None:
            check = _SCHEMA_CHECKS.get(expected)
            if check and not check(payload[name]):
                got = type(payload[name]).__name__
                problems.append(f"payload.{name}: expected {expected}, got {got}")
    return problems


def payload_check(*, version: JourneyVersion, payload: dict[str, Any]) -> None:
    problems = payload_problems(version=version, payload=payload)
    if problems:
        raise InvalidRequest(problems[0], problems=problems)


def trigger_conditions_met(*, version: JourneyVersion, payload: dict[str, Any]) -> bool:
    """The journey's trigger conditions, which only see the trigger (not the customer)."""
    conditions = version.definition.get("trigger", {}).get("conditions")
    if not conditions:
        return True
    return condition_evaluate(conditions, entry_constants(payload=payload))


def active_customers(workspace: Workspace) -> QuerySet[Customer]:
    """Customers a journey may enroll: inactive ones count as not found (every seed)."""
    return Customer.objects.filter(workspace=workspace, status=Customer.Status.ACTIVE)


def customer_resolve(
    *,
    workspace: Workspace,
    customer_id: str | None = None,
    external_id: str | None = None,
    email: str | None = None,
) -> Customer:
    """The one customer a single trigger names, most direct identifier first."""
    email = normalize_email(email)
    if customer_id:
        by, value = "public_id", customer_id
    elif external_id:
        by, value = "external_id", external_id
    elif email is not None:
        by, value = "email", email
    else:
        raise InvalidRequest(
            "Missing required parameter: one of external_id, email or customer_id "
            "(or external_ids / segment_ids for bulk)"
        )
    row = _row(_CUSTOMER_LOOKUP_SQL[by], [workspace.pk, Customer.Status.ACTIVE.value, value])
    customer = Customer.from_db(connection.alias, _CUSTOMER_COLUMNS, row) if row else None
    if customer is None:
        raise NotFound("Customer not found")
    return customer


@dataclass(frozen=True)
class SingleTriggerResult:
    outcome: Outcome
    run_id: str | None = None
    restarted: bool = False


def journey_trigger_customer(
    *,
    target: TriggerTarget,
    customer: Customer,
    payload: dict[str, Any],
    profile: dict[str, Any] | None = None,
    tenant_id: str | None = None,
) -> SingleTriggerResult:
    """Enroll one customer; the answer says what happened and names the new run."""
    payload_check(version=target.version, payload=payload)
    if not trigger_conditions_met(version=target.version, payload=payload):
        return SingleTriggerResult(outcome=Outcome.CONDITIONS_NOT_MET)
    result = journey_enroll(
        journey=target.journey,
        version=target.version,
        customers=Customer.objects.filter(pk=customer.pk),
        payload=payload,
        profile=profile,
        tenant_id=tenant_id,
        return_runs=True,
    )
    if result.runs:
        return SingleTriggerResult(
            outcome=Outcome.ENROLLED,
            run_id=result.runs[customer.pk].public_id,
            restarted=bool(result.restarted),
        )
    (outcome,) = [o for o, n in result.outcomes.items() if n]
    return SingleTriggerResult(outcome=outcome)


@dataclass(frozen=True)
class BulkTriggerResult:
    entry: EntryResult
    not_found: int
    #: An empty list named the audience (or intersected it to no one): nothing was done.
    named_nobody: bool = False

    def as_json(self) -> dict[str, Any]:
        outcomes = self.entry.outcomes
        return {
            "enrolled_count": self.entry.enrolled_count,
            "not_enrolled": {
                "not_found": self.not_found,
                "already_enrolled": outcomes[Outcome.ALREADY_ENROLLED],
                "recently_completed": outcomes[Outcome.RECENTLY_COMPLETED],
                "max_entries_reached": outcomes[Outcome.MAX_ENTRIES_REACHED],
                "conditions_not_met": outcomes[Outcome.CONDITIONS_NOT_MET],
            },
        }


def _check_size(name: str, values: Sequence[Any], limit: int) -> None:
    if len(values) > limit:
        raise InvalidRequest(
            f"Array size exceeded: {name} has {len(values):,} entries; the maximum is {limit:,}"
        )


def journey_trigger_bulk(
    *,
    workspace: Workspace,
    target: TriggerTarget,
    external_ids: Sequence[str] | None = None,
    segment_ids: Sequence[str] | None = None,
    exclude_external_ids: Sequence[str] | None = None,
    payload: dict[str, Any],
) -> BulkTriggerResult:
    """Enroll an audience: listed ids, segments, or those in both; minus the excluded.

    Unknown external ids are skipped and counted; an unknown segment fails the whole
    request. The audience stays a query from start to end: a segment of a million
    customers is enrolled by SQL, never loaded into Python.
    """
    _check_size("external_ids", external_ids or [], MAX_EXTERNAL_IDS)
    _check_size("segment_ids", segment_ids or [], MAX_SEGMENT_IDS)
    _check_size("exclude_external_ids", exclude_external_ids or [], MAX_EXCLUDED_EXTERNAL_IDS)
    if external_ids is None and segment_ids is None:
        raise InvalidRequest("Missing required parameter: external_ids or segment_ids")
    payload_check(version=target.version, payload=payload)
    # Unknown segments fail the request even when another list is empty.
    segments = segments_resolve(workspace=workspace, segment_ids=segment_ids) if segment_ids else []
    if external_ids == [] or segment_ids == []:
        return BulkTriggerResult(entry=EntryResult(), not_found=0, named_nobody=True)

    audience = active_customers(workspace)
    not_found = 0
    if external_ids is not None:
        wanted = set(external_ids)
        audience = audience.filter(external_id__in=wanted)
        not_found = len(wanted) - audience.count()
    if segment_ids is not None:
        audience = audience.filter(segment_members_q(segments))
    if exclude_external_ids:
        audience = audience.exclude(external_id__in=set(exclude_external_ids))

    if not trigger_conditions_met(version=target.version, payload=payload):
        entry = EntryResult()
        entry.outcomes[Outcome.CONDITIONS_NOT_MET] = audience.count()
        return BulkTriggerResult(entry=entry, not_found=not_found)
    entry = journey_enroll(
        journey=target.journey, version=target.version, customers=audience, payload=payload
    )
    return BulkTriggerResult(entry=entry, not_found=not_found)
