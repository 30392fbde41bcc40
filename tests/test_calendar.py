"""The time rules of the journey language (DESIGN.md, "Time rules"), as examples and properties."""

from calendar import monthrange
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.calendar import (
    CALENDAR_NAMES,
    UNITS,
    Duration,
    add_days,
    end_of_day,
    get_calendar,
    local_date,
    local_time,
    parse_duration,
    reminder_time,
    shift,
)

LONDON = ZoneInfo("Europe/London")
BUCHAREST = ZoneInfo("Europe/Bucharest")
EW = get_calendar("england-and-wales")

calendars = st.sampled_from(CALENDAR_NAMES).map(get_calendar)
dates = st.dates(min_value=date(1995, 1, 1), max_value=date(2060, 12, 31))
zones = st.sampled_from([LONDON, BUCHAREST])


def last_sunday(year: int, month: int) -> date:
    last = date(year, month, monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() + 1) % 7)


def dst_change(year: int, month: int) -> datetime:
    """EU rule: both zones change at 01:00 UTC on the last Sunday of March and October."""
    return datetime.combine(last_sunday(year, month), time(1), tzinfo=UTC)


# --- the worked example -------------------------------------------------------------------


def test_two_working_days_after_christmas_eve_skips_christmas_and_substitute_boxing_day():
    referral = datetime(2026, 12, 24, 15, 30, tzinfo=LONDON)
    due = shift(referral, parse_duration("2 working days"), +1, EW, LONDON)
    assert due == end_of_day(date(2026, 12, 30), LONDON)
    assert due.isoformat() == "2026-12-30T23:59:59+00:00"
    assert due.tzinfo is UTC


# --- holidays per calendar ----------------------------------------------------------------


def test_substitute_boxing_day_is_not_a_working_day():
    assert date(2026, 12, 26).weekday() == 5  # Saturday
    assert not EW.is_working_day(date(2026, 12, 28))
    assert EW.holidays_between(date(2026, 12, 24), date(2026, 12, 31)) == [
        date(2026, 12, 25),
        date(2026, 12, 26),
        date(2026, 12, 28),
    ]


def test_scotland_second_of_january_and_st_andrews_day_substitute():
    scotland = get_calendar("scotland")
    assert not scotland.is_working_day(date(2026, 1, 2))
    assert EW.is_working_day(date(2026, 1, 2))
    # 30 November 2025 is a Sunday: Monday 1 December is the substitute day
    assert not scotland.is_working_day(date(2025, 12, 1))
    assert EW.is_working_day(date(2025, 12, 1))
    assert not scotland.is_working_day(date(2026, 11, 30))


def test_northern_ireland_st_patricks_day_and_twelfth_of_july():
    ni = get_calendar("northern-ireland")
    for day in (
        date(2026, 3, 17),
        date(2027, 7, 12),
        date(2026, 7, 13),
    ):  # 12 July 2026 is a Sunday
        assert not ni.is_working_day(day)
        assert EW.is_working_day(day)


def test_romania_keeps_orthodox_easter_monday_not_western():
    romania = get_calendar("romania")
    assert not romania.is_working_day(date(2026, 4, 13))  # Orthodox Easter Monday
    assert romania.is_working_day(date(2026, 4, 6))  # Western Easter Monday
    assert not romania.is_working_day(date(2027, 5, 3))
    assert not EW.is_working_day(date(2026, 4, 6))


def test_weekends_are_not_working_days():
    assert not EW.is_working_day(date(2026, 6, 6))
    assert not EW.is_working_day(date(2026, 6, 7))
    assert EW.is_working_day(date(2026, 6, 8))


def test_get_calendar_is_cached_and_rejects_unknown_names():
    assert get_calendar("scotland") is get_calendar("scotland")
    assert get_calendar("scotland").name == "scotland"
    with pytest.raises(ValueError, match=r"unknown calendar 'wales' \(expected one of: .*romania"):
        get_calendar("wales")


@given(calendars, dates)
def test_is_working_day_agrees_with_the_holidays_package(cal, d):
    country, subdiv = {
        "england-and-wales": ("GB", "ENG"),
        "scotland": ("GB", "SCT"),
        "northern-ireland": ("GB", "NIR"),
        "romania": ("RO", None),
    }[cal.name]
    public = holidays.country_holidays(country, subdiv=subdiv, years=d.year)
    assert cal.is_working_day(d) == (d.weekday() < 5 and d not in public)


# --- working days -------------------------------------------------------------------------


def walk(cal, d: date, n: int) -> date:
    """The rule as written, one day at a time: the oracle for the fast version."""
    step = timedelta(days=1 if n > 0 else -1)
    for _ in range(abs(n)):
        d += step
        while not cal.is_working_day(d):
            d += step
    return d


@given(calendars, dates, st.integers(-300, 300).filter(bool))
def test_working_days_land_on_working_days_and_match_a_day_by_day_walk(cal, d, n):
    result = cal.add_working_days(d, n)
    assert cal.is_working_day(result)
    assert (result > d) if n > 0 else (result < d)
    assert result == walk(cal, d, n)


@given(calendars, dates, st.integers(1, 300))
def test_working_days_after_then_before_round_trips(cal, d, n):
    d = cal.add_working_days(d, 1)  # any working day
    assert cal.add_working_days(cal.add_working_days(d, n), -n) == d
    assert cal.add_working_days(cal.add_working_days(d, -n), n) == d


@given(calendars, dates)
def test_zero_working_days_is_the_same_day(cal, d):
    assert cal.add_working_days(d, 0) == d


def test_one_working_day_before_monday_is_friday():
    assert EW.add_working_days(date(2026, 6, 8), -1) == date(2026, 6, 5)
    assert EW.add_working_days(date(2026, 6, 6), 1) == date(2026, 6, 8)


def test_working_days_cross_the_new_year():
    assert EW.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert EW.add_working_days(date(2027, 1, 4), -1) == date(2026, 12, 31)
    assert EW.add_working_days(date(2026, 12, 24), -260) == walk(EW, date(2026, 12, 24), -260)


# --- end of day and local time ------------------------------------------------------------


@given(zones, st.integers(2000, 2040), st.sampled_from([3, 10]), st.integers(-3, 3))
def test_end_of_day_is_235959_local_on_both_sides_of_a_dst_change(tz, year, month, offset):
    d = last_sunday(year, month) + timedelta(days=offset)
    eod = end_of_day(d, tz)
    assert eod.tzinfo is UTC
    assert eod.astimezone(tz).date() == d
    assert eod.astimezone(tz).time() == time(23, 59, 59)


def test_end_of_day_offsets_change_with_summer_time():
    assert end_of_day(date(2026, 3, 28), LONDON).isoformat() == "2026-03-28T23:59:59+00:00"
    assert end_of_day(date(2026, 3, 29), LONDON).isoformat() == "2026-03-29T22:59:59+00:00"
    assert end_of_day(date(2026, 10, 25), BUCHAREST).isoformat() == "2026-10-25T21:59:59+00:00"
    assert end_of_day(date(2026, 10, 24), BUCHAREST).isoformat() == "2026-10-24T20:59:59+00:00"


def test_local_date_reads_the_instant_in_the_journeys_zone():
    late = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # already 2 June in London and Bucharest
    assert local_date(late, LONDON) == date(2026, 6, 2)
    assert local_date(late, ZoneInfo("UTC")) == date(2026, 6, 1)
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2026, 6, 1), LONDON)


def test_local_time_uses_fold_0_for_skipped_and_repeated_times():
    # 01:30 does not exist on 29 March 2026 in London: read with GMT, i.e. 02:30 BST
    skipped = local_time(date(2026, 3, 29), time(1, 30), LONDON)
    assert skipped == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # 01:30 happens twice on 25 October 2026: the first one, still BST
    repeated = local_time(date(2026, 10, 25), time(1, 30), LONDON)
    assert repeated == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert local_time(date(2026, 10, 25), time(1, 30, fold=1), LONDON) == repeated


# --- durations on dates and instants ------------------------------------------------------


@given(dates, st.integers(1, 120), st.sampled_from([1, -1]))
def test_months_clamp_to_the_end_of_the_target_month(d, n, sign):
    result = add_days(d, Duration(n, "month"), sign, EW)
    months = d.year * 12 + d.month - 1 + sign * n
    assert (result.year, result.month - 1) == divmod(months, 12)
    assert result.day == min(d.day, monthrange(result.year, result.month)[1])


@pytest.mark.parametrize(
    ("start", "sign", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2027, 3, 31), -1, date(2027, 2, 28)),
        (date(2028, 3, 31), -1, date(2028, 2, 29)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2027, 1, 15), -1, date(2026, 12, 15)),
    ],
)
def test_one_month(start, sign, expected):
    assert add_days(start, Duration(1, "month"), sign, EW) == expected


def test_days_and_weeks_count_calendar_days():
    d = date(2026, 12, 24)
    assert add_days(d, Duration(2, "day"), 1, EW) == date(2026, 12, 26)
    assert add_days(d, Duration(8, "week"), -1, EW) == date(2026, 10, 29)
    with pytest.raises(ValueError, match="not day-based"):
        add_days(d, Duration(3, "hour"), 1, EW)
    with pytest.raises(ValueError, match="sign"):
        add_days(d, Duration(3, "day"), 2, EW)


@given(zones, st.integers(2000, 2040), st.integers(1, 24 * 60 - 1), st.booleans())
def test_hours_stay_exact_across_the_spring_change(tz, year, minutes_before, as_local):
    instant = dst_change(year, 3) - timedelta(minutes=minutes_before)
    if as_local:  # the arithmetic must not be wall-clock arithmetic in the input's zone
        instant = instant.astimezone(tz)
    later = shift(instant, Duration(24, "hour"), 1, EW, tz)
    assert later.tzinfo is UTC
    assert later - instant == timedelta(hours=24)
    wall = later.astimezone(tz).replace(tzinfo=None) - instant.astimezone(tz).replace(tzinfo=None)
    assert wall == timedelta(hours=25)
    assert shift(later, Duration(24, "hour"), -1, EW, tz) == instant


@given(zones, st.integers(2000, 2040), st.integers(1, 24 * 60 - 1))
def test_hours_stay_exact_across_the_autumn_change(tz, year, minutes_before):
    instant = dst_change(year, 10) - timedelta(minutes=minutes_before)
    later = shift(instant, Duration(24, "hour"), 1, EW, tz)
    assert later - instant == timedelta(hours=24)
    wall = later.astimezone(tz).replace(tzinfo=None) - instant.astimezone(tz).replace(tzinfo=None)
    assert wall == timedelta(hours=23)


@given(calendars, zones, st.datetimes(datetime(1995, 1, 1), datetime(2060, 1, 1), timezones=zones))
def test_day_based_shifts_land_at_end_of_a_local_day(cal, tz, instant):
    for text in ("3 days", "2 working days", "1 week", "1 month"):
        for sign in (1, -1):
            landed = shift(instant, parse_duration(text), sign, cal, tz)
            assert landed.astimezone(tz).time() == time(23, 59, 59)
            assert (landed > instant) if sign > 0 else (landed < instant)


def test_escalations_count_from_the_due_instant():
    due = end_of_day(date(2027, 1, 6), LONDON)
    assert shift(due, parse_duration("1 day"), 1, EW, LONDON) == end_of_day(
        date(2027, 1, 7), LONDON
    )
    assert shift(due, parse_duration("2 hours"), 1, EW, LONDON) == due + timedelta(hours=2)
    friday = end_of_day(date(2027, 1, 8), LONDON)
    assert shift(friday, Duration(1, "working_day"), 1, EW, LONDON) == end_of_day(
        date(2027, 1, 11), LONDON
    )


def test_hours_refuse_naive_datetimes():
    with pytest.raises(ValueError, match="naive"):
        shift(datetime(2026, 6, 1, 12), Duration(2, "hour"), 1, EW, LONDON)


# --- reminders ----------------------------------------------------------------------------


def test_working_day_reminder_before_a_monday_fires_thursday_0800_local():
    monday = end_of_day(date(2026, 6, 8), LONDON)
    at = reminder_time(monday, parse_duration("2 working days"), EW, LONDON)
    assert at.astimezone(LONDON) == datetime(2026, 6, 4, 8, tzinfo=LONDON)
    assert at.isoformat() == "2026-06-04T07:00:00+00:00"  # BST


def test_working_day_reminder_skips_bank_holidays():
    tuesday_after_easter = end_of_day(date(2027, 3, 30), LONDON)
    at = reminder_time(tuesday_after_easter, parse_duration("2 working days"), EW, LONDON)
    assert at.isoformat() == "2027-03-24T08:00:00+00:00"  # Wednesday, still GMT


def test_hour_reminder_is_exact():
    due = datetime(2026, 3, 29, 3, 0, tzinfo=LONDON)  # just after the spring change
    at = reminder_time(due, parse_duration("4 hours"), EW, LONDON)
    # not `due - timedelta(hours=4)`: on a London datetime that is wall-clock arithmetic
    assert at - due == timedelta(hours=-4)
    assert at.isoformat() == "2026-03-28T22:00:00+00:00"
    assert at.tzinfo is UTC


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 hour", Duration(1, "hour")),
        ("24 hours", Duration(24, "hour")),
        ("1 day", Duration(1, "day")),
        ("14 days", Duration(14, "day")),
        ("1 working day", Duration(1, "working_day")),
        ("10 working days", Duration(10, "working_day")),
        ("10  working\tdays", Duration(10, "working_day")),
        ("8 weeks", Duration(8, "week")),
        ("1 month", Duration(1, "month")),
        (" 6 months ", Duration(6, "month")),
    ],
)
def test_parse_duration_accepts_singular_and_plural(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0 days",
        "-1 days",
        "+1 days",
        "1.5 days",
        "3 fortnights",
        "days",
        "",
        "3",
        "3days",
        "3 Days",
    ],
)
def test_parse_duration_rejects_with_a_one_line_message(text):
    with pytest.raises(ValueError, match=r"^bad duration .*: expected N UNIT") as error:
        parse_duration(text)
    assert "\n" not in str(error.value)


def test_parse_duration_message():
    with pytest.raises(ValueError) as error:
        parse_duration("3 fortnights")
    assert str(error.value).startswith("bad duration '3 fortnights': expected N UNIT")
    assert "hours, days, working days, weeks or months" in str(error.value)


@given(st.integers(1, 10_000), st.sampled_from(UNITS))
def test_duration_str_round_trips_through_parse(count, unit):
    duration = Duration(count, unit)
    assert parse_duration(str(duration)) == duration
    assert duration.day_based == (unit != "hour")


def test_duration_str():
    assert str(Duration(1, "working_day")) == "1 working day"
    assert str(Duration(2, "working_day")) == "2 working days"
    assert str(Duration(24, "hour")) == "24 hours"
    assert str(Duration(1, "month")) == "1 month"


@pytest.mark.parametrize(("count", "unit"), [(0, "day"), (-1, "day"), (True, "day"), (1, "days")])
def test_duration_rejects_bad_fields(count, unit):
    with pytest.raises(ValueError):
        Duration(count, unit)
