"""A kinder validator (journey language 1.1, rule 9): did-you-mean for keys and choices,
YAML mistakes in plain words at the right line, and no stage without obligations."""

from __future__ import annotations

import pytest

from engine.core.loader import JourneyError, journey_warnings, parse_journey

GOOD = """\
journey: kind
title: Kinder validator test journey
calendar: england-and-wales
timezone: Europe/London
start: referral
events: [referral]
stages:
  - id: first
    title: First
    obligations:
      - id: a
        title: A
        category: court
        due: referral
"""


def problems(text: str) -> list[str]:
    with pytest.raises(JourneyError) as error:
        parse_journey(text, "kind.yaml")
    return [str(p) for p in error.value.problems]


def test_the_good_journey_is_good() -> None:
    assert parse_journey(GOOD, "kind.yaml").journey == "kind"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("category: court", "category: Court",
         "kind.yaml:13:19: stages[0].obligations[0].category: 'Court' is not allowed: input "
         "should be 'accommodation', 'health', 'immigration', 'employment', 'finance', "
         "'legal', 'contact', 'court', 'safety' or 'other'; did you mean 'court'?"),
        ("calendar: england-and-wales", "calendar: england-and-wale",
         "kind.yaml:3:11: calendar: 'england-and-wale' is not allowed: input should be "
         "'england-and-wales', 'scotland', 'northern-ireland' or 'romania'; "
         "did you mean 'england-and-wales'?"),
        ("        due: referral", "        due: referral\n        escalte: []",
         "kind.yaml:15:9: stages[0].obligations[0].escalte: unknown key 'escalte'; "
         "did you mean 'escalate'?"),
        ("    title: First", "    title: First\n    Starts: referral",
         "kind.yaml:10:5: stages[0].Starts: unknown key 'Starts'; did you mean 'starts'?"),
        ("start: referral", "start: referral\nevent: [referral]",
         "kind.yaml:6:1: event: unknown key 'event'; did you mean 'events'?"),
        ("        due: referral", "        due: referral\n        colour: red",
         "kind.yaml:15:9: stages[0].obligations[0].colour: unknown key 'colour'"),
    ],
)  # fmt: skip
def test_near_misses_get_a_did_you_mean(old: str, new: str, expected: str) -> None:
    assert problems(GOOD.replace(old, new)) == [expected]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    title: First", "\ttitle: First",
         "kind.yaml:9:1: not valid YAML: a tab: indent with spaces, not tabs"),
        ("    title: First", "       title: First",
         "kind.yaml:9:13: not valid YAML: this line is indented differently from the lines "
         "above it (or a value has ': ' in it and needs quotes)"),
        ("    title: First", "   title: First",
         "kind.yaml:9:4: not valid YAML: this line is indented differently from the lines "
         "above it"),
    ],
)  # fmt: skip
def test_yaml_mistakes_are_in_plain_words_at_their_line(old: str, new: str, expected) -> None:
    assert problems(GOOD.replace(old, new)) == [expected]


def test_a_stage_with_no_obligations_is_an_error() -> None:
    empty = GOOD + "  - id: second\n    title: Second\n    obligations: []\n"
    assert problems(empty) == [
        "kind.yaml:17:18: stages[1].obligations: must list at least one item"
    ]
    missing = GOOD + "  - id: second\n    title: Second\n"
    assert problems(missing) == [
        "kind.yaml:15:5: stages[1].obligations: missing required key 'obligations'"
    ]


WARNED = """\
journey: warn
title: Warnings
calendar: england-and-wales
timezone: Europe/London
start: referral
events: [referral, charge]
stages:
  - id: backwards
    title: Backwards
    starts: charge
    ends: 2 days before charge
    obligations:
      - {id: a, title: A, category: court, due: charge}
  - id: hourly
    title: Hourly
    obligations:
      - {id: b, title: B, category: contact, every: 4 hours}
  - id: fine
    title: Fine
    starts: 8 weeks before charge
    ends: 2 hours after charge
    obligations:
      - {id: c, title: C, category: contact, every: 4 hours}
"""


def test_likely_mistakes_are_warnings_at_their_line_and_the_journey_still_loads() -> None:
    assert parse_journey(WARNED, "warn.yaml").journey == "warn"
    assert [str(w) for w in journey_warnings(WARNED, "warn.yaml")] == [
        "warn.yaml:11:11: stages[0].ends: warning: '2 days before charge' always falls before "
        "starts 'charge': the stage is never active",
        "warn.yaml:17:53: stages[1].obligations[0].every: warning: every 4 hours on a stage "
        "with no 'ends': a task every few hours, for ever",
    ]
    assert journey_warnings(GOOD, "kind.yaml") == []


def test_validate_prints_warnings_and_exits_0(tmp_path, monkeypatch, capsys) -> None:
    from alongside.app import main

    path = tmp_path / "warn.yaml"
    path.write_text(WARNED)
    monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path / "home"))
    capsys.readouterr()
    try:
        main(["journeys", "validate", str(path)])
        code = 0
    except SystemExit as exit:
        code = exit.code or 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert [line.split(": ")[1] for line in lines[:2]] == [
        "stages[0].ends",
        "stages[1].obligations[0].every",
    ]
    assert lines[2].startswith(f"{path}: ok: warn v")
