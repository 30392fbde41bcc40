"""Event times and fact values as people type them, checked against a journey.

Everything a navigator types (`referral=2026-12-24`, `age=16`) passes through here, so the
messages are one line and name the thing that is wrong.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from engine.core.calendar import local_time
from engine.core.errors import UserError as InputError
from engine.core.text import printable

if TYPE_CHECKING:
    from engine.core.journey import Journey


class EventTime(NamedTuple):
    """When an event happened: an instant in UTC, and whether only its date was given.

    A date-only event sits at 00:00 local, which is where hour offsets count from; day
    offsets use its local date either way. A named tuple rather than a frozen dataclass:
    a sweep reads one for every event of every case it plans, and a tuple is built several
    times faster.
    """

    instant: datetime
    date_only: bool

    def isoformat(self, tz: ZoneInfo) -> str:
        if self.date_only:
            return self.instant.astimezone(tz).date().isoformat()
        return self.instant.isoformat()


# Real events fall well inside these years; outside them, deadline arithmetic (a year's
# holidays, `N months after`) would run off the ends of Python's dates.
FIRST_YEAR, LAST_YEAR = 1900, 2199


_EXPECTED = "expected an ISO date (2027-03-01) or date-time (2027-03-01T09:30)"


def parse_event_time(text: str, tz: ZoneInfo) -> EventTime:
    """ISO date or date-time; a date-time without an offset is local to `tz`.

    A local time that the clocks skip (01:30 on the morning they go forward) names no
    moment at all, so it is an error that says so; one that happens twice (01:30 on the
    morning they go back) is read as its first occurrence, and `ambiguity` tells a caller
    that wants to say so.
    """
    text = text.strip()
    if not text:
        raise InputError(f"no date given: {_EXPECTED}")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            _check_year(text, day.year)
            return EventTime(local_time(day, time(0), tz), True)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"bad date '{_typed(text)}': {_EXPECTED}") from None
    _check_year(text, moment.year)
    if moment.tzinfo is None:
        moment = _wall_clock(moment, tz, text)
    return EventTime(moment.astimezone(UTC), False)


def ambiguity(text: str, tz: ZoneInfo) -> str | None:
    """Why `text` is ambiguous in `tz`, or None: a local date-time the clocks pass twice.

    `parse_event_time` takes the first occurrence; this says which one it took, for the
    CLI or the web app to show next to what was recorded. Text that does not parse is not
    ambiguous (`parse_event_time` reports it).
    """
    text = text.strip()
    if len(text) == 10:
        return None  # a date is a whole day, whatever the clocks do
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None or not FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None
    first, second = moment.replace(tzinfo=tz, fold=0), moment.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset() or _skipped(first):
        return None
    start, end = _change(second.astimezone(UTC), first.astimezone(UTC), tz)
    return (
        f"{_typed(text)} happens twice in {tz.key}: clocks go back from {_hhmm(start)} to "
        f"{_hhmm(end)}; read as the first, {first.strftime('%H:%M %Z')} "
        f"(UTC{_offset(first)})"
    )


def _wall_clock(moment: datetime, tz: ZoneInfo, text: str) -> datetime:
    """A naive local date-time in `tz`: the first occurrence if repeated; an error if skipped."""
    first = moment.replace(tzinfo=tz, fold=0)
    if _skipped(first):
        start, end = _change(first.astimezone(UTC), moment.replace(tzinfo=tz, fold=1), tz)
        raise InputError(
            f"{_typed(text)} does not exist in {tz.key}: "
            f"clocks go forward from {_hhmm(start)} to {_hhmm(end)}"
        )
    return first


def _skipped(local: datetime) -> bool:
    """Whether a local wall-clock time falls in a gap: it does not survive a round trip."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None, fold=0) != local.replace(tzinfo=None, fold=0)


def _change(a: datetime, b: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The wall clock just before and just after the offset change between instants a < b.

    Bisects to the second (a clock change is an hour or so wide: a dozen steps), then reads
    the transition instant with the offsets on either side of it.
    """
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    if a > b:
        a, b = b, a
    before = a.astimezone(tz).utcoffset()
    while b - a > timedelta(seconds=1):
        middle = a + (b - a) / 2
        if middle.astimezone(tz).utcoffset() == before:
            a = middle
        else:
            b = middle
    change = b.replace(microsecond=0)
    after = change.astimezone(tz).utcoffset()
    naive = change.replace(tzinfo=None)
    return naive + before, naive + after


def _hhmm(wall: datetime) -> str:
    return wall.strftime("%H:%M:%S" if wall.second else "%H:%M")


def _offset(local: datetime) -> str:
    minutes = int(local.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _check_year(text: str, year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InputError(
            f"date '{_typed(text)}' is out of range (years {FIRST_YEAR} to {LAST_YEAR})"
        )


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """A moment such as `--now`: a date means 00:00 local; the result is UTC."""
    return parse_event_time(text, tz).instant


def split_assignment(text: str, what: str) -> tuple[str, str]:
    """`NAME=VALUE` -> (NAME, VALUE), for `--event` and `--fact` options."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise InputError(f"bad {what} '{_typed(text)}': expected NAME=VALUE")
    return name.strip(), value.strip()


def check_event_name(journey: Journey, name: str) -> None:
    if name not in journey.events:
        raise InputError(
            f"unknown event '{_typed(name)}' for journey {journey.journey} "
            f"(declared: {', '.join(journey.events)})"
        )


MAX_OCCURRENCE = 10_000  # no case has this many arrests or hearings; a typo has


def parse_event_key(journey: Journey, text: str) -> tuple[str, int | None]:
    """`arrest`, or `arrest#2` for the second occurrence of a repeating event -> (name, 2).

    The number is for correcting or removing one occurrence; recording `arrest` alone
    adds a new one.
    """
    name, sep, number = text.partition("#")
    check_event_name(journey, name)
    if not sep:
        return name, None
    if name not in journey.repeating:
        raise InputError(
            f"event {name} does not repeat, so it has no occurrences to number: "
            f"write {name}=WHEN (the latest recording wins)"
        )
    digits = number.isascii() and number.isdigit() and len(number) <= 5
    if not digits or not 1 <= int(number) <= MAX_OCCURRENCE:
        raise InputError(f"bad occurrence '{_typed(text)}': expected {name}#N, N from 1")
    return name, int(number)


def parse_fact(journey: Journey, name: str, text: str) -> bool | int | str:
    """Text typed for a fact -> its typed value, checked against the declaration."""
    fact = journey.facts.get(name)
    if fact is None:
        declared = ", ".join(journey.facts) or "none"
        raise InputError(
            f"unknown fact '{_typed(name)}' for journey {journey.journey} (declared: {declared})"
        )
    value: bool | int | str = text
    if fact.type == "boolean":
        lowered = text.lower()
        if lowered not in {"true", "false", "yes", "no"}:
            raise InputError(
                f"fact '{name}' is boolean: expected true or false, got '{_typed(text)}'"
            )
        value = lowered in {"true", "yes"}
    elif fact.type == "integer":
        try:
            value = int(text)
        except ValueError:
            raise InputError(f"fact '{name}' is an integer: got '{_typed(text)}'") from None
    try:
        fact.check(value)
    except ValueError as error:
        raise InputError(f"fact '{name}': {error}") from None
    return value


def effective_facts(journey: Journey, facts: dict[str, object]) -> dict[str, object]:
    """Recorded facts over the journey's defaults; facts the journey no longer declares drop."""
    merged = {name: f.default for name, f in journey.facts.items() if f.default is not None}
    merged.update({k: v for k, v in facts.items() if k in journey.facts and v is not None})
    return merged


def _typed(text: str) -> str:
    return printable(text, limit=40)
