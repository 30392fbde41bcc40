"""Per-stage and per-obligation calendar and time zone (journey language 1.1, rule 6).

The example of the issue: England-and-Wales Victims' Code duties inside the Romanian
journey, while in-country work counts in Romanian working days. Bucharest is UTC+2 in
winter, London UTC+0.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine.core.escalation import schedule
from engine.core.journey import Journey
from engine.core.loader import parse_journey
from engine.core.outline import outline
from engine.core.planner import plan, stage_episodes
from engine.core.values import parse_event_time
from tests.conftest import only_journey, problems, simulated

CLOCKS = """\
journey: clocks
title: Per-obligation clocks test journey
calendar: romania
timezone: Europe/Bucharest
start: referral
events: [referral, charge]
stages:
  - id: in-country
    title: In Romania
    obligations:
      - id: ro-referral
        title: Referred to the local service
        category: other
        due: 1 working day after referral
      - id: told-of-charge
        title: Told of the charge (Victims' Code)
        category: legal
        due: 1 working day after charge
        calendar: england-and-wales
        timezone: Europe/London
        escalate:
          - {after: 1 working day, notify: team_lead}
  - id: uk-case
    title: The case in England
    calendar: england-and-wales
    timezone: Europe/London
    starts: charge
    obligations:
      - id: uk-duty
        title: A UK duty
        category: legal
        due: 1 working day after charge
      - id: ro-duty
        title: A duty done in Romania
        category: other
        due: 1 working day after charge
        calendar: romania
      - id: uk-call
        title: Call
        category: contact
        every: 1 week
"""


@pytest.fixture(scope="module")
def journey() -> Journey:
    return parse_journey(CLOCKS, "clocks.yaml")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def dues(journey: Journey, now: str, **events: str) -> dict[str, str]:
    recorded = {name: parse_event_time(text, journey.tz) for name, text in events.items()}
    return {
        t.obligation: t.due.isoformat() for t in plan(journey, {}, recorded, {}, utc(now)).tasks
    }


# Monday 29 November 2027: 30 November (St Andrew) and 1 December (National Day) are
# Romanian public holidays, not English ones.
EVENTS = {"referral": "2027-11-29", "charge": "2027-11-29"}


def test_each_obligation_counts_on_its_own_calendar_and_zone(journey: Journey) -> None:
    due = dues(journey, "2027-11-29T12:00+00:00", **EVENTS)
    assert due["ro-referral"] == "2027-12-02T21:59:59+00:00"  # Thursday, end of day Bucharest
    assert due["told-of-charge"] == "2027-11-30T23:59:59+00:00"  # Tuesday, end of day London
    assert due["uk-duty"] == "2027-11-30T23:59:59+00:00"  # the stage's clock
    # the obligation's calendar, the stage's zone
    assert due["ro-duty"] == "2027-12-02T23:59:59+00:00"
    assert due["uk-call"] == "2027-12-06T23:59:59+00:00"


def test_the_clock_is_the_innermost_that_sets_each_part(journey: Journey) -> None:
    assert journey.clock("ro-referral").calendar.name == "romania"
    assert journey.clock("ro-referral").tz.key == "Europe/Bucharest"
    assert journey.clock("in-country").tz.key == "Europe/Bucharest"
    assert journey.clock("uk-case").tz.key == "Europe/London"
    ro_duty = journey.clock("ro-duty")
    assert (ro_duty.calendar.name, ro_duty.tz.key) == ("romania", "Europe/London")
    assert journey.clock("told-of-charge").calendar.name == "england-and-wales"


def test_a_date_only_event_keeps_its_date_on_another_zone(journey: Journey) -> None:
    # 29 November in Bucharest starts at 22:00 UTC on the 28th, which is still the 28th in
    # London: the date recorded is the date counted from, on either clock
    [episode] = stage_episodes(journey, journey.stages[1], _recorded(journey, **EVENTS))
    assert episode.start == utc("2027-11-29T00:00+00:00")  # 00:00 London, the stage's zone
    # an event recorded with a time is that instant, seen on each clock's own calendar
    timed = {"referral": "2027-11-29", "charge": "2027-11-29T01:00"}  # 23:00 on the 28th in UK
    assert dues(journey, "2027-11-29T12:00+00:00", **timed)["uk-duty"] == (
        "2027-11-29T23:59:59+00:00"
    )


def _recorded(journey: Journey, **events: str):
    return {name: parse_event_time(text, journey.tz) for name, text in events.items()}


def test_escalations_count_on_the_obligation_clock(journey: Journey) -> None:
    _, ob = journey.obligations["told-of-charge"]
    clock = journey.clock(ob.id)
    due = utc("2027-11-30T23:59:59+00:00")
    [step] = [a for a in schedule(ob, due, clock.calendar, clock.tz) if a.kind != "reminder"]
    assert step.at == utc("2027-12-01T23:59:59+00:00")  # 1 December is a working day in England


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("        calendar: romania\n", "        calendar: Romania\n",
         "clocks.yaml:37:19: stages[1].obligations[1].calendar: 'Romania' is not allowed: "
         "input should be 'england-and-wales', 'scotland', 'northern-ireland' or 'romania'; "
         "did you mean 'romania'?"),
        ("    timezone: Europe/London\n    starts", "    timezone: Europe/Londn\n    starts",
         "clocks.yaml:26:15: stages[1].timezone: unknown time zone 'Europe/Londn' (use an "
         "IANA name such as Europe/London)"),
    ],
)  # fmt: skip
def test_a_bad_calendar_or_zone_is_reported_where_it_is_written(old, new, problem) -> None:
    assert old in CLOCKS
    assert problems(CLOCKS.replace(old, new, 1), "clocks.yaml") == [problem]


LADDER = """\
        escalate:
          - {after: 1 working day, notify: team_lead}
          - {after: 4 days, notify: team_lead}
"""


def test_a_ladder_is_checked_on_the_calendar_its_obligation_counts_on() -> None:
    # 1 working day then 4 days crosses over on holidays: which ones is the calendar's
    inline = CLOCKS.replace(
        "        escalate:\n          - {after: 1 working day, notify: team_lead}\n", LADDER
    )
    [problem] = problems(inline, "clocks.yaml")
    assert problem.endswith(
        "for a task due 2027-12-24 (1 working day after is 2027-12-29, 4 days after is 2027-12-28)"
    )  # England and Wales: 27 and 28 December 2027 are substitute bank holidays
    named = inline.replace(LADDER, "        escalate: uk-code\n").replace(
        "stages:\n",
        "ladders:\n  uk-code:\n" + LADDER.replace("        escalate:\n", "") + "stages:\n",
    )
    [problem] = problems(named, "clocks.yaml")
    assert problem.startswith("clocks.yaml:10:")
    assert "for a task due 2027-12-24" in problem
    # the same ladder on the journey's own calendar fails on a Romanian date
    romanian = named.replace(
        "        calendar: england-and-wales\n"
        "        timezone: Europe/London\n"
        "        escalate: uk-code",
        "        escalate: uk-code",
    )
    [problem] = problems(romanian, "clocks.yaml")
    assert "for a task due 2028-12-22" in problem


def test_show_says_where_an_obligation_counts_on_another_clock(journey: Journey) -> None:
    lines = outline(journey).splitlines()
    at = lines.index(next(line for line in lines if "[told-of-charge," in line))
    assert lines[at + 1] == "      counted on england-and-wales working days, Europe/London"
    assert not any("counted on" in line for line in lines[:at])
    assert sum("counted on" in line for line in lines) == 4  # and the uk-case stage's three


def test_simulate_shows_each_task_in_its_own_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    only_journey(tmp_path, monkeypatch, "clocks.yaml", CLOCKS)
    local = simulated(capsys, "clocks",
        "--event", "referral=2027-11-29", "--event", "charge=2027-11-29",
        "--now", "2027-11-29T12:00",
    )  # fmt: skip
    assert local["ro-referral"] == "2027-12-02T23:59:59+02:00"
    assert local["told-of-charge"] == "2027-11-30T23:59:59+00:00"
    assert date.fromisoformat(local["uk-duty"][:10]) == date(2027, 11, 30)
