"""Working days, time zones and duration arithmetic for journeys.

Everything here is pure: no clock, no I/O. The rules are the "Time rules" of the journey
language (docs: DESIGN.md): day-based units count on *local* dates and land at the end of
the local day (a deadline) or its start (a stage boundary, language 1.1); hours count on
the exact instant. Every datetime returned is aware and in UTC.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import holidays

from engine.core.errors import UserError

UNITS = ("hour", "day", "working_day", "week", "month")

# The longest duration a journey may write, in each unit: 10 years. Nothing in a navigator
# programme is planned further ahead, and the cap keeps every deadline the planner can
# compute from a real event (years 1900 to 2199) inside Python's dates: without it,
# `99999 months after referral` validated and then crashed every sweep.
MAX_YEARS = 10
MAX_COUNT: dict[str, int] = {
    "hour": MAX_YEARS * 8766,  # 365.25 days of 24 hours
    "day": MAX_YEARS * 365,
    "working_day": MAX_YEARS * 261,  # 5 days a week, 52.2 weeks a year
    "week": MAX_YEARS * 52,
    "month": MAX_YEARS * 12,
}


class OutOfRange(UserError):
    """A date or instant the calendar cannot represent (before year 1 or after 9999).

    Validated journeys and checked event dates never get here; this is the planner's last
    line of defence, so a bad input is a one-line domain error rather than a ValueError or
    OverflowError from deep inside `datetime`.
    """


@dataclass(frozen=True, slots=True)
class Duration:
    """`N UNIT` from a journey: frozen and hashable, so planners can cache on it.

    Every cached step of the planner hashes one, so its hash is worked out once, as a
    number unique to the duration (count and unit): the same in every process, unlike a
    hash of its text, so a pickled duration keeps a valid one.
    """

    count: int
    unit: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"duration count must be a positive whole number, not {self.count!r}")
        if self.unit not in UNITS:
            raise ValueError(f"unknown duration unit {self.unit!r} (expected one of: {UNITS})")
        object.__setattr__(self, "_hash", self.count * len(UNITS) + UNITS.index(self.unit))

    def __hash__(self) -> int:
        return self._hash

    @property
    def day_based(self) -> bool:
        """Day-based units count on local dates and land at end of day; hours do not."""
        return self.unit != "hour"

    def __str__(self) -> str:
        noun = self.unit.replace("_", " ")
        return f"{self.count} {noun}" if self.count == 1 else f"{self.count} {noun}s"


_DURATION = re.compile(r"([1-9][0-9]*)\s+(hour|day|working\s+day|week|month)s?")


def parse_duration(text: str) -> Duration:
    """Parse `N UNIT` as written in journeys; errors are one line, fit for FILE:LINE:COL.

    This is the syntax only: the journey language caps the length (`check_length`). A
    number of more than 12 digits is refused here already, since no unit allows it and
    `int()` refuses numbers of over 4300 digits with a message about Python internals.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"bad duration {text!r}: expected N UNIT where N is a positive whole number "
            "and UNIT is hours, days, working days, weeks or months"
        )
    count, unit = match.groups()
    unit = "_".join(unit.split())
    if len(count) > 12:
        raise ValueError(_too_long(f"{count[:12]}... {unit.replace('_', ' ')}s", unit))
    return _interned(int(count), unit)


@lru_cache(maxsize=4096)
def _interned(count: int, unit: str) -> Duration:
    """One object per duration a journey writes: the planner's caches compare their keys by
    identity first, so `2 hours` written in ten obligations costs one comparison, not ten."""
    return Duration(count, unit)


def check_length(duration: Duration) -> Duration:
    """`duration` if it is at most 10 years in its own unit; ValueError (one line) if not.

    The journey language applies it to every duration it reads (anchors, `every:`,
    reminders, escalation steps), so no journey that validates can ask the planner for a
    date it cannot represent.
    """
    if duration.count > MAX_COUNT[duration.unit]:
        raise ValueError(_too_long(str(duration), duration.unit))
    return duration


def _too_long(text: str, unit: str) -> str:
    most = Duration(MAX_COUNT[unit], unit)
    return f"`{text}` is too long: at most {most} ({MAX_YEARS} years)"


# name -> (country, subdivision) for the `holidays` package
_REGIONS: dict[str, tuple[str, str | None]] = {
    "england-and-wales": ("GB", "ENG"),
    "scotland": ("GB", "SCT"),
    "northern-ireland": ("GB", "NIR"),
    "romania": ("RO", None),
}
CALENDAR_NAMES: tuple[str, ...] = tuple(_REGIONS)


class WorkingCalendar:
    """Working days of one jurisdiction.

    Holidays are loaded lazily one year at a time (the planner touches few years, the
    benchmark touches the same ones 100,000 times), and each year keeps its holiday set for
    O(1) `is_working_day` and its sorted working days, so `add_working_days` is a bisection
    for any n rather than a walk.
    """

    __slots__ = ("_country", "_holidays", "_subdiv", "_working", "name")

    def __init__(self, name: str) -> None:
        if name not in _REGIONS:
            raise ValueError(
                f"unknown calendar {name!r} (expected one of: {', '.join(CALENDAR_NAMES)})"
            )
        self.name = name
        self._country, self._subdiv = _REGIONS[name]
        self._holidays: dict[int, frozenset[date]] = {}
        self._working: dict[int, tuple[date, ...]] = {}

    def __repr__(self) -> str:
        return f"WorkingCalendar({self.name!r})"

    def _load(self, year: int) -> None:
        # Ask for the neighbouring years too, so a substitute day that spills across
        # New Year (none do in these four calendars today) is still filed under its own year.
        source = holidays.country_holidays(
            self._country, subdiv=self._subdiv, years=(year - 1, year, year + 1), observed=True
        )
        days = frozenset(d for d in source if d.year == year)
        first = date(year, 1, 1)
        span = (date(year + 1, 1, 1) - first).days
        every_day = (first + timedelta(n) for n in range(span))
        self._working[year] = tuple(d for d in every_day if d.weekday() < 5 and d not in days)
        self._holidays[year] = days

    def _holidays_in(self, year: int) -> frozenset[date]:
        try:
            return self._holidays[year]
        except KeyError:
            self._load(year)
            return self._holidays[year]

    def _working_in(self, year: int) -> tuple[date, ...]:
        try:
            return self._working[year]
        except KeyError:
            self._load(year)
            return self._working[year]

    def is_working_day(self, d: date) -> bool:
        """Not a Saturday or Sunday, and not a public holiday (substitute days included)."""
        return d.weekday() < 5 and d not in self._holidays_in(d.year)

    def add_working_days(self, d: date, n: int) -> date:
        """The nth working day strictly after d (n > 0), strictly before d (n < 0), or d."""
        year = d.year
        days = self._working_in(year)
        if n > 0:
            i = bisect_right(days, d) + n - 1
            while i >= len(days):
                i -= len(days)
                year += 1
                days = self._working_in(year)
        elif n < 0:
            i = bisect_left(days, d) + n
            while i < 0:
                year -= 1
                days = self._working_in(year)
                i += len(days)
        else:
            return d
        return days[i]

    def holidays_between(self, start: date, end: date) -> list[date]:
        """Public holidays in [start, end], both ends included, weekend ones too."""
        return sorted(
            d
            for year in range(start.year, end.year + 1)
            for d in self._holidays_in(year)
            if start <= d <= end
        )


@cache
def get_calendar(name: str) -> WorkingCalendar:
    """One shared calendar per name, so its holiday cache is filled once per process."""
    return WorkingCalendar(name)


_RANGE = f"outside the dates the engine can count (years {date.min.year} to {date.max.year})"


def _aware(instant: datetime) -> datetime:
    # astimezone() would silently read a naive datetime in the machine's zone: refuse it.
    if instant.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got naive {instant.isoformat()}")
    return instant


@lru_cache(maxsize=65536)
def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar date of an instant as seen in the journey's time zone."""
    try:
        return _aware(instant).astimezone(tz).date()
    except OverflowError:
        raise OutOfRange(f"{instant.isoformat()} in {tz.key} is {_RANGE}") from None


_END_OF_DAY = time(23, 59, 59)


@lru_cache(maxsize=65536)
def end_of_day(d: date, tz: ZoneInfo) -> datetime:
    """23:59:59 local on d, in UTC: the deadline of every day-based anchor.

    Built from the local wall clock, so it stays 23:59:59 local on either side of a
    daylight-saving change. Cached: deadlines cluster on few dates and zones.
    """
    try:
        return datetime.combine(d, _END_OF_DAY, tzinfo=tz).astimezone(UTC)
    except OverflowError:
        raise OutOfRange(f"the end of {d.isoformat()} in {tz.key} is {_RANGE}") from None


_MIDNIGHT = time(0)


@lru_cache(maxsize=65536)
def start_of_day(d: date, tz: ZoneInfo) -> datetime:
    """00:00 local on d, in UTC: where a day-based stage boundary falls (language 1.1).

    On a day whose midnight the clocks skip, the first moment of that day (see
    `local_time`). Cached like `end_of_day`.
    """
    return local_time(d, _MIDNIGHT, tz)


def local_time(d: date, t: time, tz: ZoneInfo) -> datetime:
    """Local wall-clock time t on d, in UTC.

    Uses zoneinfo's fold=0: a time skipped by a spring change (01:30 in London on the last
    Sunday of March) is read with the offset before the change, so it lands an hour later
    on the wall clock (02:30 BST); a time repeated by an autumn change means its first
    occurrence (still summer time).
    """
    try:
        return datetime.combine(d, t.replace(tzinfo=None, fold=0), tzinfo=tz).astimezone(UTC)
    except OverflowError:
        raise OutOfRange(f"{d.isoformat()} {t.isoformat()} in {tz.key} is {_RANGE}") from None


def add_days(d: date, duration: Duration, sign: int, cal: WorkingCalendar) -> date:
    """Move a local date by a day-based duration, forwards (sign=+1) or back (sign=-1).

    Months are calendar months clamped to the month's end: 31 January + 1 month is the
    last day of February, and so is 31 March - 1 month.
    """
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, not {sign!r}")
    if not duration.day_based:
        raise ValueError(f"{duration} is not day-based: use shift() for hours")
    try:
        return _add_days(d, sign * duration.count, duration.unit, cal)
    except (OverflowError, ValueError):  # past year 9999 or before year 1
        where = "after" if sign > 0 else "before"
        raise OutOfRange(f"{duration} {where} {d.isoformat()} is {_RANGE}") from None


def _add_days(d: date, n: int, unit: str, cal: WorkingCalendar) -> date:
    if unit == "working_day":
        return cal.add_working_days(d, n)
    if unit == "day":
        return d + timedelta(days=n)
    if unit == "week":
        return d + timedelta(weeks=n)
    year, month0 = divmod(d.year * 12 + d.month - 1 + n, 12)
    month = month0 + 1
    return date(year, month, min(d.day, monthrange(year, month)[1]))


def shift(
    instant: datetime, duration: Duration, sign: int, cal: WorkingCalendar, tz: ZoneInfo
) -> datetime:
    """Apply `DURATION after/before` to an instant: the anchor and escalation rule.

    Hours are exact elapsed time (UTC arithmetic, so 24 hours across a spring change is
    24 real hours even though the wall clock moves 25); day-based units count on the
    instant's local date and land at the end of the resulting local day.
    """
    if duration.unit == "hour":
        if sign not in (1, -1):
            raise ValueError(f"sign must be +1 or -1, not {sign!r}")
        return _add_hours(instant, sign * duration.count)
    return _end_of_shifted_day(local_date(instant, tz), duration, sign, cal, tz)


@lru_cache(maxsize=65536)
def _end_of_shifted_day(
    d: date, duration: Duration, sign: int, cal: WorkingCalendar, tz: ZoneInfo
) -> datetime:
    """`shift` for day-based units, from the local date. Cached like `end_of_day`: a
    caseload's anchors and escalations fall on few distinct dates, and this is the
    planner's innermost step."""
    return end_of_day(add_days(d, duration, sign, cal), tz)


def boundary_shift(
    instant: datetime, duration: Duration, sign: int, cal: WorkingCalendar, tz: ZoneInfo
) -> datetime:
    """Apply `DURATION after/before` to an instant as a stage boundary: hours exactly, as
    `shift`; day-based units on the instant's local date, landing at the START of the
    resulting local day, so a stage `ends: 30 days after referral` covers 30 whole days."""
    if duration.unit == "hour":
        return shift(instant, duration, sign, cal, tz)
    return _start_of_shifted_day(local_date(instant, tz), duration, sign, cal, tz)


@lru_cache(maxsize=65536)
def _start_of_shifted_day(
    d: date, duration: Duration, sign: int, cal: WorkingCalendar, tz: ZoneInfo
) -> datetime:
    """`boundary_shift` for day-based units, from the local date; cached likewise."""
    return start_of_day(add_days(d, duration, sign, cal), tz)


def _add_hours(instant: datetime, hours: int) -> datetime:
    """Exact elapsed hours, in UTC; a result past the ends of `datetime` is OutOfRange."""
    start = _aware(instant).astimezone(UTC)
    try:
        return start + timedelta(hours=hours)
    except OverflowError:
        raise OutOfRange(f"{hours:+} hours from {start.isoformat()} is {_RANGE}") from None


_REMINDER_TIME = time(8)


def reminder_time(
    due: datetime, duration: Duration, cal: WorkingCalendar, tz: ZoneInfo
) -> datetime:
    """When a reminder `duration` before `due` fires.

    Hours: exactly that long before the due instant. Day-based: 08:00 local on the day
    that many (working) days before the due date, so the navigator sees it at the start
    of a working day rather than at midnight.
    """
    if duration.unit == "hour":
        return _add_hours(due, -duration.count)
    return _morning_before(local_date(due, tz), duration, cal, tz)


@lru_cache(maxsize=65536)
def _morning_before(d: date, duration: Duration, cal: WorkingCalendar, tz: ZoneInfo) -> datetime:
    """`reminder_time` for day-based units, from the local due date; cached likewise."""
    return local_time(add_days(d, duration, -1, cal), _REMINDER_TIME, tz)
