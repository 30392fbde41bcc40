"""`first of (A, B, ...)` and `last of (A, B, ...)` anchors (journey language 1.1, rule 4).

Planner expectations are exact instants in UTC. London is on GMT until 28 March 2027 and
from then on BST, when the end of a local day is 22:59:59 UTC.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.core.journey import Anchor, Journey, Pick, parse_anchor
from engine.core.loader import journey_warnings, parse_journey
from engine.core.outline import mermaid_diagram, outline
from engine.core.planner import plan, stage_episodes
from engine.core.values import parse_event_time
from tests.conftest import cli, only_journey, problems

PICKS = """\
journey: picks
title: First and last of test journey
calendar: scotland
timezone: Europe/London
start: referral
events:
  - referral
  - reported
  - charge
  - no_charge
  - conclusive_grounds
  - {name: arrest, repeats: true}
stages:
  - id: support
    title: Support
    ends: last of (90 days after referral, conclusive_grounds)
    obligations:
      - id: told-of-rights
        title: Told of their rights
        category: legal
        due: 1 working day after first of (reported, referral)
      - id: told-of-decision
        title: Told of the charging decision
        category: legal
        due: 5 working days after first of (charge, no_charge)
      - {id: first-word, title: First word either way, category: legal,
         due: "first of (24 hours after referral, charge)"}
      - {id: check-in, title: Check-in, category: contact, every: 30 days}
  - id: after-decision
    title: After the decision
    starts: first of (charge, no_charge)
    obligations:
      - id: review
        title: Review
        category: other
        due: 2 days after charge
"""


@pytest.fixture(scope="module")
def journey() -> Journey:
    return parse_journey(PICKS, "picks.yaml")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def dues(journey: Journey, now: str, **events: str) -> dict[str, tuple[str, str]]:
    recorded = {name: parse_event_time(text, journey.tz) for name, text in events.items()}
    result = plan(journey, {}, recorded, {}, utc(now))
    return {t.obligation: (t.due.isoformat(), t.precision) for t in result.tasks}


# --- the language --------------------------------------------------------------------------


def test_an_anchor_may_pick_the_first_or_last_of_several_and_be_shifted() -> None:
    anchor = parse_anchor("5 working days after first of (charge, no_charge)")
    assert anchor.event is None and anchor.sign == 1 and str(anchor.offset) == "5 working days"
    assert anchor.pick == Pick("first", (Anchor("charge"), Anchor("no_charge")))
    assert anchor.events == ("charge", "no_charge")
    assert str(anchor) == "5 working days after first of (charge, no_charge)"
    last = parse_anchor("last  of(90 days after referral,conclusive_grounds)")
    assert str(last) == "last of (90 days after referral, conclusive_grounds)"
    assert last.precision == "day"
    assert parse_anchor("first of (24 hours after referral, charge)").precision == "hour"
    assert parse_anchor("2 days before first of (charge, referral)").sign == -1


def test_plain_anchors_keep_their_meaning() -> None:
    assert parse_anchor("14 days after referral") == Anchor(
        "referral", parse_anchor("14 days after referral").offset, 1
    )
    assert parse_anchor("first_contact").event == "first_contact"
    assert parse_anchor("2 days after last_unpaid_wage").events == ("last_unpaid_wage",)


@pytest.mark.parametrize(
    ("anchor", "line", "col", "message"),
    [
        ("first of (charge, no_chrge)", 36, 14,
         "unknown event 'no_chrge' (declared events: arrest, charge, conclusive_grounds, "
         "no_charge, referral, reported)"),
        ("first of (charge, arrest)", 36, 14,
         "'arrest' repeats, so it cannot be in 'first of': each occurrence is planned on "
         "its own (anchor on it alone)"),
        ("first of charge, no_charge", 36, 14,
         "bad anchor 'first of charge, no_charge': write the anchors of 'first of' in "
         "brackets, such as 'first of (charge, no_charge)'"),
        ("first of (charge, last of (referral, reported))", 36, 14,
         "bad anchor 'first of (charge, last of (referral, reported))': 'first of' cannot "
         "hold another 'first of' or 'last of': list all the anchors in one"),
        ("last of (charge)", 36, 14,
         "'last of' needs at least two anchors to choose from; with one, write it alone"),
        ("first of (charge, charge)", 36, 14, "'charge' is listed twice in 'first of'"),
        ("first of (charge,, no_charge)", 36, 14,
         "bad anchor 'first of (charge,, no_charge)': an empty item in 'first of': "
         "separate anchors with one comma"),
        ("first of (charge, 2 fortnights after referral)", 36, 14,
         "bad duration '2 fortnights': expected N UNIT where N is a positive whole number "
         "and UNIT is hours, days, working days, weeks or months"),
        ("first of (charge, 99999 days after referral)", 36, 14,
         "`99999 days` is too long: at most 3650 days (10 years)"),
        ("2 fortnights after first of (charge, no_charge)", 36, 14,
         "bad duration '2 fortnights': expected N UNIT where N is a positive whole number "
         "and UNIT is hours, days, working days, weeks or months"),
    ],
)  # fmt: skip
def test_bad_picks_are_reported_at_the_anchor(anchor: str, line: int, col: int, message: str):
    text = PICKS.replace("due: 2 days after charge", f"due: {anchor}")
    assert problems(text, "picks.yaml") == [
        f"picks.yaml:{line}:{col}: stages[1].obligations[0].due: {message}"
    ]


def test_a_bad_stage_boundary_pick_is_reported_at_its_line_and_column() -> None:
    text = PICKS.replace("ends: last of (90 days", "ends: latest of (90 days")
    assert problems(text, "picks.yaml") == [
        "picks.yaml:16:11: stages[0].ends: bad anchor 'latest of (90 days after referral, "
        "conclusive_grounds)': expected EVENT, 'N UNIT after EVENT', 'N UNIT before EVENT', "
        "or 'first of (A, B)' / 'last of (A, B)'"
    ]


def test_an_unquoted_pick_in_a_flow_mapping_is_told_to_quote_it() -> None:
    text = PICKS.replace(
        'due: "first of (24 hours after referral, charge)"', "due: first of (a, b)"
    )
    assert problems(text, "picks.yaml")[0] == (
        "picks.yaml:27:15: stages[0].obligations[2].due: bad anchor 'first of (a': the "
        "bracket after 'first of' is not closed (inside { } or [ ], put the whole anchor in "
        "quotes: YAML splits it at each comma)"
    )


def test_the_schema_pattern_takes_picks_and_refuses_nesting(journey: Journey) -> None:
    schema = Journey.model_json_schema(mode="validation")
    pattern = re.compile(schema["$defs"]["Stage"]["properties"]["ends"]["anyOf"][0]["pattern"])
    for good in ("charge", "2 days after charge", "first of (charge, no_charge)",
                 "5 working days after first of (charge, no_charge)",
                 "last of (90 days after referral, conclusive_grounds)"):  # fmt: skip
        assert pattern.match(good), good
    for bad in ("first of (charge)", "first of (a, last of (b, c))", "first of charge, b"):
        assert not pattern.match(bad), bad


# --- planning ------------------------------------------------------------------------------


def test_first_of_is_known_once_any_item_is_and_is_the_earliest(journey: Journey) -> None:
    now = "2027-01-05T12:00+00:00"
    # referral alone: told of rights a working day after the referral (Monday 4 January)
    assert dues(journey, now, referral="2027-01-04")["told-of-rights"] == (
        "2027-01-05T23:59:59+00:00", "day",
    )  # fmt: skip
    # reported to police the Wednesday before: the Code counts from the report (in Scotland
    # 1, 2 and, for the 2nd falling on a Saturday, 4 January 2027 are holidays)
    both = dues(journey, now, referral="2027-01-04", reported="2026-12-30T18:00")
    assert both["told-of-rights"] == ("2026-12-31T23:59:59+00:00", "day")
    # reported after the referral: the referral is still first
    later = dues(journey, now, referral="2027-01-04", reported="2027-01-08")
    assert later["told-of-rights"] == ("2027-01-05T23:59:59+00:00", "day")


def test_a_shifted_pick_counts_from_the_first_item(journey: Journey) -> None:
    now = "2027-02-01T12:00+00:00"
    base = {"referral": "2027-01-04"}
    assert "told-of-decision" not in dues(journey, now, **base)
    # no charge on Friday 5 February: 5 working days is Friday 12 February
    nfa = dues(journey, now, **base, no_charge="2027-02-05")
    assert nfa["told-of-decision"] == ("2027-02-12T23:59:59+00:00", "day")
    # a charge recorded later, dated before: it is the first now
    both = dues(journey, now, **base, no_charge="2027-02-05", charge="2027-02-01T11:00")
    assert both["told-of-decision"] == ("2027-02-08T23:59:59+00:00", "day")


def test_an_unshifted_pick_compares_its_items_as_deadlines(journey: Journey) -> None:
    now = "2027-01-04T12:00+00:00"
    # 24 hours after a referral at 09:00 is 09:00 next day; a charge that day ends at 23:59:59
    assert dues(journey, now, referral="2027-01-04T09:00", charge="2027-01-05")["first-word"] == (
        "2027-01-05T09:00:00+00:00",
        "hour",
    )
    # a charge on the referral day: the end of that day comes first, a day-precision task
    assert dues(journey, now, referral="2027-01-04T09:00", charge="2027-01-04")["first-word"] == (
        "2027-01-04T23:59:59+00:00",
        "day",
    )


def test_last_of_is_known_only_once_every_item_is(journey: Journey) -> None:
    stage = journey.stages[0]

    def ends(**events: str) -> datetime | None:
        recorded = {n: parse_event_time(t, journey.tz) for n, t in events.items()}
        return stage_episodes(journey, stage, recorded)[0].end

    # Scotland: support for at least 90 days, or until the conclusive decision if later
    assert ends(referral="2027-01-04") is None
    early = ends(referral="2027-01-04", conclusive_grounds="2027-02-01")
    late = ends(referral="2027-01-04", conclusive_grounds="2027-06-01")
    assert early is not None and late is not None
    assert early < late
    assert late.astimezone(journey.tz).date().isoformat() == "2027-06-01"
    assert early.astimezone(journey.tz).date().isoformat() == "2027-04-04"


def test_a_stage_may_start_on_a_pick(journey: Journey) -> None:
    stage = journey.stages[1]
    recorded = {"referral": parse_event_time("2027-01-04", journey.tz)}
    assert stage_episodes(journey, stage, recorded) == []
    recorded["no_charge"] = parse_event_time("2027-03-01", journey.tz)
    [episode] = stage_episodes(journey, stage, recorded)
    assert episode.end is None
    assert episode.start.astimezone(journey.tz).date().isoformat() == "2027-03-01"
    recorded["charge"] = parse_event_time("2027-02-10", journey.tz)
    [episode] = stage_episodes(journey, stage, recorded)
    assert episode.start.astimezone(journey.tz).date().isoformat() == "2027-02-10"


ENDS_ON_A_REPEATING_PICK = """\
journey: contact-until-decided
title: Contact until a charging decision
calendar: england-and-wales
timezone: Europe/London
start: referral
events:
  - referral
  - no_charge
  - {name: charge, repeats: true}
stages:
  - id: before-decision
    title: Before the charging decision
    starts: referral
    ends: first of (charge, no_charge)
    obligations:
      - {id: check-in, title: Check-in, category: contact, every: 2 weeks}
"""


def test_a_stage_may_end_on_the_first_of_a_repeating_event_and_another() -> None:
    # In `ends`, a repeating event counts its first recording after the episode opened, as
    # it does alone: the pre-charge check-ins stop at a charge or a decision not to charge.
    journey = parse_journey(ENDS_ON_A_REPEATING_PICK, "contact-until-decided.yaml")
    stage = journey.stages[0]
    referral = {"referral": parse_event_time("2027-01-04T09:00", journey.tz)}
    [episode] = stage_episodes(journey, stage, referral)
    assert episode.end is None
    no_charge = {**referral, "no_charge": parse_event_time("2027-05-07", journey.tz)}
    [episode] = stage_episodes(journey, stage, no_charge)
    assert episode.end == utc("2027-05-07T00:00+01:00")  # the start of its day (BST)
    charges = {
        1: parse_event_time("2027-03-02", journey.tz),
        2: parse_event_time("2027-04-06", journey.tz),
    }
    latest = {**no_charge, "charge": charges[2]}
    [episode] = stage_episodes(journey, stage, latest, {"charge": charges})
    assert episode.end == utc("2027-03-02T00:00+00:00")  # the first charge, not the latest
    early = {**referral, "charge": parse_event_time("2027-01-01", journey.tz)}
    [episode] = stage_episodes(journey, stage, early, {"charge": {1: early["charge"]}})
    assert episode.end is None  # a charge before the episode opened does not close it
    check_ins = plan(journey, {}, no_charge, {}, utc("2027-05-20T12:00+01:00")).tasks
    assert [t.obligation for t in check_ins] == []


@pytest.mark.parametrize("key", ["starts", "due"])
def test_a_repeating_event_is_still_refused_in_a_pick_outside_ends(key: str) -> None:
    text = ENDS_ON_A_REPEATING_PICK
    if key == "starts":
        text = text.replace("starts: referral", "starts: first of (charge, no_charge)")
    else:
        text = text.replace("every: 2 weeks}", 'due: "first of (charge, no_charge)"}')
    [message] = problems(text, "contact-until-decided.yaml")
    assert message.endswith(
        "'charge' repeats, so it cannot be in 'first of': each occurrence is planned on its "
        "own (anchor on it alone)"
    )


def test_outline_diagram_and_warnings_take_picks(journey: Journey) -> None:
    text = outline(journey)
    assert "ends last of (90 days after referral, conclusive_grounds)" in text
    assert "due 5 working days after first of (charge, no_charge)" in text
    diagram = mermaid_diagram(journey)
    assert 'ev_charge -->|"starts: first of (charge, no_charge)"| st_after_decision' in diagram
    assert 'ev_no_charge -->|"starts: first of (charge, no_charge)"| st_after_decision' in diagram
    assert "ev_conclusive_grounds -.->" in diagram
    assert journey_warnings(PICKS, "picks.yaml") == []


# --- end to end ----------------------------------------------------------------------------


def test_validate_and_simulate_a_journey_with_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    only_journey(tmp_path, monkeypatch, "picks.yaml", PICKS)
    code, out, err = cli(capsys, "journeys", "validate")
    assert (code, err) == (0, "") and ": ok: picks v" in out
    code, out, err = cli(capsys, "journeys", "simulate", "picks",
        "--event", "referral=2027-01-04", "--event", "reported=2026-12-30T18:00",
        "--event", "no_charge=2027-02-05", "--now", "2027-02-01T12:00", "--json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    due = {row["obligation"]: row["due"] for row in json.loads(out)}
    assert due["told-of-rights"] == "2026-12-31T23:59:59+00:00"
    assert due["told-of-decision"] == "2027-02-12T23:59:59+00:00"
