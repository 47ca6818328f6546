"""Reads over segments that other apps build on (bulk entry resolves segments here)."""

from collections.abc import Iterable

from django.db.models import Q

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
