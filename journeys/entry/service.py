"""The trigger service: every way into a journey goes through :func:`journey_trigger`.

The native trigger view calls it today; the vendor dialects, the event stream and the
admin's previews call it next. Each caller parses its own request shape into an
:class:`Audience` and a payload, calls the service once, and renders the
:class:`TriggerResult` its own way, so every caller shares one set of rules (schema,
trigger conditions, entry rules) and one set of errors.

A dry run answers exactly what a real trigger would, from the same classifying query,
and writes nothing: no run, no customer, no idempotency record, no message.

A trigger may also name customers each with a payload of its own (the Spotzee dialect's
``users[].data``): each payload is checked against the trigger schema and conditions on
its own, and the customers that pass enter in one statement; the answer says, per
customer, what happened.
"""

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from customers.errors import InvalidRequest
from customers.models import Customer, Workspace
from customers.problems import problem_entry
from customers.selectors import active_customers
from journeys.entry.core import EntryResult, Outcome, entry_constants, journey_enroll
from journeys.entry.selectors import (
    TriggerTarget,
    audience_customers,
    journey_and_customer_for_trigger,
    journey_for_trigger,
)
from journeys.models import Journey
from journeys.spec import EntryRules, TriggerSpec
from segments.conditions import condition_evaluate

MAX_EXTERNAL_IDS = 1000
MAX_SEGMENT_IDS = 10
MAX_EXCLUDED_EXTERNAL_IDS = 1000
#: The audience's lists and how long each may be.
LIST_LIMITS = {
    "external_ids": MAX_EXTERNAL_IDS,
    "segment_ids": MAX_SEGMENT_IDS,
    "exclude_external_ids": MAX_EXCLUDED_EXTERNAL_IDS,
}


@dataclass(frozen=True)
class Audience:
    """Whom a trigger names: one customer by an identifier, or many (bulk).

    Bulk: ``external_ids`` and/or ``segment_ids`` (their intersection when both), minus
    ``exclude_external_ids``. An empty list names nobody. A dialect that finds people
    its own way (by e-mail addresses and lists, say) gives them as ``customers``, a
    queryset; it is intersected like the lists, and only the workspace's active
    customers are enrolled.

    Each with its own payload: ``customer_payloads``, customers by primary key (callers
    that found or upserted them), each payload in the place of the trigger's payload.
    """

    customer_id: str | None = None
    external_id: str | None = None
    email: str | None = None
    external_ids: Sequence[str] | None = None
    segment_ids: Sequence[str] | None = None
    exclude_external_ids: Sequence[str] | None = None
    customer_payloads: Mapping[int, dict[str, Any]] | None = None
    customers: QuerySet[Customer] | None = None

    @property
    def is_bulk(self) -> bool:
        return (
            self.external_ids is not None
            or self.segment_ids is not None
            or self.customers is not None
        )


#: A customer of ``customer_payloads`` that is not an active customer of the workspace.
NOT_FOUND = "not_found"
#: A customer whose own payload breaks the trigger schema (its ``problems`` say how).
INVALID_PAYLOAD = "invalid_payload"


@dataclass(frozen=True)
class CustomerEntry:
    """What a trigger with ``customer_payloads`` did for one of its customers.

    ``status`` is an :class:`Outcome` value, :data:`NOT_FOUND` or :data:`INVALID_PAYLOAD`.
    """

    status: str
    run_id: str | None = None
    #: With INVALID_PAYLOAD: the payload's problems (``customers.problems`` entries).
    problems: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class TriggerResult:
    """What a trigger did (or, dry, would do): counts per outcome, and for a single
    trigger its one outcome and the new run's id."""

    bulk: bool
    entry: EntryResult = field(default_factory=EntryResult)
    not_found: int = 0
    run_id: str | None = None
    restarted: bool = False
    #: A bulk trigger's empty list named the audience: nothing was done.
    named_nobody: bool = False
    dry_run: bool = False
    #: With ``customer_payloads``: each customer's entry, by customer pk.
    customers: dict[int, CustomerEntry] = field(default_factory=dict)

    @property
    def outcome(self) -> Outcome:
        """A single trigger's outcome."""
        (outcome,) = [o for o, n in self.entry.outcomes.items() if n] or [Outcome.ENROLLED]
        return outcome


def journey_trigger(
    *,
    workspace: Workspace,
    journey_id: str,
    audience: Audience,
    payload: dict[str, Any],
    profile: dict[str, Any] | None = None,
    tenant_id: str | None = None,
    dry_run: bool = False,
    trigger_type: str = Journey.TriggerType.API,
    payload_name: str = "payload",
    entry_rules: Callable[[EntryRules], EntryRules] | None = None,
    report: bool = False,
    now: datetime | None = None,
) -> TriggerResult:
    """Enroll ``audience`` into the live journey ``journey_id`` under its entry rules.

    ``entry_rules`` adjusts the journey's entry rules for this trigger (a dialect's own
    rules on top of them). ``report`` (bulk only) asks who was not enrolled and why:
    ``result.entry.not_enrolled``, by customer pk.

    Raises ``NotFound`` for an unknown or not-live journey and ``CustomerNotFound`` for
    an unknown single customer; ``InvalidRequest`` for a payload that breaks the trigger
    schema (naming the field as ``<payload_name>.<field>``, the caller's name for the
    payload), a missing identifier, oversized lists or unknown segments. With
    ``customer_payloads``, what depends on a customer's payload (schema, trigger
    conditions) is answered per customer instead, and ``payload`` is not used.
    """
    if audience.customer_payloads is not None:
        target = journey_for_trigger(
            workspace=workspace, journey_id=journey_id, trigger_type=trigger_type
        )
        entry = _Entry(target, payload, profile, tenant_id, dry_run, now)
        return _trigger_each(workspace, entry, audience.customer_payloads)
    if audience.is_bulk:
        target = journey_for_trigger(
            workspace=workspace, journey_id=journey_id, trigger_type=trigger_type
        )
        rules = entry_rules(target.version.spec.entry) if entry_rules else None
        entry = _Entry(target, payload, profile, tenant_id, dry_run, now, rules, report)
        return _trigger_bulk(workspace, entry, audience, payload_name)
    if report:
        raise TypeError("report is for bulk triggers; a single trigger has one outcome")
    target, customer = journey_and_customer_for_trigger(
        workspace=workspace,
        journey_id=journey_id,
        trigger_type=trigger_type,
        customer_id=audience.customer_id,
        external_id=audience.external_id,
        email=audience.email,
    )
    rules = entry_rules(target.version.spec.entry) if entry_rules else None
    entry = _Entry(target, payload, profile, tenant_id, dry_run, now, rules)
    payload_check(target.version.spec.trigger, payload, payload_name)
    result = entry.enroll(lambda: 1, customer_pk=customer.pk, return_runs=True)
    run = result.runs.get(customer.pk)
    return TriggerResult(
        bulk=False,
        entry=result,
        run_id=run.public_id if run else None,
        restarted=bool(result.restarted),
        dry_run=dry_run,
    )


@dataclass(frozen=True)
class _Entry:
    """One trigger's journey and what its runs carry, handed to the entry core."""

    target: TriggerTarget
    payload: dict[str, Any]
    profile: dict[str, Any] | None
    tenant_id: str | None
    dry_run: bool
    now: datetime | None
    rules: EntryRules | None = None
    report: bool = False

    def enroll(self, candidate_count: Callable[[], int], **candidates: Any) -> EntryResult:
        """Trigger conditions first (they see the trigger, not the customer): unmet, every
        candidate is counted as such; met, the entry core decides per customer."""
        if not trigger_conditions_met(self.target.version.spec.trigger, self.payload):
            result = EntryResult()
            if self.report:
                pks = candidates["customers"].values_list("pk", flat=True)
                result.not_enrolled = dict.fromkeys(pks, Outcome.CONDITIONS_NOT_MET)
                result.outcomes[Outcome.CONDITIONS_NOT_MET] = len(result.not_enrolled)
            else:
                result.outcomes[Outcome.CONDITIONS_NOT_MET] = candidate_count()
            return result
        return journey_enroll(
            journey=self.target.journey,
            version=self.target.version,
            payload=self.payload,
            profile=self.profile,
            tenant_id=self.tenant_id,
            dry_run=self.dry_run,
            now=self.now,
            rules=self.rules,
            report=self.report,
            **candidates,
        )


def _trigger_bulk(
    workspace: Workspace, entry: _Entry, audience: Audience, payload_name: str
) -> TriggerResult:
    for name, limit in LIST_LIMITS.items():
        list_size_check(name, getattr(audience, name), limit)
    payload_check(entry.target.version.spec.trigger, entry.payload, payload_name)
    query = audience_customers(
        workspace=workspace,
        external_ids=audience.external_ids,
        segment_ids=audience.segment_ids,
        exclude_external_ids=audience.exclude_external_ids,
        chosen=audience.customers,
    )
    if query.names_nobody:
        return TriggerResult(bulk=True, named_nobody=True, dry_run=entry.dry_run)
    result = entry.enroll(query.customers.count, customers=query.customers)
    return TriggerResult(bulk=True, entry=result, not_found=query.not_found, dry_run=entry.dry_run)


def _trigger_each(
    workspace: Workspace, entry: _Entry, payloads: Mapping[int, dict[str, Any]]
) -> TriggerResult:
    """Each customer's payload checked on its own, then one entry for those that pass."""
    trigger = entry.target.version.spec.trigger
    customers: dict[int, CustomerEntry] = {}
    admitted: dict[int, dict[str, Any]] = {}
    for customer_pk, payload in payloads.items():
        problems = payload_problems(trigger, payload)
        if problems:
            customers[customer_pk] = CustomerEntry(INVALID_PAYLOAD, problems=tuple(problems))
        elif not trigger_conditions_met(trigger, payload):
            customers[customer_pk] = CustomerEntry(Outcome.CONDITIONS_NOT_MET.value)
        else:
            admitted[customer_pk] = payload
    result = EntryResult()
    if admitted:
        result = journey_enroll(
            journey=entry.target.journey,
            version=entry.target.version,
            customers=active_customers(workspace).filter(pk__in=list(admitted)),
            payload={},
            payloads=admitted,
            profile=entry.profile,
            tenant_id=entry.tenant_id,
            return_runs=True,
            dry_run=entry.dry_run,
            now=entry.now,
        )
    for customer_pk in admitted:
        outcome = result.by_customer.get(customer_pk)
        run = result.runs.get(customer_pk)
        customers[customer_pk] = CustomerEntry(
            outcome.value if outcome else NOT_FOUND, run_id=run.public_id if run else None
        )
    statuses = Counter(each.status for each in customers.values())
    result.outcomes[Outcome.CONDITIONS_NOT_MET] += statuses[Outcome.CONDITIONS_NOT_MET]
    return TriggerResult(
        bulk=True,
        entry=result,
        not_found=statuses[NOT_FOUND],
        customers=customers,
        dry_run=entry.dry_run,
    )


def list_size_check(name: str, values: Sequence[Any] | None, limit: int) -> None:
    """The seed's "Array size exceeded" for a list of the audience over its limit."""
    if values is not None and len(values) > limit:
        raise InvalidRequest(
            f"Array size exceeded: {name} has {len(values):,} entries; the maximum is {limit:,}"
        )


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


def payload_problems(
    trigger: TriggerSpec, payload: dict[str, Any], payload_name: str = "payload"
) -> list[dict[str, Any]]:
    """Type errors of payload fields declared in the trigger schema, and fields marked
    ``required`` that are missing (or null), as the ``problems`` of a 400.

    Other missing fields are not errors: a run that reaches a step needing one fails
    there, which is what a caller with an evolving payload expects.
    """
    problems = []
    for schema_field in trigger.schema:
        name, expected = schema_field.name, schema_field.type
        where = f"{payload_name}.{name}"
        value = payload.get(name)
        if value is None:
            if schema_field.required:
                problems.append(problem_entry(f"{where} is required ({expected})", field=where))
            continue
        check = _SCHEMA_CHECKS.get(expected)
        if check and not check(value):
            message = f"{where}: expected {expected}, got {type(value).__name__}"
            problems.append(problem_entry(message, field=where))
    return problems


def payload_check(
    trigger: TriggerSpec, payload: dict[str, Any], payload_name: str = "payload"
) -> None:
    problems = payload_problems(trigger, payload, payload_name)
    if problems:
        raise InvalidRequest(problems[0]["message"], problems=problems)


def trigger_conditions_met(trigger: TriggerSpec, payload: dict[str, Any]) -> bool:
    """The journey's trigger conditions, which only see the trigger (not the customer)."""
    if not trigger.conditions:
        return True
    return condition_evaluate(trigger.conditions, entry_constants(payload=payload))
