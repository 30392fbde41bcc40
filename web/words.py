"""Dates as a caseworker reads them: "due tomorrow", "3 days overdue", "Tue 5 Jan 2027".

Pure functions of the instant, `now` and the time zone: the pages call them with the
request's `now`, and the tests with fixed instants.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifications.render import day_text


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


def due_words(due: datetime, now: datetime, tz: ZoneInfo) -> str:
    """How far off a deadline is, counted on local dates (as the deadlines themselves are)."""
    days = (due.astimezone(tz).date() - now.astimezone(tz).date()).days
    if due < now:
        return "overdue today" if days == 0 else f"{_days(-days)} overdue"
    if days == 0:
        return "due today"
    if days == 1:
        return "due tomorrow"
    return f"due in {_days(days)}"


GROUPS = ("Overdue", "Today", "This week", "Later")
SLUGS = ("overdue", "today", "this-week", "later")  # a group as `/work?group=` names it


def bounds(now: datetime, tz: ZoneInfo) -> list[datetime]:
    """Where each heading of My work ends: now, the next local midnight, and the local
    midnight a week after today's."""
    today = now.astimezone(tz).date()
    return [now] + [datetime.combine(today + timedelta(days=n), time(0), tzinfo=tz) for n in (1, 7)]


def group(due: datetime, now: datetime, tz: ZoneInfo) -> str:
    """Which heading of My work a task is under."""
    return GROUPS[bisect_right(bounds(now, tz), due)]


def when(moment: datetime | None, tz: ZoneInfo) -> str:
    """'Tue 5 Jan 2027, 14:00'."""
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    return f"{day_text(local)}, {local:%H:%M}"


def local_input(moment: datetime, tz: ZoneInfo) -> str:
    """The value of a `datetime-local` input: local, to the minute."""
    return moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def since(moment: datetime | None, now: datetime) -> str:
    """'today', '3 days ago', or 'never'."""
    if moment is None:
        return "never"
    days = (now - moment) // timedelta(days=1)
    return "today" if days < 1 else f"{_days(days)} ago"


FILTERS = {"when": when}
