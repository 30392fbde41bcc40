"""Stage boundaries start their day (journey language 1.1, rule 1).

A day-based `starts:`/`ends:` (days, working days, weeks, months, or an event alone recorded
as a date) is 00:00:00 local of its day; an event recorded with a time, alone, is that
instant; hours stay exact; a stage is active on [starts, ends). Deadlines keep the end of
their local day. Expectations are exact UTC instants: London is on GMT until 28 March 2027.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.core.calendar import start_of_day
from engine.core.journey import Journey
from engine.core.loader import journey_warnings, parse_journey
from engine.core.planner import Episode, plan, stage_episodes
from engine.core.values import parse_event_time
from tests.conftest import only_journey, simulated

BOUNDS = """\
journey: bounds
title: Stage boundary test journey
calendar: england-and-wales
timezone: Europe/London
start: referral
events: [referral, charge, trial]
stages:
  - id: first-month
    title: First month
    ends: 30 days after referral
    obligations:
      - {id: weekly, title: Weekly call, category: contact, every: 1 week}
  - id: silent-period
    title: Silent period
    starts: charge
    ends: 2 working days before trial
    obligations:
      - {id: check-in, title: Check-in, category: contact, every: 14 days}
      - {id: told-of-charge, title: Told of the charge, category: legal, due: charge}
  - id: first-days
    title: First days
    starts: 2 working days after referral
    ends: 48 hours after referral
    obligations:
      - {id: hourly, title: Safety call, category: safety, every: 4 hours}
"""


@pytest.fixture(scope="module")
def journey() -> Journey:
    return parse_journey(BOUNDS, "bounds.yaml")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def episodes(journey: Journey, stage: int, **events: str) -> list[Episode]:
    recorded = {name: parse_event_time(text, journey.tz) for name, text in events.items()}
    return stage_episodes(journey, journey.stages[stage], recorded)


def dues(journey: Journey, now: str, **events: str) -> dict[str, str]:
    recorded = {name: parse_event_time(text, journey.tz) for name, text in events.items()}
    return {
        t.obligation: t.due.isoformat() for t in plan(journey, {}, recorded, {}, utc(now)).tasks
    }


def test_the_issue_example_a_stage_starting_on_charge_is_active_at_once(journey) -> None:
    # charge recorded as 2027-02-01, at 11:00 that day: the stage started at 00:00
    [episode] = episodes(journey, 1, referral="2027-01-04", charge="2027-02-01")
    assert episode.start == utc("2027-02-01T00:00:00+00:00")
    due = dues(journey, "2027-02-01T11:00+00:00", referral="2027-01-04", charge="2027-02-01")
    assert due["check-in"] == "2027-02-15T23:59:59+00:00"  # every 14 days: end of local day
    assert due["told-of-charge"] == "2027-02-01T23:59:59+00:00"  # a deadline: end of day


def test_an_event_recorded_with_a_time_starts_the_stage_at_that_instant(journey) -> None:
    [episode] = episodes(journey, 1, referral="2027-01-04", charge="2027-02-01T11:00")
    assert episode.start == utc("2027-02-01T11:00:00+00:00")
    events = {"referral": "2027-01-04", "charge": "2027-02-01T11:00"}
    assert "check-in" not in dues(journey, "2027-02-01T10:59:59+00:00", **events)
    assert dues(journey, "2027-02-01T11:00+00:00", **events)["check-in"] == (
        "2027-02-15T23:59:59+00:00"
    )


def test_a_day_based_end_is_the_start_of_its_day_and_the_stage_is_half_open(journey) -> None:
    # 30 days after 1 January is 31 January: the stage covers 1 to 30 January
    [episode] = episodes(journey, 0, referral="2027-01-01")
    assert episode == Episode(utc("2027-01-01T00:00+00:00"), utc("2027-01-31T00:00+00:00"))
    assert episode.active(utc("2027-01-30T23:59:59+00:00"))
    assert not episode.active(utc("2027-01-31T00:00:00+00:00"))
    assert "weekly" not in dues(journey, "2027-01-31T00:00+00:00", referral="2027-01-01")


def test_working_days_and_hours_as_boundaries(journey) -> None:
    # referral on Thursday 24 December 2026: working day 2 is Wednesday 30 December (25th,
    # the weekend and the substitute Boxing Day are not working days); 48 hours is exact
    [episode] = episodes(journey, 2, referral="2026-12-24T10:00")
    assert episode == Episode(utc("2026-12-30T00:00+00:00"), utc("2026-12-26T10:00+00:00"))
    [back] = episodes(journey, 1, referral="2027-01-04", charge="2027-02-01", trial="2027-03-01")
    assert back.end == utc("2027-02-25T00:00+00:00")  # Thursday, 2 working days before Monday


def test_boundaries_across_the_clock_change(journey) -> None:
    # the clocks go forward at 01:00 on 28 March 2027: midnight before it is GMT, after BST
    assert episodes(journey, 0, referral="2027-02-26")[0].end == utc("2027-03-28T00:00+00:00")
    assert episodes(journey, 0, referral="2027-02-27")[0].end == utc("2027-03-28T23:00+00:00")


def test_a_skipped_midnight_starts_the_day_at_its_first_moment() -> None:
    # Beirut moves from 00:00 to 01:00 on the last Sunday of March
    beirut = ZoneInfo("Asia/Beirut")
    assert start_of_day(date(2027, 3, 28), beirut) == utc("2027-03-27T22:00+00:00")
    assert start_of_day(date(2027, 3, 28), beirut).astimezone(beirut).hour == 1


def test_an_event_alone_now_compares_with_hours_in_the_never_active_warning() -> None:
    text = BOUNDS.replace("ends: 48 hours after referral", "ends: 2 hours before referral")
    text = text.replace("starts: 2 working days after referral", "starts: referral")
    [warning] = journey_warnings(text, "bounds.yaml")
    assert str(warning) == (
        "bounds.yaml:23:11: stages[2].ends: warning: '2 hours before referral' always falls "
        "before starts 'referral': the stage is never active"
    )


def test_simulate_plans_the_issue_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    only_journey(tmp_path, monkeypatch, "bounds.yaml", BOUNDS)
    due = simulated(capsys, "bounds",
        "--event", "referral=2027-01-04", "--event", "charge=2027-02-01",
        "--now", "2027-02-01T11:00",
    )  # fmt: skip
    assert due["check-in"] == "2027-02-15T23:59:59+00:00"
