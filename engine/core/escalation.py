"""The escalation policy: which reminders and escalations a task needs, and when.

Pure: a task's alerts are a fixed schedule derived from its obligation and due instant, and
the store keeps only how many of them have been handled (`alerts_handled`) plus the instant
of the next one (`next_alert_at`, indexed), so a sweep touches only tasks that need it.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from engine.core.calendar import WorkingCalendar, local_time, reminder_time, shift
from engine.core.journey import Obligation

MORNING = time(8)
EVENING = time(20)


@dataclass(frozen=True, slots=True)
class Alert:
    """One scheduled alert: a reminder before the due instant or an escalation step after it."""

    kind: Literal["reminder", "escalation"]
    at: datetime
    level: int  # 0 for reminders; 1, 2, ... for escalation steps
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """What a sweep at `now` should send for one task, and where its schedule stands after."""

    reminder: Alert | None
    escalation: Alert | None  # steps due together are merged: highest level, union of roles
    handled: int
    next_at: datetime | None


def schedule(ob: Obligation, due: datetime, calendar: WorkingCalendar, tz) -> tuple[Alert, ...]:
    """Every alert of a task in time order: reminders count back, escalations forward.

    Steps are validated to increase by their nominal length, but mixed units can still
    land out of order on a real calendar (`5 days` then `4 working days` from a Monday):
    the schedule is sorted by instant anyway, because `decide` and `rebase` count handled
    alerts as a prefix of it.
    """
    reminders = [
        Alert("reminder", reminder_time(due, d, calendar, tz), 0, ("navigator",)) for d in ob.remind
    ]
    escalations = [
        Alert("escalation", shift(due, step.after, 1, calendar, tz), level, step.notify)
        for level, step in enumerate(ob.escalate, start=1)
    ]
    return tuple(sorted(reminders, key=lambda a: a.at)) + tuple(
        sorted(escalations, key=lambda a: (a.at, a.level))
    )


def decide(alerts: tuple[Alert, ...], handled: int, now: datetime) -> Decision:
    """Collapse everything that fell due since the last sweep into at most two messages.

    A sweep that catches up (the engine was down, a trial was moved earlier) sends one
    reminder at most, and no reminder at all once the task is already escalating: the
    navigator needs to hear the current state, not its history.
    """
    due_now = [a for a in alerts[handled:] if a.at <= now]
    handled += len(due_now)
    upcoming = alerts[handled:]
    next_at = upcoming[0].at if upcoming else None
    escalations = [a for a in due_now if a.kind == "escalation"]
    if escalations:
        roles = tuple(dict.fromkeys(r for a in escalations for r in a.roles))
        level = max(a.level for a in escalations)
        merged = Alert("escalation", escalations[-1].at, level, roles)
        return Decision(None, merged, handled, next_at)
    reminder = due_now[-1] if due_now else None
    return Decision(reminder, None, handled, next_at)


def rebase(alerts: tuple[Alert, ...], now: datetime) -> tuple[int, datetime | None]:
    """Where a re-dated task's schedule stands: past reminders are skipped (the re-plan
    notice tells the navigator), escalations are owed again only if the new due has passed.
    """
    handled = 0
    while (
        handled < len(alerts) and alerts[handled].kind == "reminder" and alerts[handled].at <= now
    ):
        handled += 1
    pending = alerts[handled:]
    return handled, (pending[0].at if pending else None)


def rebased(
    ob: Obligation, due: datetime, calendar: WorkingCalendar, tz, now: datetime
) -> tuple[int, datetime | None]:
    """`rebase(schedule(ob, due, calendar, tz), now)` without building the schedule.

    A sweep planning many cases needs this for every task it creates or re-dates. The
    reminders lead the schedule, sorted, so the handled ones are those at or before `now`;
    once none is pending, the next alert is the earliest escalation step.
    """
    if not ob.remind and not ob.escalate:
        return 0, None
    reminders = sorted(reminder_time(due, d, calendar, tz) for d in ob.remind)
    handled = bisect_right(reminders, now)
    if handled < len(reminders):
        return handled, reminders[handled]
    steps = [shift(due, step.after, 1, calendar, tz) for step in ob.escalate]
    return handled, min(steps, default=None)


def escalation_level(alerts: tuple[Alert, ...], handled: int) -> int:
    """How many escalation steps have fired: derived, so it cannot drift from the schedule."""
    return max((a.level for a in alerts[:handled] if a.kind == "escalation"), default=0)


def daytime(now: datetime, timezone: str) -> datetime:
    """`now` if it is daytime (08:00-20:00) for the recipient, else their next 08:00.

    Whole-day deadlines are not urgent by the hour: a reminder that falls due at night
    waits for the morning rather than waking anyone.
    """
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    if MORNING <= local.time() < EVENING:
        return now
    day = local.date() if local.time() < MORNING else local.date() + timedelta(days=1)
    return local_time(day, MORNING, tz)
