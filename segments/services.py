"""Segment services: create segments and change a static segment's members in bulk.

Membership changes are set-based whatever their size (up to 1,000 ids per list): one
query resolves the identifiers to customers, one statement inserts or deletes the
memberships. A loop of per-customer queries would make a 1,000-id call take seconds.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from customers.errors import Conflict, InvalidRequest, NotFound
from customers.models import Customer, Workspace, normalize_email
from customers.problems import problem_entry
from customers.selectors import customers_by_identifiers
from segments.conditions import condition_fields, condition_problems, condition_to_q
from segments.models import Segment, SegmentMembership
from segments.signals import segment_members_joined

#: Per list (external_ids, emails) and request, like the trigger API's bulk limits.
MAX_MEMBERS_PER_REQUEST = 1000


@dataclass(frozen=True)
class MembersAdded:
    added: int
    already_members: int
    not_found: int


@dataclass(frozen=True)
class MembersRemoved:
    removed: int
    not_members: int
    not_found: int


def segment_get(*, workspace: Workspace, segment_id: str) -> Segment:
    """The segment with this public id in this workspace; anything else is a 404."""
    segment = Segment.objects.filter(workspace=workspace, public_id=segment_id).first()
    if segment is None:
        raise NotFound("segment not found")
    return segment


def segment_member_count(*, segment: Segment) -> int:
    """How many customers belong now: explicit members, or those the condition matches."""
    if segment.kind == Segment.Kind.DYNAMIC:
        return (
            Customer.objects.filter(workspace_id=segment.workspace_id)
            .filter(condition_to_q(segment.conditions))
            .count()
        )
    return segment.memberships.count()


@transaction.atomic
def segment_create(
    *,
    workspace: Workspace,
    name: str,
    kind: str,
    list_email: str | None = None,
    conditions: dict[str, Any] | None = None,
) -> Segment:
    """Create a static list (optionally addressable by ``list_email``) or a dynamic segment.

    A dynamic segment's condition is validated here, once, so that bulk entry and member
    counts never meet a condition they cannot compile.
    """
    name = (name or "").strip()
    if not name:
        raise InvalidRequest("name: required", field="name")
    if kind not in Segment.Kind.values:
        raise InvalidRequest(f"kind: must be one of {', '.join(Segment.Kind.values)}", field="kind")
    list_email = normalize_email(list_email)
    if kind == Segment.Kind.STATIC:
        if conditions is not None:
            raise InvalidRequest(
                "conditions: only dynamic segments have conditions; static segments have "
                "explicit members",
                field="conditions",
            )
    else:
        if list_email is not None:
            raise InvalidRequest(
                "list_email: only static segments can have a list email address",
                field="list_email",
            )
        if conditions is None:
            raise InvalidRequest("conditions: required for a dynamic segment", field="conditions")
        problems = condition_problems(conditions, path="conditions") or [
            f"{location}: {field!r} is not a customer field; a segment's conditions can "
            "only read customer.*"
            for location, field in condition_fields(conditions)
            if field.split(".")[0] != "customer"
        ]
        if problems:
            raise InvalidRequest(
                f"conditions are invalid: {problems[0]}",
                field="conditions",
                problems=[problem_entry(text, field=text.split(": ", 1)[0]) for text in problems],
            )

    if list_email is not None and _list_email_taken(workspace=workspace, list_email=list_email):
        raise _list_email_conflict(list_email)
    try:
        with transaction.atomic():
            return Segment.objects.create(
                workspace=workspace,
                name=name,
                kind=kind,
                list_email=list_email,
                conditions=conditions,
            )
    except IntegrityError:
        # A concurrent create took the same list email since we checked.
        raise _list_email_conflict(list_email) from None


def _list_email_taken(*, workspace: Workspace, list_email: str) -> bool:
    return Segment.objects.filter(workspace=workspace, list_email=list_email).exists()


def _list_email_conflict(list_email: str | None) -> Conflict:
    return Conflict(
        f"list_email {list_email!r} already names another segment in this workspace",
        field="list_email",
    )


def _clean_member_identifiers(
    external_ids: Iterable[str], emails: Iterable[str]
) -> tuple[list[str], list[str]]:
    """De-duplicated ids and normalised emails, within the per-request limits."""
    external_ids = list(dict.fromkeys(value for value in external_ids if value))
    emails = list(dict.fromkeys(e for e in (normalize_email(v) for v in emails) if e))
    for field, values in (("external_ids", external_ids), ("emails", emails)):
        if len(values) > MAX_MEMBERS_PER_REQUEST:
            raise InvalidRequest(
                f"{field}: at most {MAX_MEMBERS_PER_REQUEST} entries per request "
                f"(got {len(values)})",
                field=field,
                limit=MAX_MEMBERS_PER_REQUEST,
            )
    if not external_ids and not emails:
        raise InvalidRequest.one_of_required(["external_ids", "emails"])
    return external_ids, emails


def _resolve(
    *, segment: Segment, external_ids: list[str], emails: list[str]
) -> tuple[set[int], int]:
    """Customer pks named by the identifiers (one query) and how many identifiers matched none.

    A customer named twice (by id and by email) counts once; identifiers that match
    nobody are counted, not listed, like the trigger API's silently skipped ids.
    """
    rows = customers_by_identifiers(
        workspace=segment.workspace, external_ids=external_ids, emails=emails
    ).values_list("pk", "external_id", "email")
    pks: set[int] = set()
    found_external_ids: set[str] = set()
    found_emails: set[str] = set()
    for pk, external_id, email in rows:
        pks.add(pk)
        found_external_ids.add(external_id)
        found_emails.add(email)
    not_found = sum(1 for value in external_ids if value not in found_external_ids) + sum(
        1 for value in emails if value not in found_emails
    )
    return pks, not_found


def _require_static(segment: Segment) -> None:
    if segment.kind != Segment.Kind.STATIC:
        raise Conflict("dynamic segments get their members from their conditions")


@transaction.atomic
def segment_members_add(
    *, segment: Segment, external_ids: Iterable[str] = (), emails: Iterable[str] = ()
) -> MembersAdded:
    """Add customers (by external id and/or email) to a static segment.

    The segment row is locked (``FOR NO KEY UPDATE``: it does not block inserts that
    merely reference it) so that concurrent changes to the same segment report exact
    counts; ``ON CONFLICT DO NOTHING`` keeps the insert itself idempotent regardless.
    """
    _require_static(segment)
    external_ids, emails = _clean_member_identifiers(external_ids, emails)
    list(Segment.objects.select_for_update(no_key=True).filter(pk=segment.pk).values_list("pk"))
    pks, not_found = _resolve(segment=segment, external_ids=external_ids, emails=emails)
    existing = set(
        SegmentMembership.objects.filter(segment=segment, customer_id__in=pks).values_list(
            "customer_id", flat=True
        )
    )
    new = pks - existing
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment=segment, customer_id=pk) for pk in sorted(new)],
        ignore_conflicts=True,
    )
    if new:  # segment triggers enter them (journeys.entry.segment_entries)
        segment_members_joined.send(Segment, segment=segment, customer_ids=sorted(new))
    return MembersAdded(added=len(new), already_members=len(existing), not_found=not_found)


@transaction.atomic
def segment_members_remove(
    *, segment: Segment, external_ids: Iterable[str] = (), emails: Iterable[str] = ()
) -> MembersRemoved:
    """Remove customers from a static segment; the DELETE's row count is the exact answer."""
    _require_static(segment)
    external_ids, emails = _clean_member_identifiers(external_ids, emails)
    pks, not_found = _resolve(segment=segment, external_ids=external_ids, emails=emails)
    removed = 0
    if pks:
        removed, _ = SegmentMembership.objects.filter(segment=segment, customer_id__in=pks).delete()
    return MembersRemoved(removed=removed, not_members=len(pks) - removed, not_found=not_found)
