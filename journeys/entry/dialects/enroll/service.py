"""The enroll dialect's rules: e-mail addresses in, addresses by outcome out.

Addresses are normalised (trimmed, lower-cased) and de-duplicated across both lists;
the contacts and the lists' members become one audience query that the trigger service
enrolls as a bulk trigger, in a handful of statements however many addresses there are.
The entry core reports who was not enrolled and why, by customer; one more query turns
those customers back into addresses.

Entry rules: the dialect's two rules come on top of the journey's own (see
:func:`enroll_entry_rules`), so the enroll API never lets in anyone the native trigger
would keep out.
"""

from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import Q

from customers.errors import InvalidRequest, NotFound, Unprocessable
from customers.models import Customer, Workspace, normalize_email
from customers.selectors import active_customers
from journeys.entry.core import Outcome
from journeys.entry.service import Audience, journey_trigger
from journeys.models import Journey
from journeys.spec import EntryRules
from segments.selectors import segment_members_q, segments_by_list_email

MAX_CONTACTS = 1000
MAX_LISTS = 100
#: "Contacts cannot have completed the journey within the last 12 hours."
RECENT_COMPLETION_SECONDS = 12 * 3600
#: The vendor calls a live journey "on"; a paused one is "off".
VENDOR_STATES = {
    Journey.Status.DRAFT: "draft",
    Journey.Status.LIVE: "on",
    Journey.Status.PAUSED: "off",
    Journey.Status.ARCHIVED: "archived",
}
NO_ADDRESSES = "at least one of contact_email_addresses or list_email_addresses must be provided"
#: The answer's reasons, in the vendor's order; the last two are this product's own
#: rules and appear only when someone was kept out by them.
REASONS = (
    Outcome.ALREADY_ENROLLED,
    Outcome.RECENTLY_COMPLETED,
    Outcome.MAX_ENTRIES_REACHED,
    Outcome.CONDITIONS_NOT_MET,
)
OPTIONAL_REASONS = (Outcome.MAX_ENTRIES_REACHED, Outcome.CONDITIONS_NOT_MET)
#: Customers turned back into addresses per query (well under PostgreSQL's parameters).
ADDRESS_BATCH = 5000


class EnrollInvalid(Unprocessable):
    """A 422 in the vendor's validation shape: ``{"error": {"base": ["..."]}}``."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        field_name, messages = next(iter(problems.items()))
        super().__init__(f"{field_name}: {messages[0]}")
        self.problems = problems

    def as_json(self) -> dict[str, Any]:
        return {"error": self.problems}


@dataclass(frozen=True)
class EnrollResult:
    enrolled_count: int
    #: Addresses by reason: ``not_found`` (contacts only) and each outcome's value.
    not_enrolled: dict[str, list[str]] = field(default_factory=dict)


def enroll_entry_rules(rules: EntryRules) -> EntryRules:
    """The journey's entry rules with the dialect's two on top.

    "Cannot be currently enrolled": an active run is never replaced, whatever
    ``restart_active`` says. "Cannot have completed within the last 12 hours": the
    re-entry cooldown is at least 12 hours. Everything else is the journey's: without
    re-entry a customer still enters once, ever (a completed run answers
    ``already_enrolled``), the entry maximum and entry conditions still hold.
    """
    return replace(
        rules,
        restart_active=False,
        reentry_cooldown_seconds=max(rules.reentry_cooldown_seconds, RECENT_COMPLETION_SECONDS),
    )


def journey_contacts_enroll(
    *,
    workspace: Workspace,
    journey_id: str,
    contact_emails: list[str] | None,
    list_emails: list[str] | None,
) -> EnrollResult:
    """Enroll the contacts and the lists' members into the journey, each once.

    Errors, in this order: 404 for a journey the workspace does not have, 422 for one
    that is not live ("on"), for no address at all, for a list address that names no
    list (or several).
    """
    _journey_check_on(workspace=workspace, journey_id=journey_id)
    contacts = _addresses(contact_emails)
    lists = _addresses(list_emails)
    if not contacts and not lists:
        raise EnrollInvalid({"base": [NO_ADDRESSES]})
    members = _lists_members_q(workspace=workspace, list_emails=lists)
    chosen = Customer.objects.filter(Q(email__in=contacts) | members, workspace=workspace)
    try:
        result = journey_trigger(
            workspace=workspace,
            journey_id=journey_id,
            audience=Audience(customers=chosen),
            payload={},
            entry_rules=enroll_entry_rules,
            report=True,
        )
    except InvalidRequest as error:
        # An event-triggered journey, or one whose payload schema requires fields this
        # API cannot send: the vendor's "invalid request".
        raise Unprocessable(error.message, **error.details) from None
    found = set(
        active_customers(workspace).filter(email__in=contacts).values_list("email", flat=True)
    )
    not_enrolled = {"not_found": [address for address in contacts if address not in found]}
    by_reason = _addresses_by_outcome(result.entry.not_enrolled)
    for reason in REASONS:
        if reason not in OPTIONAL_REASONS or by_reason.get(reason):
            not_enrolled[reason.value] = sorted(by_reason.get(reason, ()))
    return EnrollResult(enrolled_count=result.entry.enrolled_count, not_enrolled=not_enrolled)


def _journey_check_on(*, workspace: Workspace, journey_id: str) -> None:
    status = (
        Journey.objects.filter(workspace=workspace, public_id=journey_id)
        .values_list("status", flat=True)
        .first()
    )
    if status is None:
        raise NotFound("Journey not found")
    if status != Journey.Status.LIVE:
        raise Unprocessable(
            "Journey must be in 'on' state to enroll people. "
            f"Current state: {VENDOR_STATES.get(status, status)}"
        )


def _addresses(values: list[str] | None) -> list[str]:
    """Normalised, blank ones dropped, each once, in the order given."""
    normalised = (normalize_email(value) for value in values or ())
    return list(dict.fromkeys(address for address in normalised if address))


def _lists_members_q(*, workspace: Workspace, list_emails: list[str]) -> Q:
    """Members of the lists the addresses name; each address must name exactly one."""
    if not list_emails:
        return Q(pk__in=[])
    found = segments_by_list_email(workspace=workspace, list_emails=list_emails)
    for address, segments in found.items():
        if not segments:
            raise Unprocessable(f"No list found with email address: {address}")
        if len(segments) > 1:
            raise Unprocessable(
                f"Multiple lists ({len(segments)}) found with email address: {address}. "
                "Please ensure each list has a unique email address."
            )
    return segment_members_q(segment for matches in found.values() for segment in matches)


def _addresses_by_outcome(outcomes: dict[int, Outcome]) -> dict[Outcome, list[str]]:
    """Each customer's address (its public id if it has none: a list member may not)."""
    by_outcome: dict[Outcome, list[str]] = {}
    pks = list(outcomes)
    for start in range(0, len(pks), ADDRESS_BATCH):
        rows = Customer.objects.filter(pk__in=pks[start : start + ADDRESS_BATCH]).values_list(
            "pk", "email", "public_id"
        )
        for pk, email, public_id in rows:
            by_outcome.setdefault(outcomes[pk], []).append(email or public_id)
    return by_outcome
