"""Send windows (quiet hours): when a message to a person may go out, in their time zone.

A window (the canonical ``send_window`` of a journey or a send step, see
:func:`journeys.authoring.definition._send_window`) names days of the week and a time
of day ``start``-``end``, read on the wall clock of a zone. On each allowed local date
it is the span of instants ``[opening, closing)``, where a wall-clock time is made an
instant thus:

- a time skipped by a DST change (02:30 on a spring-forward night) becomes the first
  valid instant after it (the moment the clocks jump, 03:00);
- a time that occurs twice (01:30 on a fall-back night) takes the first occurrence;
- ``24:00`` is midnight at the start of the next day.

Inside and the next opening are both answered from those spans, so they agree by
construction: a moment is inside when some allowed date's span holds it, and the next
opening is the earliest span start after it. A date whose span is empty (a Saturday a
zone skipped entirely, as Pacific/Kiritimati did on 1994-12-31) has no window.

Pure: no database, no clock; the walker (:mod:`journeys.engine.walker`) passes the moment.
"""

import functools
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: How far ahead the next opening is looked for, in local dates: a week, plus room for
#: a whole day skipped by a zone's change of side of the date line.
_HORIZON_DAYS = 15


@functools.lru_cache(maxsize=1024)
def zone_get(name: str) -> ZoneInfo | None:
    """The IANA zone of that name, or None when the name is blank or names no zone.
    (Cached: ``ZoneInfo`` caches the zones it finds, not the names it fails on.)"""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def send_window_zone(customer_zone: str, workspace_zone: str) -> ZoneInfo:
    """The zone a window is read in: the customer's if it names an IANA zone, else the
    workspace's, else UTC."""
    return zone_get(customer_zone) or zone_get(workspace_zone) or ZoneInfo("UTC")


def send_window_opening(
    window: Mapping[str, Any], zone: ZoneInfo, moment: datetime
) -> datetime | None:
    """None when ``moment`` (an aware datetime) is inside the window; otherwise the next
    instant the window opens (aware, in UTC), which is after ``moment``."""
    days = {WEEKDAYS.index(day) for day in window.get("days") or WEEKDAYS}
    start, end = _minutes(window["start"]), _minutes(window["end"])
    moment = moment.astimezone(UTC)
    today = moment.astimezone(zone).date()
    # The span of the day before may still hold the moment (a gap at midnight delays
    # "24:00"); spans start in order of their dates, so the first one ahead is the next.
    for offset in range(-1, _HORIZON_DAYS):
        local_date = today + timedelta(days=offset)
        if local_date.weekday() not in days:
            continue
        opening = _instant(local_date, start, zone)
        closing = _instant(local_date, end, zone)
        if opening >= closing:
            continue  # the zone skipped this date's window entirely
        if opening <= moment < closing:
            return None
        if opening > moment:
            return opening
    raise ValueError(f"send window {dict(window)!r} does not open within {_HORIZON_DAYS} days")


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _instant(local_date: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The instant (UTC) at which ``zone``'s wall clock first reads that time on that
    date, or, for a time the clocks skip, the instant they jump past it."""
    local_date += timedelta(days=minutes // 1440)
    minutes %= 1440
    wall = datetime.combine(local_date, time(minutes // 60, minutes % 60))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # it exists (fold=0 is the earlier of two occurrences)
    # Skipped. fold=0 read it with the offset before the change, giving an instant after
    # the jump; fold=1 with the offset after, one before it. The jump lies between:
    # find the first second whose offset is the later one.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    offset_after = first.astimezone(zone).utcoffset()
    low, high = before, first  # offset at low: the earlier one; at high: the later one
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return high
