"""The pure planner: (journey, facts, events, completions, now) -> dated tasks and next change.

Dates follow DESIGN.md's time rules exactly; expected instants are written out in UTC so a
reader can check them against a calendar.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.catalog import load_journey
from engine.core.calendar import get_calendar
from engine.core.journey import Journey
from engine.core.loader import parse_journey
from engine.core.planner import Plan, PlannedTask, collect, plan, stage_episodes, stage_window
from engine.core.values import EventTime, parse_event_time

LONDON = ZoneInfo("Europe/London")
BUCHAREST = ZoneInfo("Europe/Bucharest")

JOURNEY = """\
journey: plan
title: Planner test journey
calendar: england-and-wales
timezone: Europe/London
start: referral
facts:
  age: {type: integer, min: 0, max: 120}
  remote_evidence: {type: boolean, default: false}
  interpreter: {type: boolean}
events: [referral, charge, trial, verdict]
stages:
  - id: first-month
    title: First month
    ends: 1 month after referral
    obligations:
      - {id: support-referral, title: Support referral, category: safety,
         due: 2 working days after referral}
      - {id: safe-accommodation, title: Safe accommodation, category: accommodation,
         due: 24 hours after referral}
      - {id: first-contact, title: First contact, category: contact, due: referral}
      - {id: child-check, title: Child safeguarding check, category: safety,
         due: 14 days after referral, when: age < 18}
      - {id: interpreter-declined, title: Interpreter declined recorded, category: other,
         due: 3 days after referral, when: interpreter == false}
      - {id: monthly-review, title: Monthly review, category: other,
         due: 1 month after referral}
      - {id: weekly, title: Weekly check-in, category: contact, every: 1 week}
  - id: silent-period
    title: Silent period
    starts: charge
    ends: 8 weeks before trial
    obligations:
      - {id: charge-letter, title: Charge explained, category: legal,
         due: 5 working days after charge}
      - {id: silent-call, title: Silent period call, category: contact, every: 2 weeks}
  - id: trial-preparation
    title: Trial preparation
    starts: 8 weeks before trial
    ends: trial
    obligations:
      - {id: pre-trial-visit, title: Pre-trial visit, category: court,
         due: 10 working days before trial, when: not remote_evidence}
      - {id: trial-eve-call, title: Call the evening before, category: court,
         due: 2 hours before trial}
      - {id: court-call, title: Weekly court call, category: court, every: 1 week}
  - id: after-verdict
    title: After the verdict
    starts: verdict
    obligations:
      - {id: verdict-debrief, title: Verdict debrief, category: court,
         due: 2 days after verdict}
      - {id: charge-anniversary, title: Year since charge, category: other,
         due: 12 months after charge}
"""


@pytest.fixture(scope="module")
def journey() -> Journey:
    return parse_journey(JOURNEY, "plan.yaml")


def ev(journey: Journey, **events: str) -> dict[str, EventTime]:
    return {name: parse_event_time(text, journey.tz) for name, text in events.items()}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def run(
    journey: Journey,
    now: str,
    facts: dict | None = None,
    completions: dict | None = None,
    **events: str,
) -> Plan:
    return plan(journey, facts or {}, ev(journey, **events), completions or {}, utc(now))


def due_of(result: Plan) -> dict[str, str]:
    """Obligation -> due instant as ISO text in UTC (one-off obligations and occurrence 1)."""
    return {t.obligation: t.due.isoformat() for t in result.tasks}


def task(result: Plan, obligation: str) -> PlannedTask:
    [found] = [t for t in result.tasks if t.obligation == obligation]
    return found


# --- the worked example and the time rules ---------------------------------------------------


def test_worked_example_two_working_days_after_christmas_eve(journey: Journey) -> None:
    result = run(journey, "2026-12-24T12:00+00:00", referral="2026-12-24")
    support = task(result, "support-referral")
    assert support.due.isoformat() == "2026-12-30T23:59:59+00:00"  # 25, 26, 27, 28 skipped
    assert support.precision == "day"
    assert support.occurrence == 1
    assert (support.stage, support.title, support.category) == (
        "first-month",
        "Support referral",
        "safety",
    )
    assert support.key == ("support-referral", 1)


def test_hours_from_a_date_only_event_count_from_local_midnight(journey: Journey) -> None:
    summer = run(journey, "2026-07-01T12:00+00:00", referral="2026-07-01")
    assert task(summer, "safe-accommodation").due == utc("2026-07-01T23:00+00:00")  # 00:00 BST
    assert task(summer, "safe-accommodation").precision == "hour"
    winter = run(journey, "2026-12-01T12:00+00:00", referral="2026-12-01")
    assert task(winter, "safe-accommodation").due == utc("2026-12-02T00:00+00:00")


def test_hours_from_a_date_time_are_exact(journey: Journey) -> None:
    local = run(journey, "2026-07-01T14:00+00:00", referral="2026-07-01T14:30")  # BST
    assert task(local, "safe-accommodation").due == utc("2026-07-02T13:30+00:00")
    offset = run(journey, "2026-07-01T14:00+00:00", referral="2026-07-01T14:30:15+02:00")
    assert task(offset, "safe-accommodation").due == utc("2026-07-02T12:30:15+00:00")


def test_hours_across_a_daylight_saving_change_stay_exact(journey: Journey) -> None:
    # 00:30 GMT on the day the clocks go forward; 24 real hours later the wall clock says 01:30
    result = run(journey, "2026-03-29T00:30+00:00", referral="2026-03-29T00:30")
    due = task(result, "safe-accommodation").due
    assert due == utc("2026-03-30T00:30+00:00")
    assert due.astimezone(LONDON).hour == 1


def test_event_alone_is_the_end_of_its_local_day(journey: Journey) -> None:
    winter = run(journey, "2026-12-24T09:00+00:00", referral="2026-12-24T09:00")
    assert task(winter, "first-contact").due.isoformat() == "2026-12-24T23:59:59+00:00"
    summer = run(journey, "2026-07-01T09:00+00:00", referral="2026-07-01T09:00")
    assert task(summer, "first-contact").due.isoformat() == "2026-07-01T22:59:59+00:00"
    # a late-evening UTC instant is already the next local day in summer
    late = run(journey, "2026-07-01T23:30+00:00", referral="2026-07-01T23:30+00:00")
    assert task(late, "first-contact").due.isoformat() == "2026-07-02T22:59:59+00:00"


def test_end_of_day_is_local_on_both_sides_of_daylight_saving(journey: Journey) -> None:
    # referral on the Saturday before the spring change: +2 days lands in summer time
    spring = run(journey, "2026-03-28T12:00+00:00", referral="2026-03-28")
    assert task(spring, "first-contact").due.isoformat() == "2026-03-28T23:59:59+00:00"
    spring_late = run(
        journey, "2026-03-28T12:00+00:00", {"interpreter": False}, referral="2026-03-28"
    )
    declined = task(spring_late, "interpreter-declined").due  # 3 days after: 31 March, BST
    assert declined.isoformat() == "2026-03-31T22:59:59+00:00"
    assert declined.astimezone(LONDON).strftime("%H:%M:%S") == "23:59:59"
    autumn = run(journey, "2026-10-24T12:00+00:00", {"interpreter": False}, referral="2026-10-24")
    assert task(autumn, "first-contact").due.isoformat() == "2026-10-24T22:59:59+00:00"
    assert task(autumn, "interpreter-declined").due.isoformat() == "2026-10-27T23:59:59+00:00"


def test_day_units_from_a_date_time_use_its_local_date(journey: Journey) -> None:
    # 23:30 UTC on 2 July is 00:30 BST on 3 July: working days count from 3 July (Friday)
    result = run(journey, "2026-07-03T00:00+00:00", referral="2026-07-02T23:30+00:00")
    assert task(result, "support-referral").due.isoformat() == "2026-07-07T22:59:59+00:00"


def test_hours_before_a_date_only_event(journey: Journey) -> None:
    result = run(journey, "2026-05-01T12:00+00:00", referral="2026-05-01", trial="2026-11-02")
    eve = task(result, "trial-eve-call")
    assert eve.due == utc("2026-11-01T22:00+00:00")  # 2 hours before 00:00 GMT
    assert eve.precision == "hour"
    visit = task(result, "pre-trial-visit")  # 10 working days before Monday 2 November
    assert visit.due.isoformat() == "2026-10-19T22:59:59+00:00"


@pytest.mark.parametrize(
    ("referral", "due"),
    [
        ("2027-01-31", "2027-02-28T23:59:59+00:00"),
        ("2028-01-31", "2028-02-29T23:59:59+00:00"),  # leap year
        ("2026-03-31", "2026-04-30T22:59:59+00:00"),  # BST
        ("2026-12-31", "2027-01-31T23:59:59+00:00"),  # over the year end
        ("2026-08-15", "2026-09-15T22:59:59+00:00"),
    ],
)
def test_months_are_calendar_months_clamped(journey: Journey, referral: str, due: str) -> None:
    result = run(journey, referral + "T12:00+00:00", referral=referral)
    assert task(result, "monthly-review").due.isoformat() == due


def test_twelve_months_after_a_leap_day_clamps(journey: Journey) -> None:
    result = run(
        journey, "2028-03-01T12:00+00:00", referral="2028-01-01", charge="2028-02-29",
        verdict="2028-03-01",
    )  # fmt: skip
    assert task(result, "charge-anniversary").due.isoformat() == "2029-02-28T23:59:59+00:00"


# --- what is planned, and when --------------------------------------------------------------


def test_obligations_are_absent_until_their_anchors_are_recorded(journey: Journey) -> None:
    now = "2026-07-10T12:00+00:00"
    first = set(due_of(run(journey, now, referral="2026-07-01")))
    assert "support-referral" in first
    assert not first & {"charge-letter", "pre-trial-visit", "trial-eve-call", "verdict-debrief"}
    assert run(journey, now).tasks == ()  # nothing at all before the start event

    # the stage's `starts` event and the obligation's own `due` event are both needed
    verdict_only = set(due_of(run(journey, now, referral="2026-07-01", verdict="2026-07-09")))
    assert "verdict-debrief" in verdict_only
    assert "charge-anniversary" not in verdict_only  # needs charge too
    charge_only = set(due_of(run(journey, now, referral="2026-07-01", charge="2026-07-02")))
    assert "charge-anniversary" not in charge_only  # needs verdict (its stage) too
    both = run(journey, now, referral="2026-07-01", charge="2026-07-02", verdict="2026-07-09")
    assert task(both, "charge-anniversary").due.isoformat() == "2027-07-02T22:59:59+00:00"


def test_one_off_obligations_appear_before_their_stage_starts(journey: Journey) -> None:
    # trial in a year: trial preparation starts in ~10 months, but its one-off work is visible
    result = run(journey, "2026-07-10T12:00+00:00", referral="2026-07-01", trial="2027-07-05")
    start, _ = stage_window(journey, journey.stages[2], ev(journey, trial="2027-07-05"))
    assert start is not None and start > utc("2026-07-10T12:00+00:00")
    assert "pre-trial-visit" in due_of(result)
    assert "trial-eve-call" in due_of(result)
    assert "court-call" not in due_of(result)  # recurring: only while the stage is active


def test_when_false_makes_an_obligation_absent_and_defaults_apply(journey: Journey) -> None:
    now = "2026-07-02T12:00+00:00"
    events = {"referral": "2026-07-01", "trial": "2026-12-07"}
    default = due_of(run(journey, now, **events))  # remote_evidence defaults to false
    assert "pre-trial-visit" in default
    remote = due_of(run(journey, now, {"remote_evidence": True}, **events))
    assert "pre-trial-visit" not in remote
    explicit = due_of(run(journey, now, {"remote_evidence": False}, **events))
    assert "pre-trial-visit" in explicit


def test_unknown_facts_make_comparisons_false(journey: Journey) -> None:
    now = "2026-07-02T12:00+00:00"
    unknown = due_of(run(journey, now, referral="2026-07-01"))
    assert "child-check" not in unknown  # age unknown: `age < 18` is false
    assert "interpreter-declined" not in unknown  # no default: `interpreter == false` is false
    child = due_of(run(journey, now, {"age": 16, "interpreter": False}, referral="2026-07-01"))
    assert {"child-check", "interpreter-declined"} <= set(child)
    adult = due_of(run(journey, now, {"age": 30, "interpreter": True}, referral="2026-07-01"))
    assert not {"child-check", "interpreter-declined"} & set(adult)
    # facts the journey does not declare are ignored, and None means unknown
    stray = due_of(run(journey, now, {"colour": "red", "age": None}, referral="2026-07-01"))
    assert stray == unknown


# --- recurring obligations ------------------------------------------------------------------


def test_recurring_first_falls_due_every_after_the_stage_starts(journey: Journey) -> None:
    result = run(journey, "2026-07-02T12:00+00:00", referral="2026-07-01")
    weekly = task(result, "weekly")
    assert weekly.occurrence == 1
    assert weekly.due.isoformat() == "2026-07-08T22:59:59+00:00"
    assert weekly.precision == "day"
    assert weekly.key == ("weekly", 1)


def test_recurring_next_falls_due_every_after_the_last_completion(journey: Journey) -> None:
    done = [utc("2026-07-06T10:00+00:00"), utc("2026-07-15T21:30+00:00")]
    result = run(
        journey, "2026-07-16T12:00+00:00", completions={"weekly": done}, referral="2026-07-01"
    )
    weekly = task(result, "weekly")
    assert weekly.occurrence == 3
    # completed 22:30 BST on 15 July: the local date counts, so due at the end of 22 July
    assert weekly.due.isoformat() == "2026-07-22T22:59:59+00:00"
    one = run(journey, "2026-07-07T12:00+00:00", completions={"weekly": done[:1]},
              referral="2026-07-01")  # fmt: skip
    assert (task(one, "weekly").occurrence, task(one, "weekly").due.isoformat()) == (
        2,
        "2026-07-13T22:59:59+00:00",
    )


def test_recurring_only_while_the_stage_is_active(journey: Journey) -> None:
    events = {"referral": "2026-01-05", "charge": "2026-03-02", "trial": "2026-09-07"}
    # silent period (language 1.1): from the start of 2 March to the start of 13 July (8
    # weeks before 7 Sept, BST), active on [starts, ends)
    before = run(journey, "2026-03-01T23:59:59+00:00", **events)
    assert "silent-call" not in due_of(before)
    assert "charge-letter" in due_of(before)
    at_once = run(journey, "2026-03-02T00:00+00:00", **events)
    assert task(at_once, "silent-call").due.isoformat() == "2026-03-16T23:59:59+00:00"
    during = run(journey, "2026-03-03T08:00+00:00", **events)
    assert task(during, "silent-call").due.isoformat() == "2026-03-16T23:59:59+00:00"
    assert "court-call" not in due_of(during)
    last = run(journey, "2026-07-12T22:59:59+00:00", **events)
    assert "silent-call" in due_of(last) and "court-call" not in due_of(last)
    after = run(journey, "2026-07-12T23:00+00:00", **events)
    assert "silent-call" not in due_of(after)  # the stage ended: the open occurrence goes
    assert task(after, "court-call").due.isoformat() == "2026-07-20T22:59:59+00:00"
    assert "charge-letter" in due_of(after)  # one-off obligations stay planned
    assert "court-call" in due_of(run(journey, "2026-09-06T22:59:59+00:00", **events))
    trial_over = run(journey, "2026-09-06T23:00+00:00", **events)
    assert "court-call" not in due_of(trial_over)


def test_first_month_weekly_stops_when_the_month_ends(journey: Journey) -> None:
    assert "weekly" in due_of(run(journey, "2026-07-31T12:00+00:00", referral="2026-07-01"))
    assert "weekly" not in due_of(run(journey, "2026-08-02T12:00+00:00", referral="2026-07-01"))


def test_next_change_is_the_next_start_or_end_of_a_stage_with_recurring_work(
    journey: Journey,
) -> None:
    events = {"referral": "2026-01-05", "charge": "2026-03-02", "trial": "2026-09-07"}
    # (language 1.1: stage boundaries are the start of their local day)
    # in January: first month ends at the start of 5 February (GMT)
    january = run(journey, "2026-01-20T12:00+00:00", **events)
    assert january.next_change == utc("2026-02-05T00:00:00+00:00")
    # after that: the silent period starts at the start of charge day
    february = run(journey, "2026-02-10T12:00+00:00", **events)
    assert february.next_change == utc("2026-03-02T00:00:00+00:00")
    # during it: its end, 8 weeks before trial (BST), which is also trial preparation's start
    april = run(journey, "2026-04-10T12:00+00:00", **events)
    assert april.next_change == utc("2026-07-12T23:00:00+00:00")
    # during trial preparation: the trial ends it
    august = run(journey, "2026-08-10T12:00+00:00", **events)
    assert august.next_change == utc("2026-09-06T23:00:00+00:00")
    # after everything: time alone changes nothing
    later = run(journey, "2026-10-01T12:00+00:00", **events)
    assert later.next_change is None
    # unknown anchors are not a time: charge not yet recorded
    waiting = run(journey, "2026-03-01T12:00+00:00", referral="2026-01-05")
    assert waiting.next_change is None


def test_next_change_ignores_stages_without_recurring_work(journey: Journey) -> None:
    # after-verdict has no recurring obligations and no end: no change to wait for
    result = run(journey, "2026-10-01T12:00+00:00", referral="2026-01-05", verdict="2026-10-05")
    assert result.next_change is None


# --- determinism ------------------------------------------------------------------------------

EVENTS = {
    "referral": "2026-12-24",
    "charge": "2027-02-01T10:15",
    "trial": "2027-09-06",
    "verdict": "2027-09-17",
}


def test_same_inputs_give_the_same_plan_sorted_by_due(journey: Journey) -> None:
    now = "2027-08-01T12:00+00:00"
    facts = {"age": 16, "interpreter": False}
    first = run(journey, now, facts, **EVENTS)
    again = run(journey, now, dict(reversed(facts.items())), **dict(reversed(EVENTS.items())))
    assert first == again
    assert first.tasks == tuple(sorted(first.tasks, key=lambda t: (t.due, t.obligation)))
    keys = [t.key for t in first.tasks]
    assert len(keys) == len(set(keys))
    assert all(t.due.tzinfo is not None and t.due.utcoffset() == timedelta(0) for t in first.tasks)


def test_ties_on_due_are_broken_by_obligation_id(journey: Journey) -> None:
    # make child-check fall due with monthly-review, and always planned
    text = JOURNEY.replace(
        "due: 14 days after referral, when: age < 18", "due: 1 month after referral"
    )
    tied = parse_journey(text, "plan.yaml")
    result = run(tied, "2026-07-02T12:00+00:00", referral="2026-07-01")
    same = [t.obligation for t in result.tasks if t.due == task(result, "monthly-review").due]
    assert same == sorted(same) == ["child-check", "monthly-review"]


event_days = st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 12, 31))
offsets = st.integers(min_value=0, max_value=400)


@settings(max_examples=60, deadline=None)
@given(referral=event_days, charge_after=offsets, trial_after=offsets, now_after=offsets)
def test_plans_are_deterministic_sorted_and_respect_the_time_rules(
    journey: Journey, referral: date, charge_after: int, trial_after: int, now_after: int
) -> None:
    charge = referral + timedelta(days=charge_after)
    events = {
        "referral": referral.isoformat(),
        "charge": charge.isoformat(),
        "trial": (charge + timedelta(days=trial_after)).isoformat(),
    }
    now = datetime.combine(referral, datetime.min.time(), UTC) + timedelta(days=now_after)
    a = run(journey, now.isoformat(), {"age": 10}, **events)
    b = run(journey, now.isoformat(), {"age": 10}, **events)
    assert a == b
    assert list(a.tasks) == sorted(a.tasks, key=lambda t: (t.due, t.obligation, t.occurrence))
    calendar = get_calendar(journey.calendar)
    for t in a.tasks:
        local = t.due.astimezone(LONDON)
        if t.precision == "day":
            assert (local.hour, local.minute, local.second) == (23, 59, 59)
        if t.obligation in ("support-referral", "charge-letter", "pre-trial-visit"):
            assert calendar.is_working_day(local.date())
    assert a.next_change is None or a.next_change > now


SHIPPED = Path(__file__).resolve().parent.parent / "journeys"


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["adult-cjs", "child-cjs", "safe-return-romania", "triage"]),
    data=st.data(),
)
def test_a_stage_is_passed_over_only_when_it_has_no_episode(name: str, data) -> None:
    # `plan` skips a stage none of whose start events is recorded without working out its
    # episodes; that shortcut must agree with `stage_episodes` for any recordings
    journey = load_journey(SHIPPED / f"{name}.yaml")
    recorded = []
    for event in data.draw(st.lists(st.sampled_from(journey.events), max_size=8)):
        day = data.draw(event_days)
        recorded.append((event, None, parse_event_time(day.isoformat(), journey.tz)))
    events, occurrences = collect(recorded)
    for stage in journey.stages:
        starts = journey.stage_start(stage).events
        if not any(e in events or e in occurrences for e in starts):
            assert stage_episodes(journey, stage, events, occurrences) == []


# --- other calendars and time zones -----------------------------------------------------------

ROMANIA = (
    JOURNEY.replace("journey: plan", "journey: plan-ro")
    .replace("calendar: england-and-wales", "calendar: romania")
    .replace("timezone: Europe/London", "timezone: Europe/Bucharest")
)


def test_romanian_calendar_and_time_zone() -> None:
    ro = parse_journey(ROMANIA, "plan-ro.yaml")
    england = parse_journey(JOURNEY, "plan.yaml")
    now = "2027-01-05T12:00+00:00"
    # 6 and 7 January (Epiphany, St John) are Romanian holidays, not English ones
    ro_plan = run(ro, now, referral="2027-01-05")
    assert task(ro_plan, "support-referral").due.isoformat() == "2027-01-11T21:59:59+00:00"
    assert task(ro_plan, "support-referral").due.astimezone(BUCHAREST).hour == 23
    en_plan = run(england, now, referral="2027-01-05")
    assert task(en_plan, "support-referral").due.isoformat() == "2027-01-07T23:59:59+00:00"
    # date-only events are midnight in Bucharest: 22:00 UTC the evening before
    assert task(ro_plan, "safe-accommodation").due == utc("2027-01-05T22:00+00:00")
    # Orthodox Good Friday (30 April) and Easter Monday (3 May 2027) are holidays
    easter = run(ro, "2027-04-29T12:00+00:00", referral="2027-04-29")
    assert task(easter, "support-referral").due.isoformat() == "2027-05-05T20:59:59+00:00"


def test_shipped_romanian_journey_plans_in_bucharest_time() -> None:
    ro = load_journey(Path(__file__).resolve().parent.parent / "journeys/safe-return-romania.yaml")
    result = plan(ro, {}, ev(ro, **{ro.start: "2027-01-05"}), {}, utc("2027-01-05T12:00+00:00"))
    assert result.tasks
    zones = {ro.clock(t.obligation).tz.key for t in result.tasks}
    assert zones == {"Europe/Bucharest", "Europe/London"}  # the Victims' Code's own clock
    for t in result.tasks:
        if t.precision == "day":
            zone = ro.clock(t.obligation).tz
            assert t.due.astimezone(zone).strftime("%H:%M:%S") == "23:59:59"
            if zone == BUCHAREST:
                summer = t.due.astimezone(BUCHAREST).dst()  # EET is UTC+2, EEST UTC+3
                assert t.due.strftime("%H:%M:%S") == ("20:59:59" if summer else "21:59:59")
