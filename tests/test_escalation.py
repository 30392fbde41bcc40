"""The escalation policy: when reminders and escalations fall due, and what a sweep sends.

DESIGN.md: reminders count back from the due date (08:00 local, N days or working days
before, for day-based units; exactly N hours before the due instant for hours); escalation
steps count forward from the due instant with the anchor rules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.calendar import end_of_day, get_calendar
from engine.core.escalation import (
    Alert,
    Decision,
    daytime,
    decide,
    escalation_level,
    rebase,
    rebased,
    schedule,
)
from engine.core.journey import Obligation
from engine.core.loader import parse_journey

LONDON = ZoneInfo("Europe/London")
BUCHAREST = ZoneInfo("Europe/Bucharest")
EW = get_calendar("england-and-wales")

JOURNEY = """\
journey: esc
title: Escalation test journey
calendar: england-and-wales
timezone: Europe/London
start: referral
events: [referral]
stages:
  - id: only
    title: Only stage
    obligations:
      - id: day-task
        title: Day task
        category: safety
        due: 2 working days after referral
        remind: [1 day, 2 working days]
        escalate:
          - {after: 2 hours, notify: team_lead}
          - {after: 1 day, notify: [team_lead, programme_lead]}
          - {after: 1 week, notify: programme_lead}
      - id: hour-task
        title: Hour task
        category: accommodation
        due: 24 hours after referral
        remind: [4 hours, 1 day]
        escalate:
          - {after: 2 hours, notify: team_lead}
          - {after: 1 working day, notify: [team_lead, programme_lead]}
      - id: quiet
        title: No alerts
        category: other
        due: referral
"""
OBLIGATIONS = {name: ob for name, (_, ob) in parse_journey(JOURNEY, "esc.yaml").obligations.items()}
# A ladder that runs backwards on a real calendar: the loader refuses it (steps must rise
# on every due date), so it is built in code to pin that `schedule` still sorts by instant.
OBLIGATIONS["mixed-ladder"] = Obligation.model_validate(
    {
        "id": "mixed-ladder",
        "title": "Mixed units",
        "category": "other",
        "due": "referral",
        "escalate": (
            {"after": "5 days", "notify": "team_lead"},
            {"after": "4 working days", "notify": ("navigator", "programme_lead")},
        ),
    }
)


def ob(name: str) -> Obligation:
    return OBLIGATIONS[name]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def alerts_for(name: str, due: datetime, ladder_from: datetime | None = None) -> tuple[Alert, ...]:
    return schedule(ob(name), due, EW, LONDON, ladder_from)


# Wednesday 6 January 2027, a day-precision due: 23:59:59 GMT
DUE_6_JAN = utc("2027-01-06T23:59:59+00:00")


# --- schedule: reminders -----------------------------------------------------------------------


def test_day_reminders_fire_at_0800_local_days_or_working_days_before() -> None:
    alerts = alerts_for("day-task", DUE_6_JAN)
    reminders = [a for a in alerts if a.kind == "reminder"]
    assert [a.at for a in reminders] == [
        utc("2027-01-04T08:00+00:00"),  # 2 working days before Wednesday: Monday
        utc("2027-01-05T08:00+00:00"),  # 1 day before
    ]
    assert all(a.level == 0 and a.roles == ("navigator",) for a in reminders)


def test_day_reminders_are_0800_local_in_summer_time() -> None:
    due = utc("2026-07-08T22:59:59+00:00")  # end of Wednesday 8 July, BST
    reminders = [a for a in alerts_for("day-task", due) if a.kind == "reminder"]
    assert [a.at for a in reminders] == [
        utc("2026-07-06T07:00+00:00"),  # 08:00 BST
        utc("2026-07-07T07:00+00:00"),
    ]


def test_working_day_reminders_skip_holidays() -> None:
    # due Tuesday 29 December 2026: the working day before is Thursday 24 December
    due = end_of_day(datetime(2026, 12, 29).date(), LONDON)
    reminders = [a for a in alerts_for("day-task", due) if a.kind == "reminder"]
    assert [a.at for a in reminders] == [
        utc("2026-12-23T08:00+00:00"),  # 2 working days before: 23rd (24th is the 1st)
        utc("2026-12-28T08:00+00:00"),  # 1 calendar day before, a bank holiday or not
    ]


def test_hour_reminders_are_exact_before_an_hour_precision_due() -> None:
    due = utc("2026-07-02T13:30+00:00")  # 24 hours after 14:30 BST on 1 July
    reminders = [a for a in alerts_for("hour-task", due) if a.kind == "reminder"]
    assert [a.at for a in reminders] == [
        utc("2026-07-01T07:00+00:00"),  # 1 day: 08:00 local on the day before the due date
        utc("2026-07-02T09:30+00:00"),  # 4 hours: exactly
    ]


def test_reminders_across_a_daylight_saving_change() -> None:
    # due 02:30 BST on Monday 30 March 2026; 4 hours before is 21:30 GMT on Sunday 29 March
    due = utc("2026-03-30T01:30+00:00")
    reminders = [a for a in alerts_for("hour-task", due) if a.kind == "reminder"]
    assert [a.at for a in reminders] == [
        utc("2026-03-29T07:00+00:00"),  # 08:00 BST on the Sunday (the clocks went forward)
        utc("2026-03-29T21:30+00:00"),
    ]


# --- schedule: escalations -----------------------------------------------------------------------


def test_escalations_count_from_the_due_instant() -> None:
    escalations = [a for a in alerts_for("day-task", DUE_6_JAN) if a.kind == "escalation"]
    assert [(a.at, a.level, a.roles) for a in escalations] == [
        # after: 2 hours fires two hours after the due instant
        (utc("2027-01-07T01:59:59+00:00"), 1, ("team_lead",)),
        # after: 1 day on a task due at the end of 6 January fires at the end of 7 January
        (utc("2027-01-07T23:59:59+00:00"), 2, ("team_lead", "programme_lead")),
        (utc("2027-01-13T23:59:59+00:00"), 3, ("programme_lead",)),
    ]


def test_escalations_after_an_hour_precision_due() -> None:
    due = utc("2027-01-08T10:00+00:00")  # Friday 10:00 GMT
    escalations = [a for a in alerts_for("hour-task", due) if a.kind == "escalation"]
    assert [a.at for a in escalations] == [
        utc("2027-01-08T12:00+00:00"),  # exactly 2 hours later
        utc("2027-01-11T23:59:59+00:00"),  # 1 working day after Friday: end of Monday
    ]


def test_escalation_end_of_day_is_local_in_summer() -> None:
    due = utc("2026-07-06T22:59:59+00:00")  # end of 6 July, BST
    escalations = [a for a in alerts_for("day-task", due) if a.kind == "escalation"]
    assert escalations[1].at == utc("2026-07-07T22:59:59+00:00")


def test_schedule_is_in_time_order_reminders_first() -> None:
    for name in ("day-task", "hour-task", "mixed-ladder"):
        alerts = alerts_for(name, DUE_6_JAN)
        assert [a.at for a in alerts] == sorted(a.at for a in alerts)
        kinds = [a.kind for a in alerts]
        assert kinds == sorted(kinds, key=lambda k: k != "reminder")
        assert all(a.at < DUE_6_JAN for a in alerts if a.kind == "reminder")
        assert all(a.at > DUE_6_JAN for a in alerts if a.kind == "escalation")


def test_mixed_unit_ladder_out_of_order_on_a_real_calendar_is_still_sorted() -> None:
    # Monday due: 4 working days later is Friday, 5 days later is Saturday
    due = utc("2027-01-04T23:59:59+00:00")
    alerts = alerts_for("mixed-ladder", due)
    assert [(a.at, a.level) for a in alerts] == [
        (utc("2027-01-08T23:59:59+00:00"), 2),
        (utc("2027-01-09T23:59:59+00:00"), 1),
    ]
    first = decide(alerts, 0, utc("2027-01-09T00:00+00:00"))
    assert (first.escalation.level, first.handled) == (2, 1)
    both = decide(alerts, 0, utc("2027-01-10T00:00+00:00"))
    assert both.escalation.level == 2  # the top level reached, not the last step's
    assert both.escalation.roles == ("navigator", "programme_lead", "team_lead")
    assert escalation_level(alerts, 2) == 2


def test_no_alerts_for_an_obligation_without_a_ladder() -> None:
    assert alerts_for("quiet", DUE_6_JAN) == ()
    assert decide((), 0, DUE_6_JAN) == Decision(None, None, 0, None)
    assert rebase((), DUE_6_JAN) == (0, None, None)


# --- decide --------------------------------------------------------------------------------------

ALERTS = alerts_for("day-task", DUE_6_JAN)
R2, R1, E1, E2, E3 = ALERTS  # 4 Jan 08:00, 5 Jan 08:00, 7 Jan 01:59:59, end of 7 Jan, of 13 Jan


def test_decide_before_anything_is_due_sends_nothing() -> None:
    decision = decide(ALERTS, 0, utc("2027-01-04T07:59:59+00:00"))
    assert decision == Decision(None, None, 0, R2.at)


def test_decide_sends_a_reminder_when_it_falls_due() -> None:
    decision = decide(ALERTS, 0, R2.at)
    assert decision == Decision(R2, None, 1, R1.at)
    assert decide(ALERTS, 1, R2.at) == Decision(None, None, 1, R1.at)  # idempotent


def test_decide_sends_one_reminder_after_missed_sweeps() -> None:
    decision = decide(ALERTS, 0, utc("2027-01-06T12:00+00:00"))
    assert decision == Decision(R1, None, 2, E1.at)


def test_decide_suppresses_a_stale_reminder_once_escalating() -> None:
    decision = decide(ALERTS, 0, utc("2027-01-07T09:00+00:00"))
    assert decision.reminder is None
    assert decision.escalation == E1
    assert (decision.handled, decision.next_at) == (3, E2.at)


def test_decide_collapses_due_steps_into_one_escalation() -> None:
    decision = decide(ALERTS, 2, utc("2027-01-20T09:00+00:00"))
    assert decision.reminder is None
    assert decision.escalation == Alert(
        "escalation", E3.at, 3, ("team_lead", "programme_lead")
    )  # union of roles, in first-seen order; the top level; the latest step's time
    assert (decision.handled, decision.next_at) == (5, None)
    assert escalation_level(ALERTS, decision.handled) == 3


def test_decide_sends_only_what_is_new_since_the_last_sweep() -> None:
    first = decide(ALERTS, 0, utc("2027-01-07T09:00+00:00"))
    second = decide(ALERTS, first.handled, utc("2027-01-08T09:00+00:00"))
    assert second.escalation == E2 and second.reminder is None
    assert (second.handled, second.next_at) == (4, E3.at)
    assert escalation_level(ALERTS, second.handled) == 2
    done = decide(ALERTS, 5, utc("2030-01-01T00:00+00:00"))
    assert done == Decision(None, None, 5, None)


# --- rebase --------------------------------------------------------------------------------------


def test_rebase_when_everything_is_in_the_future() -> None:
    assert rebase(ALERTS, utc("2027-01-01T00:00+00:00")) == (0, R2.at, None)


def test_rebase_skips_past_reminders_only() -> None:
    assert rebase(ALERTS, utc("2027-01-05T09:00+00:00")) == (2, E1.at, None)


def test_a_task_starting_past_its_first_step_restarts_its_ladder_from_now() -> None:
    # Re-dated (or recorded) into the past: reminders are skipped, and instead of every
    # step at once, step 1 fires now and later steps count from now.
    now = utc("2027-01-20T00:00+00:00")
    handled, next_at, ladder_from = rebase(ALERTS, now)
    assert (handled, next_at, ladder_from) == (2, now, now)
    restarted = alerts_for("day-task", DUE_6_JAN, ladder_from)
    first = decide(restarted, handled, now)
    assert first.reminder is None and first.escalation.level == 1
    step_2 = restarted[handled + 1]
    assert step_2.level == 2 and first.next_at == step_2.at > now  # counted from now


def test_rebase_with_only_reminders() -> None:
    reminders = tuple(a for a in ALERTS if a.kind == "reminder")
    assert rebase(reminders, utc("2027-01-06T00:00+00:00")) == (2, None, None)


# --- daytime -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        ("2027-01-05T12:00+00:00", "Europe/London", "2027-01-05T12:00+00:00"),  # daytime
        ("2027-01-05T08:00+00:00", "Europe/London", "2027-01-05T08:00+00:00"),  # 08:00 sharp
        ("2027-01-05T03:00+00:00", "Europe/London", "2027-01-05T08:00+00:00"),  # night: 08:00
        ("2027-01-05T19:59:59+00:00", "Europe/London", "2027-01-05T19:59:59+00:00"),
        ("2027-01-05T20:00+00:00", "Europe/London", "2027-01-06T08:00+00:00"),  # evening
        ("2027-01-05T23:59:59+00:00", "Europe/London", "2027-01-06T08:00+00:00"),
        ("2026-07-01T02:00+00:00", "Europe/London", "2026-07-01T07:00+00:00"),  # 08:00 BST
        ("2026-07-01T19:30+00:00", "Europe/London", "2026-07-02T07:00+00:00"),  # 20:30 BST
        ("2026-03-29T00:30+00:00", "Europe/London", "2026-03-29T07:00+00:00"),  # clocks change
        ("2027-01-05T04:00+00:00", "Europe/Bucharest", "2027-01-05T06:00+00:00"),
        ("2027-01-05T17:00+00:00", "Europe/Bucharest", "2027-01-05T17:00+00:00"),  # 19:00 EET
        ("2027-01-05T18:00+00:00", "Europe/Bucharest", "2027-01-06T06:00+00:00"),  # 20:00 EET
    ],
)
def test_daytime_holds_night_alerts_to_0800_local(now: str, zone: str, expected: str) -> None:
    held = daytime(utc(now), zone)
    assert held == utc(expected)
    assert held.utcoffset() == timedelta(0)


# --- properties ----------------------------------------------------------------------------------

dues = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
gaps = st.lists(st.integers(min_value=1, max_value=60 * 60 * 24 * 4), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    due=dues,
    name=st.sampled_from(["day-task", "hour-task", "mixed-ladder"]),
    day_precision=st.booleans(),
    gaps=gaps,
)
def test_sweeps_cover_every_alert_once_in_order(
    due: datetime, name: str, day_precision: bool, gaps: list[int]
) -> None:
    if day_precision:
        due = end_of_day(due.astimezone(LONDON).date(), LONDON)
    alerts = alerts_for(name, due)
    assert [a.at for a in alerts] == sorted(a.at for a in alerts)
    now = alerts[0].at - timedelta(hours=1) if alerts else due
    handled, level, escalated = 0, 0, False
    for gap in [*gaps, 10**8]:  # the last sweep is long after everything
        now += timedelta(seconds=gap)
        decision = decide(alerts, handled, now)
        assert decision.handled >= handled
        newly = alerts[handled : decision.handled]
        assert all(a.at <= now for a in newly)
        assert decision.next_at is None or decision.next_at > now
        if decision.escalation is not None:
            escalated = True
            assert decision.reminder is None
            assert decision.escalation.level == max(a.level for a in newly)
            level = max(level, decision.escalation.level)
        if decision.reminder is not None:
            assert not escalated  # never a reminder once escalating
        handled = decision.handled
    assert handled == len(alerts)
    assert level == escalation_level(alerts, handled)


@settings(max_examples=60, deadline=None)
@given(due=dues, offset=st.integers(min_value=-30 * 24, max_value=30 * 24))
def test_rebase_never_skips_an_escalation(due: datetime, offset: int) -> None:
    alerts = alerts_for("day-task", due)
    now = due + timedelta(hours=offset)
    handled, next_at, ladder_from = rebase(alerts, now)
    assert all(a.kind == "reminder" and a.at <= now for a in alerts[:handled])
    assert all(a.kind == "escalation" or a.at > now for a in alerts[handled:])
    if ladder_from is None:
        assert next_at == (alerts[handled].at if handled < len(alerts) else None)
    else:  # late: the ladder restarts at now, with step 1 next
        assert next_at == ladder_from == now
        assert alerts[handled].kind == "escalation" and alerts[handled].at < now


@settings(max_examples=100, deadline=None)
@given(now=dues, zone=st.sampled_from(["Europe/London", "Europe/Bucharest"]))
def test_daytime_is_never_earlier_and_always_in_waking_hours(now: datetime, zone: str) -> None:
    held = daytime(now, zone)
    assert now <= held <= now + timedelta(hours=13)
    local = held.astimezone(ZoneInfo(zone))
    assert 8 <= local.hour < 20
    if held != now:
        assert (local.hour, local.minute, local.second) == (8, 0, 0)


def test_rebased_agrees_with_rebasing_the_full_schedule_for_every_shipped_obligation() -> None:
    # `rebased` is the fast path the sweep and `task reopen` use; `rebase(schedule(...))` is
    # its specification. Check them against each other around every alert instant.
    from pathlib import Path

    from engine.catalog import Catalog, load_journey
    from engine.core.calendar import get_calendar
    from engine.core.escalation import rebased, schedule

    due = utc("2027-01-06T23:59:59+00:00")
    checked = 0
    for path in Catalog(Path(__file__).resolve().parent.parent / "journeys").files():
        journey = load_journey(path)
        calendar = get_calendar(journey.calendar)
        for _, ob in journey.obligations.values():
            alerts = schedule(ob, due, calendar, journey.tz)
            moments = [due, *(a.at for a in alerts)]
            for moment in moments + [m - timedelta(seconds=1) for m in moments]:
                assert rebased(ob, due, calendar, journey.tz, moment) == rebase(alerts, moment)
                checked += 1
    assert checked > 500


def _alerting_obligations() -> list:
    from pathlib import Path

    from engine.catalog import Catalog, load_journey

    found = []
    for path in Catalog(Path(__file__).resolve().parent.parent / "journeys").files():
        journey = load_journey(path)
        for ob, clock in journey.alerting.values():
            found.append((ob, clock))
    return found


ALERTING = _alerting_obligations()


@settings(max_examples=400, deadline=None)
@given(
    which=st.integers(0, len(ALERTING) - 1),
    due=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2029, 12, 31)),
    minutes=st.integers(-90 * 24 * 60, 30 * 24 * 60),
)
def test_rebased_is_rebase_of_the_schedule_for_any_due_and_now(
    which: int, due: datetime, minutes: int
) -> None:
    # The fast path skips working out steps it can tell are not needed (a reminder still
    # pending before the due instant; a first step already passed): any due instant, on
    # any journey's clock, and any sweep from 90 days after it to 30 days before.
    ob, clock = ALERTING[which]
    due = due.replace(tzinfo=UTC)
    now = due - timedelta(minutes=minutes)
    expected = rebase(schedule(ob, due, clock.calendar, clock.tz), now)
    assert rebased(ob, due, clock.calendar, clock.tz, now) == expected
