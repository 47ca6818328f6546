"""Reads over segments that other apps build on (bulk entry resolves segments here)."""

from collections.abc import Iterable

from django.db.models import Q
from django.db.models.functions import Lower, Trim

from customers.errors import InvalidRequest
from customers.models import Workspace
from segments.conditions import condition_to_q
from segments.models import Segment, SegmentMembership


def segments_resolve(*, workspace: Workspace, segment_ids: Iterable[str]) -> list[Segment]:
    """Every segment named, or an error naming each id the workspace does not have.

    One unknown id fails the whole request (the native trigger seed's rule): enrolling
    part of an audience and silently dropping the rest is worse than enrolling none.
    """
    wanted = list(dict.fromkeys(segment_ids))
    found = {
        s.public_id: s for s in Segment.objects.filter(workspace=workspace, public_id__in=wanted)
    }
    missing = [segment_id for segment_id in wanted if segment_id not in found]
    if missing:
        raise InvalidRequest(
            f"Error resolving segments: no segment {', '.join(missing)} in this workspace",
            missing_segment_ids=missing,
        )
    return [found[segment_id] for segment_id in wanted]


def segments_by_list_email(
    *, workspace: Workspace, list_emails: Iterable[str]
) -> dict[str, list[Segment]]:
    """The static lists each (normalised) address names, in one query.

    Addresses are unique per workspace and stored normalised, so each names at most one
    list; the match still normalises the stored side, so that a row written around the
    model's normalisation shows up as a second list for the same address rather than
    as no list at all.
    """
    wanted = list(dict.fromkeys(list_emails))
    found: dict[str, list[Segment]] = {address: [] for address in wanted}
    if not wanted:
        return found
    lists = (
        Segment.objects.filter(workspace=workspace, list_email__isnull=False)
        .annotate(address=Lower(Trim("list_email")))
        .filter(address__in=wanted)
        .order_by("pk")
    )
    for segment in lists:
        found[segment.address].append(segment)
    return found


def segment_members_q(segments: Iterable[Segment]) -> Q:
    """A condition over Customer matching anyone in any of ``segments``.

    Static members come through a ``pk IN (subquery)`` semi-join, so a customer in two
    segments still appears once; dynamic segments compile their condition to SQL.
    """
    segments = list(segments)
    static_ids = [s.pk for s in segments if s.kind == Segment.Kind.STATIC]
    members = Q(pk__in=[])
    if static_ids:
        memberships = SegmentMembership.objects.filter(segment_id__in=static_ids)
        members |= Q(pk__in=memberships.values("customer_id"))
    for segment in segments:
        if segment.kind == Segment.Kind.DYNAMIC:
            members |= condition_to_q(segment.conditions)
    return members
