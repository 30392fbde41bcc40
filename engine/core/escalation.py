"""The escalation policy: which reminders and escalations a task needs, and when.

Pure: a task's alerts are a fixed schedule derived from its obligation and due instant, and
the store keeps only how many of them have been handled (`alerts_handled`) plus the instant
of the next one (`next_alert_at`, indexed), so a sweep touches only tasks that need it.

Late tasks (docs/notifications.md, "Escalation"): a task that starts its life (created,
re-dated or reopened) already past its first escalation step never fires its whole ladder
at once. Its ladder restarts at `now` (`ladder_from`, stored with the task): step 1 fires at
once, and every later step counts its `after` from that instant as if the task had fallen
due then, so each person up the ladder still gets their full interval to act before the
next one hears.

Respect for people: escalation and overdue messages wait for the recipient's working hours
(`working_hours`), except steps a journey marks `urgent`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from engine.core.calendar import WorkingCalendar, local_time, reminder_time, shift
from engine.core.journey import Obligation

MORNING = time(8)
EVENING = time(20)


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """When people are at work, on the working days of their organisation's calendar."""

    start: time = time(8)
    end: time = time(18)

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        """`08:00-18:00` (the `ALONGSIDE_WORKING_HOURS` setting's form)."""
        try:
            first, _, last = text.partition("-")
            hours = cls(time.fromisoformat(first.strip()), time.fromisoformat(last.strip()))
        except ValueError:
            raise ValueError(f"working hours '{text}' are not HH:MM-HH:MM") from None
        if hours.start >= hours.end:
            raise ValueError(f"working hours '{text}' end before they start")
        return hours


WORKING_HOURS = WorkingHours()


@dataclass(frozen=True, slots=True)
class Alert:
    """One scheduled alert: a reminder before the due instant or an escalation step after it."""

    kind: Literal["reminder", "escalation"]
    at: datetime
    level: int  # 0 for reminders; 1, 2, ... for escalation steps
    roles: tuple[str, ...]
    urgent: bool = False  # the journey marked the step `urgent`: it does not wait for work


class Rebased(NamedTuple):
    """Where a (re)started task's schedule stands: alerts handled, the next alert's instant,
    and the instant its ladder restarts from (None: from the due instant)."""

    handled: int
    next_at: datetime | None
    ladder_from: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What a sweep at `now` should send for one task, and where its schedule stands after."""

    reminder: Alert | None
    escalation: Alert | None  # steps due together are merged: highest level, union of roles
    handled: int
    next_at: datetime | None


def step_times(
    ob: Obligation,
    due: datetime,
    calendar: WorkingCalendar,
    tz,
    ladder_from: datetime | None = None,
) -> list[datetime]:
    """The instant of each escalation step: counted from the due instant, or, for a ladder
    restarted at `ladder_from`, step 1 then and every later step counted from then."""
    if ladder_from is None:
        return [shift(due, step.after, 1, calendar, tz) for step in ob.escalate]
    later = [shift(ladder_from, step.after, 1, calendar, tz) for step in ob.escalate[1:]]
    return [ladder_from, *later] if ob.escalate else []


def schedule(
    ob: Obligation,
    due: datetime,
    calendar: WorkingCalendar,
    tz,
    ladder_from: datetime | None = None,
) -> tuple[Alert, ...]:
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
        Alert("escalation", at, level, step.notify, step.urgent)
        for level, (step, at) in enumerate(
            zip(ob.escalate, step_times(ob, due, calendar, tz, ladder_from), strict=True), start=1
        )
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
        urgent = any(a.urgent for a in escalations)
        merged = Alert("escalation", escalations[-1].at, level, roles, urgent)
        return Decision(None, merged, handled, next_at)
    reminder = due_now[-1] if due_now else None
    return Decision(reminder, None, handled, next_at)


def rebase(alerts: tuple[Alert, ...], now: datetime) -> Rebased:
    """Where a new, re-dated or reopened task's schedule stands at `now`: past reminders
    are skipped (the re-plan notice tells the navigator); if its first escalation step has
    already passed, the ladder restarts at `now` (step 1 at once, the rest counted from
    now) rather than firing every step at once.
    """
    handled = 0
    while (
        handled < len(alerts) and alerts[handled].kind == "reminder" and alerts[handled].at <= now
    ):
        handled += 1
    pending = alerts[handled:]
    steps = [a.at for a in alerts if a.kind == "escalation"]
    if steps and min(steps) < now:
        return Rebased(handled, now, now)
    return Rebased(handled, pending[0].at if pending else None)


def rebased(ob: Obligation, due: datetime, calendar: WorkingCalendar, tz, now: datetime) -> Rebased:
    """`rebase(schedule(ob, due, calendar, tz), now)` without building the schedule.

    A sweep planning many cases needs this for every task it creates or re-dates. The
    reminders lead the schedule, sorted, so the handled ones are those at or before `now`;
    once none is pending, the next alert is the earliest escalation step.

    Every step comes after the due instant (durations are at least 1 of their unit), so a
    task not yet due with a reminder pending needs no step worked out; and a late task
    whose first step has passed restarts its ladder whatever the later steps say. Between
    them they are most tasks of an initial plan.
    """
    if not ob.remind and not ob.escalate:
        return Rebased(0, None)
    reminders = [reminder_time(due, d, calendar, tz) for d in ob.remind]
    if len(reminders) > 1:
        reminders.sort()
    handled = bisect_right(reminders, now)
    if handled < len(reminders) and now <= due:
        return Rebased(handled, reminders[handled])
    if ob.escalate and shift(due, ob.escalate[0].after, 1, calendar, tz) < now:
        return Rebased(handled, now, now)
    first = min(step_times(ob, due, calendar, tz), default=None)
    if first is not None and first < now:
        return Rebased(handled, now, now)
    if handled < len(reminders):
        return Rebased(handled, reminders[handled])
    return Rebased(handled, first)


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


def working_hours(
    now: datetime, timezone: str, calendar: WorkingCalendar, hours: WorkingHours = WORKING_HOURS
) -> datetime:
    """`now` if it is within working hours on a working day for the recipient, else the
    start of their next working day.

    Escalation and overdue messages are about work, not emergencies: a lead is not paged
    at 02:00 or on a bank holiday for a task that can wait until the office opens. Steps a
    journey marks `urgent` bypass this (the caller decides).
    """
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    day = local.date()
    if calendar.is_working_day(day):
        if hours.start <= local.time() < hours.end:
            return now
        if local.time() < hours.start:
            return local_time(day, hours.start, tz)
    day += timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return local_time(day, hours.start, tz)
