"""Named escalation ladders (journey language 1.1, rule 5): `ladders:` and `escalate: NAME`."""

from __future__ import annotations

import pytest

from engine.core.calendar import Duration
from engine.core.journey import Escalation
from engine.core.loader import JourneyError, parse_journey
from engine.core.outline import outline

LADDERS = """\
journey: ladders
title: Ladders test journey
calendar: england-and-wales
timezone: Europe/London
start: referral
events: [referral, charge]
ladders:
  victims-code:
    - {after: 1 working day, notify: team_lead}
    - {after: 3 working days, notify: [team_lead, programme_lead]}
stages:
  - id: investigation
    title: Investigation
    obligations:
      - id: told-of-charge
        title: Told of the charge
        category: legal
        due: 1 working day after charge
        escalate: victims-code
      - id: safe-accommodation
        title: Safe accommodation
        category: accommodation
        due: 24 hours after referral
        escalate: &urgent
          - {after: 2 hours, notify: team_lead, urgent: true}
      - id: essentials
        title: Essentials
        category: safety
        due: 24 hours after referral
        escalate: *urgent
"""


def problems(text: str) -> list[str]:
    with pytest.raises(JourneyError) as error:
        parse_journey(text, "ladders.yaml")
    return [str(p) for p in error.value.problems]


def test_an_obligation_names_a_ladder_and_gets_its_steps() -> None:
    journey = parse_journey(LADDERS, "ladders.yaml")
    _, told = journey.obligations["told-of-charge"]
    assert told.escalate == (
        Escalation(after=Duration(1, "working_day"), notify=("team_lead",)),
        Escalation(after=Duration(3, "working_day"), notify=("team_lead", "programme_lead")),
    )
    assert journey.ladders["victims-code"] == told.escalate


def test_yaml_anchors_keep_working() -> None:
    journey = parse_journey(LADDERS, "ladders.yaml")
    _, essentials = journey.obligations["essentials"]
    assert essentials.escalate[0].urgent and essentials.escalate[0].after == Duration(2, "hour")


def test_an_unknown_ladder_is_an_error_at_its_line_with_did_you_mean() -> None:
    text = LADDERS.replace("escalate: victims-code", "escalate: victim-code")
    assert problems(text) == [
        "ladders.yaml:19:19: stages[0].obligations[0].escalate: unknown ladder 'victim-code' "
        "(ladders: victims-code); did you mean 'victims-code'?"
    ]


def test_a_ladder_must_rise_and_is_checked_where_it_is_written() -> None:
    text = LADDERS.replace("{after: 3 working days,", "{after: 1 day,")
    assert problems(text) == [
        "ladders.yaml:10:15: ladders.victims-code[1].after: escalation steps must be strictly "
        "increasing: '1 day' is not after '1 working day' for a task due 2027-01-29 "
        "(1 working day after is 2027-02-01, 1 day after is 2027-01-30)"
    ]


def test_ladder_names_are_kebab_case_and_a_ladder_has_steps() -> None:
    text = LADDERS.replace("  victims-code:\n", "  Victims_Code: []\n  victims-code:\n")
    found = problems(text)
    assert found[0] == (
        "ladders.yaml:8:3: ladders.Victims_Code: 'Victims_Code' must be lowercase kebab-case, "
        "such as 'first-month'"
    )
    assert found[1] == "ladders.yaml:8:17: ladders.Victims_Code: must list at least one item"


def test_the_outline_names_the_ladder_an_obligation_uses() -> None:
    text = outline(parse_journey(LADDERS, "ladders.yaml"))
    told = text[text.index("Told of the charge") :].split("\n  - ")[0]
    assert "escalation ladder 'victims-code':" in told
    assert "1 working day overdue: tell the team lead" in told
    accommodation = text[text.index("Safe accommodation") :].split("\n  - ")[0]
    assert "escalation ladder" not in accommodation  # a YAML anchor has no name to show
