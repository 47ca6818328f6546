"""When a send window is open, and when it next opens: journeys.engine.send_windows.

Pure functions of a window, a zone and a moment (no database, no clock). Explicit
cases pin the DST rules down; properties hold inside and the next opening together
over every zone the system knows and moments from 1990 to 2040.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.engine.send_windows import WEEKDAYS, send_window_opening, send_window_zone

WEEKDAYS_9_TO_5 = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def local(zone, *parts, fold=0):
    return datetime(*parts, tzinfo=zone, fold=fold)


def every_day(start, end):
    return {"days": list(WEEKDAYS), "start": start, "end": end}


# --- explicit cases --------------------------------------------------------------------


def test_inside_a_window_nothing_waits():
    assert send_window_opening(WEEKDAYS_9_TO_5, BERLIN, local(BERLIN, 2024, 6, 5, 9, 0)) is None
    assert send_window_opening(WEEKDAYS_9_TO_5, BERLIN, local(BERLIN, 2024, 6, 5, 16, 59)) is None


def test_the_end_is_not_inside_and_the_next_opening_is_the_next_allowed_day():
    opening = send_window_opening(WEEKDAYS_9_TO_5, BERLIN, local(BERLIN, 2024, 6, 5, 17, 0))
    assert opening == local(BERLIN, 2024, 6, 6, 9, 0)
    assert opening.tzinfo == UTC


def test_before_the_start_it_opens_the_same_day():
    opening = send_window_opening(WEEKDAYS_9_TO_5, BERLIN, local(BERLIN, 2024, 6, 5, 7, 30))
    assert opening == local(BERLIN, 2024, 6, 5, 9, 0)


def test_weekdays_only_asked_on_friday_evening_opens_on_monday_morning():
    opening = send_window_opening(WEEKDAYS_9_TO_5, NEW_YORK, local(NEW_YORK, 2024, 6, 7, 18, 0))
    assert opening.astimezone(NEW_YORK) == local(NEW_YORK, 2024, 6, 10, 9, 0)


def test_a_weekend_that_changes_the_clocks_still_opens_at_nine_on_monday():
    # Berlin springs forward on Sunday 2024-03-31: Friday is UTC+1, Monday UTC+2.
    opening = send_window_opening(WEEKDAYS_9_TO_5, BERLIN, local(BERLIN, 2024, 3, 29, 18, 0))
    assert opening == datetime(2024, 4, 1, 7, 0, tzinfo=UTC)


def test_a_start_skipped_by_spring_forward_opens_when_the_clocks_jump():
    # New York, 2024-03-10: 02:00 EST becomes 03:00 EDT; 02:15 never happens.
    window = every_day("02:15", "09:00")
    opening = send_window_opening(window, NEW_YORK, local(NEW_YORK, 2024, 3, 10, 1, 0))
    assert opening == datetime(2024, 3, 10, 7, 0, tzinfo=UTC)  # 03:00 EDT
    assert opening.astimezone(NEW_YORK).hour == 3
    assert send_window_opening(window, NEW_YORK, opening) is None
    assert send_window_opening(window, NEW_YORK, opening - timedelta(seconds=1)) == opening


def test_berlin_spring_forward_start_in_the_gap():
    # Berlin, 2024-03-31: 02:00 CET becomes 03:00 CEST.
    window = every_day("02:30", "05:00")
    opening = send_window_opening(window, BERLIN, local(BERLIN, 2024, 3, 30, 23, 0))
    assert opening == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)  # 03:00 CEST


def test_a_half_hour_dst_gap_lord_howe():
    # Lord Howe Island, 2024-10-06: 02:00 becomes 02:30 (a 30-minute change).
    zone = ZoneInfo("Australia/Lord_Howe")
    opening = send_window_opening(every_day("02:10", "06:00"), zone, local(zone, 2024, 10, 6, 1))
    assert opening.astimezone(zone).replace(tzinfo=None) == datetime(2024, 10, 6, 2, 30)


def test_an_ambiguous_start_takes_the_first_occurrence_on_fall_back():
    # New York, 2024-11-03: 01:00-02:00 happens twice (EDT, then EST).
    window = every_day("01:30", "09:00")
    opening = send_window_opening(window, NEW_YORK, local(NEW_YORK, 2024, 11, 3, 0, 0))
    assert opening == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT
    # Once open it stays open through the repeated hour (01:10 EST is later than 01:30 EDT).
    assert (
        send_window_opening(window, NEW_YORK, local(NEW_YORK, 2024, 11, 3, 1, 10, fold=1)) is None
    )


def test_an_ambiguous_end_closes_at_its_first_occurrence():
    window = every_day("00:00", "01:30")
    first_pass = local(NEW_YORK, 2024, 11, 3, 1, 10)  # EDT, inside
    second_pass = local(NEW_YORK, 2024, 11, 3, 1, 10, fold=1)  # EST, after the close
    assert send_window_opening(window, NEW_YORK, first_pass) is None
    assert send_window_opening(window, NEW_YORK, second_pass) == local(NEW_YORK, 2024, 11, 4, 0, 0)


def test_fall_back_weekday_window_opens_at_nine_local_time():
    # Berlin falls back on Sunday 2024-10-27: Monday 09:00 is UTC+1 again.
    opening = send_window_opening(WEEKDAYS_9_TO_5, BERLIN, local(BERLIN, 2024, 10, 25, 17, 30))
    assert opening == datetime(2024, 10, 28, 8, 0, tzinfo=UTC)


def test_an_end_of_24_00_means_midnight():
    window = every_day("22:00", "24:00")
    assert send_window_opening(window, BERLIN, local(BERLIN, 2024, 6, 5, 23, 59, 59)) is None
    opening = send_window_opening(window, BERLIN, local(BERLIN, 2024, 6, 6, 0, 0))
    assert opening == local(BERLIN, 2024, 6, 6, 22, 0)


def test_kiritimati_skipped_a_whole_saturday():
    # Pacific/Kiritimati went from UTC-10 to UTC+14 at the end of 1994-12-30: there was
    # no 1994-12-31 there.
    zone = ZoneInfo("Pacific/Kiritimati")
    friday_evening = local(zone, 1994, 12, 30, 18, 0)
    daily = every_day("09:00", "17:00")
    assert send_window_opening(daily, zone, friday_evening) == local(zone, 1995, 1, 1, 9, 0)
    saturdays = {"days": ["sat"], "start": "09:00", "end": "17:00"}
    assert send_window_opening(saturdays, zone, friday_evening) == local(zone, 1995, 1, 7, 9, 0)


def test_kiritimati_today_is_a_day_ahead_of_utc():
    zone = ZoneInfo("Pacific/Kiritimati")  # UTC+14
    # Sunday 20:00 UTC is Monday 10:00 there: inside a weekday window.
    assert send_window_opening(WEEKDAYS_9_TO_5, zone, datetime(2024, 6, 9, 20, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("customer_zone", "workspace_zone", "expected"),
    [
        ("Europe/Berlin", "America/New_York", "Europe/Berlin"),
        ("", "America/New_York", "America/New_York"),
        ("Mars/Olympus_Mons", "America/New_York", "America/New_York"),
        ("../../etc/passwd", "Asia/Tokyo", "Asia/Tokyo"),
        ("Europe/Berlin\x00", "Asia/Tokyo", "Asia/Tokyo"),
        ("", "", "UTC"),
        ("nowhere", "nowhere either", "UTC"),
    ],
)
def test_the_zone_is_the_customers_else_the_workspaces_else_utc(
    customer_zone, workspace_zone, expected
):
    assert send_window_zone(customer_zone, workspace_zone) == ZoneInfo(expected)


# --- properties ------------------------------------------------------------------------

ZONES = sorted(available_timezones())
CLOCKS = st.integers(min_value=0, max_value=24 * 60)


def _clock(minutes):
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def windows(draw):
    start, end = sorted(draw(st.lists(CLOCKS, min_size=2, max_size=2, unique=True)))
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    return {"days": [day for day in WEEKDAYS if day in days], "start": _clock(start),
            "end": _clock(end)}  # fmt: skip


moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


def _steady(zone, moment):
    """No change of the zone's offset within a day either side of ``moment``."""
    offsets = {(moment + timedelta(hours=hours)).astimezone(zone).utcoffset()
               for hours in range(-26, 27)}  # fmt: skip
    return len(offsets) == 1


@settings(max_examples=400, deadline=None)
@given(window=windows(), zone=st.sampled_from(ZONES), moment=moments, share=st.floats(0, 1))
def test_the_next_opening_is_inside_and_nothing_before_it_is(window, zone, moment, share):
    zone = ZoneInfo(zone)
    opening = send_window_opening(window, zone, moment)
    if opening is None:
        return
    assert opening > moment
    assert opening - moment <= timedelta(days=15)
    assert send_window_opening(window, zone, opening) is None
    # Any moment between is outside, and waits for the same opening.
    between = moment + (opening - moment) * share
    if between < opening:
        assert send_window_opening(window, zone, between) == opening
    assert send_window_opening(window, zone, opening - timedelta(microseconds=1)) == opening


@settings(max_examples=400, deadline=None)
@given(window=windows(), zone=st.sampled_from(ZONES), moment=moments)
def test_away_from_clock_changes_inside_is_the_wall_clock_and_openings_are_at_start(
    window, zone, moment
):
    zone = ZoneInfo(zone)
    wall = moment.astimezone(zone)
    minutes = wall.hour * 60 + wall.minute + wall.second / 60 + wall.microsecond / 60e6
    start = int(window["start"][:2]) * 60 + int(window["start"][3:])
    end = int(window["end"][:2]) * 60 + int(window["end"][3:])
    opening = send_window_opening(window, zone, moment)
    if _steady(zone, moment):
        on_the_wall = WEEKDAYS[wall.weekday()] in window["days"] and start <= minutes < end
        assert (opening is None) == on_the_wall
    if opening is not None and _steady(zone, opening):
        local_opening = opening.astimezone(zone)
        assert WEEKDAYS[local_opening.weekday()] in window["days"]
        assert (local_opening.hour * 60 + local_opening.minute, local_opening.second) == (start, 0)
