"""The reads a trigger makes: its journey, its one customer, or its audience.

Each lookup has one owner, here. The two a single trigger makes on every request (the
journey and the customer) are one statement, written out as SQL once: compiling it
through the ORM costs more CPU than running it. Their columns (integers and text) read
back the same on every backend, so rows become instances through ``Model.from_db``. The
audience of a bulk trigger stays a queryset from start to end: a segment of a million
customers is enrolled by SQL, never loaded into Python.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import F, Field, Model, QuerySet

from customers.errors import InvalidRequest, NotFound
from customers.models import Customer, Workspace, normalize_email
from customers.selectors import active_customers
from journeys.models import Journey, JourneyVersion, journey_version_get
from segments.selectors import segment_members_q, segments_resolve

#: What a trigger reads of a journey: not the draft graph, not the version's definition.
JOURNEY_TRIGGER_FIELDS = ("id", "workspace_id", "public_id", "name", "status", "live_version_id")
#: What a single trigger reads of its customer: the entry core works on ids.
CUSTOMER_TRIGGER_FIELDS = ("id", "workspace_id", "public_id")


def _fields(model: type[Model], attnames: Sequence[str]) -> list[Field]:
    """``attnames``' fields in the model's field order, which ``Model.from_db`` expects."""
    return [field for field in model._meta.concrete_fields if field.attname in attnames]


def _column(model: type[Model], name: str) -> str:
    return model._meta.get_field(name).column


_JOURNEY_FIELDS = _fields(Journey, JOURNEY_TRIGGER_FIELDS)
_JOURNEY_COLUMNS = [field.attname for field in _JOURNEY_FIELDS]
_CUSTOMER_FIELDS = _fields(Customer, CUSTOMER_TRIGGER_FIELDS)
_CUSTOMER_COLUMNS = [field.attname for field in _CUSTOMER_FIELDS]
_JOURNEY_SELECT = (
    f"SELECT {', '.join(f'journey.{field.column}' for field in _JOURNEY_FIELDS)},"
    f" version.{_column(JourneyVersion, 'number')}"
)
_JOURNEY_FROM = (
    f" FROM {Journey._meta.db_table} AS journey"
    f" LEFT JOIN {JourneyVersion._meta.db_table} AS version"
    f" ON version.{_column(JourneyVersion, 'id')} = journey.{_column(Journey, 'live_version')}"
)
_JOURNEY_WHERE = (
    f" WHERE journey.{_column(Journey, 'workspace')} = %s"
    f" AND journey.{_column(Journey, 'public_id')} = %s"
)
_JOURNEY_LOOKUP_SQL = _JOURNEY_SELECT + _JOURNEY_FROM + _JOURNEY_WHERE
#: A single trigger's two reads in one round trip: the journey, and beside it the one
#: customer the identifier names (identifiers are unique per workspace, so the join
#: adds at most one row). The customer's condition is the rule of ``active_customers``
#: (inactive customers count as not found), as SQL.
_JOURNEY_AND_CUSTOMER_SQL = {
    by: _JOURNEY_SELECT
    + "".join(f", customer.{field.column}" for field in _CUSTOMER_FIELDS)
    + _JOURNEY_FROM
    + f" LEFT JOIN {Customer._meta.db_table} AS customer"
    f" ON customer.{_column(Customer, 'workspace')} = journey.{_column(Journey, 'workspace')}"
    f" AND customer.{_column(Customer, 'status')} = %s AND customer.{_column(Customer, by)} = %s"
    + _JOURNEY_WHERE
    for by in ("public_id", "external_id", "email")
}


def _row(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


class CustomerNotFound(NotFound):
    """A single trigger's identifier names no active customer (a journey that is not
    found is a plain :class:`NotFound`): a caller that may create the customer catches
    this one."""


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
    return _target(row, journey_id=journey_id, trigger_type=trigger_type)


def journey_and_customer_for_trigger(
    *,
    workspace: Workspace,
    journey_id: str,
    trigger_type: str = Journey.TriggerType.API,
    customer_id: str | None = None,
    external_id: str | None = None,
    email: str | None = None,
) -> tuple[TriggerTarget, Customer]:
    """A single trigger's live journey and its one active customer, read together.

    The most direct identifier wins. An unknown journey is the first error, then a
    missing identifier, then an unknown customer.
    """
    email = normalize_email(email)
    if customer_id:
        by, value = "public_id", customer_id
    elif external_id:
        by, value = "external_id", external_id
    elif email is not None:
        by, value = "email", email
    else:
        journey_for_trigger(workspace=workspace, journey_id=journey_id, trigger_type=trigger_type)
        raise InvalidRequest(
            "Missing required parameter: one of external_id, email or customer_id "
            "(or external_ids / segment_ids for bulk)"
        )
    params = [Customer.Status.ACTIVE.value, value, workspace.pk, journey_id]
    row = _row(_JOURNEY_AND_CUSTOMER_SQL[by], params)
    width = len(_JOURNEY_COLUMNS) + 1
    target = _target(row[:width] if row else None, journey_id=journey_id, trigger_type=trigger_type)
    if row[width] is None:
        raise CustomerNotFound("Customer not found")
    return target, Customer.from_db(connection.alias, _CUSTOMER_COLUMNS, row[width:])


def _target(row: tuple[Any, ...] | None, *, journey_id: str, trigger_type: str) -> TriggerTarget:
    journey = Journey.from_db(connection.alias, _JOURNEY_COLUMNS, row[:-1]) if row else None
    if journey is None or journey.status != Journey.Status.LIVE or not journey.live_version_id:
        raise NotFound("Journey not found", journey_id=journey_id)
    version = journey_version_get(journey.public_id, row[-1], journey.live_version_id)
    actual_type = version.spec.trigger.type
    if actual_type != trigger_type:
        raise InvalidRequest(
            f"Invalid journey type: this journey's trigger type is '{actual_type}', "
            f"not '{trigger_type}'",
        )
    return TriggerTarget(journey=journey, version=version)


@dataclass(frozen=True)
class AudienceQuery:
    """A bulk trigger's customers as one query, and how many listed ids matched none."""

    customers: QuerySet[Customer]
    not_found: int = 0
    #: An empty list named the audience (or intersected it to no one).
    names_nobody: bool = False


def audience_customers(
    *,
    workspace: Workspace,
    external_ids: Sequence[str] | None,
    segment_ids: Sequence[str] | None,
    exclude_external_ids: Sequence[str] | None,
    chosen: QuerySet[Customer] | None = None,
) -> AudienceQuery:
    """Listed ids, segments, or those in both; minus the excluded; active ones only.

    Unknown external ids are counted, not errors; an unknown segment fails the request,
    even when the other list is empty. ``chosen``, customers a caller found its own way,
    intersects like the lists (through ``pk IN``, so each customer still comes once).
    """
    segments = segments_resolve(workspace=workspace, segment_ids=segment_ids) if segment_ids else []
    if external_ids == [] or segment_ids == []:
        return AudienceQuery(customers=Customer.objects.none(), names_nobody=True)
    customers = active_customers(workspace)
    not_found = 0
    if external_ids is not None:
        wanted = set(external_ids)
        customers = customers.filter(external_id__in=wanted)
        not_found = len(wanted) - customers.count()
    if segment_ids is not None:
        customers = customers.filter(segment_members_q(segments))
    if chosen is not None:
        customers = customers.filter(pk__in=chosen.values("pk"))
    if exclude_external_ids:
        customers = customers.exclude(external_id__in=set(exclude_external_ids))
    return AudienceQuery(customers=customers, not_found=not_found)


def event_journeys_live(*, workspace_ids: Collection[int]) -> dict[int, list[TriggerTarget]]:
    """The live journeys that events trigger in these workspaces, each with the version
    new runs pin, by workspace id: one query. Their trigger is read from the live
    version (a draft may say otherwise until it is published)."""
    journeys = (
        Journey.objects.filter(
            workspace_id__in=workspace_ids,
            status=Journey.Status.LIVE,
            live_version__isnull=False,
        )
        .only(*JOURNEY_TRIGGER_FIELDS)
        .annotate(version_number=F("live_version__number"))
        .order_by("pk")
    )
    targets: dict[int, list[TriggerTarget]] = {}
    for journey in journeys:
        version = journey_version_get(
            journey.public_id, journey.version_number, journey.live_version_id
        )
        trigger = version.spec.trigger
        if trigger.type == Journey.TriggerType.EVENT and trigger.event:
            targets.setdefault(journey.workspace_id, []).append(TriggerTarget(journey, version))
    return targets
