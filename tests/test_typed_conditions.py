"""Typed conditions (journey language 1.1, rule 2): every comparison in `when:` is checked at
load time against its fact's type, and one that can never be true is an error at its line
and column (the `when:` value's, and the character within the condition)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.conditions import ConditionError, parse_condition
from engine.core.journey import Fact
from tests.conftest import cli, only_journey, problems

TYPED = """\
journey: typed
title: Typed conditions test journey
calendar: england-and-wales
timezone: Europe/London
start: referral
facts:
  consent: {type: boolean}
  age: {type: integer, min: 0, max: 120}
  months: {type: integer, min: 1}
  level: {type: choice, choices: [full, advice]}
  court: {type: text}
events: [referral]
stages:
  - id: first
    title: First
    obligations:
      - id: only-task
        title: Only task
        category: other
        due: 1 day after referral
        when: consent
"""

FACTS = {
    "consent": Fact(type="boolean"),
    "age": Fact(type="integer", min=0, max=120),
    "months": Fact(type="integer", min=1),
    "level": Fact(type="choice", choices=("full", "advice")),
    "court": Fact(type="text"),
    "other_age": Fact(type="integer"),
    "flag": Fact(type="boolean"),
}


def error(text: str) -> tuple[str, int]:
    with pytest.raises(ConditionError) as raised:
        parse_condition(text, set(FACTS), FACTS)
    return raised.value.message, raised.value.column + 1


@pytest.mark.parametrize(
    ("condition", "message", "character"),
    [
        # booleans only with true or false; YAML's other words get the plain rule
        ("consent == yes", "booleans are written true or false, not yes", 12),
        ("consent != Off", "booleans are written true or false, not Off", 12),
        ("on == consent", "booleans are written true or false, not on", 1),
        ("consent in [no]", "booleans are written true or false, not no", 13),
        ("consent == 'yes'", "booleans are written true or false, not 'yes'", 12),
        ("consent == 1", "booleans are written true or false, not 1", 12),
        # integers with numbers, within min and max
        ("age == 'old'", "age is a whole number: compare it with a number, not 'old'", 8),
        ("age > 120", "'age > 120' can never be true: the fact is at most 120", 7),
        ("age >= 121", "'age >= 121' can never be true: the fact is at most 120", 8),
        ("age < 0", "'age < 0' can never be true: the fact is at least 0", 7),
        ("age <= -1", "'age <= -1' can never be true: the fact is at least 0", 8),
        ("age == 200", "'age == 200' can never be true: the fact is at most 120", 8),
        ("age == 17.5", "'age == 17.5' can never be true: 17.5 is not a whole number", 8),
        ("121 <= age", "'age >= 121' can never be true: the fact is at most 120", 1),
        ("age in [16, 130]", "'age == 130' can never be true: the fact is at most 120", 13),
        ("months < 1", "'months < 1' can never be true: the fact is at least 1", 10),
        # choices only with their declared choices, with did-you-mean
        ("level == 'ful'",
         "'ful' is not a choice of level (choices: full, advice); did you mean 'full'?", 10),
        ("level != 'none'", "'none' is not a choice of level (choices: full, advice)", 10),
        ("level in ['full', 'advise']",
         "'advise' is not a choice of level (choices: full, advice); did you mean 'advice'?",
         19),
        ("level == 1", "level is a choice: put the value in quotes, such as level == '1'", 10),
        # text with text
        ("court == 12", "court is text: put the value in quotes, such as court == '12'", 10),
        # a fact alone is true only when it is the boolean true
        ("age and consent",
         "age is a whole number, not true or false: on its own it is never true; compare "
         "it, such as age >= 0", 1),
        ("not level",
         "level is a choice, not true or false: on its own it is never true; compare it, "
         "such as level == 'full'", 5),
        # two facts of different kinds, or two values
        ("age == consent", "'age == consent' can never be true: age is a whole number and "
         "consent is true or false", 5),
        ("consent < flag", "'consent < flag' can never be true: true or false facts are only "
         "compared with == or !=", 9),
        ("1 == 2", "'1 == 2' can never be true: it compares two values, not a fact", 3),
    ],
)  # fmt: skip
def test_a_comparison_that_can_never_be_true_is_an_error(
    condition: str, message: str, character: int
) -> None:
    assert error(condition) == (message, character)


@pytest.mark.parametrize(
    "condition",
    [
        "consent", "not consent", "consent == true", "consent != false", "consent == flag",
        "age >= 18", "age < 120", "age == 120", "age >= 0", "age != 5", "age in [16, 17]",
        "age == other_age", "months > 1000000", "age >= 17.5",
        "level == 'full'", "level not in ['advice']", "level == court",
        "court == 'Leeds'", "court != 'x'", "court < 'm'", "1 == 1",
    ],
)  # fmt: skip
def test_comparisons_that_can_be_true_are_accepted(condition: str) -> None:
    assert parse_condition(condition, set(FACTS), FACTS).source == condition


def test_without_types_a_condition_is_checked_by_name_only() -> None:
    assert parse_condition("age > 500", set(FACTS)).evaluate({"age": 501}) is True
    with pytest.raises(ConditionError, match="unknown fact 'yes'"):
        parse_condition("consent == yes", set(FACTS))


def test_an_unquoted_yes_beside_a_fact_of_another_type_is_still_an_unknown_fact() -> None:
    message, _ = error("level == yes")
    assert message.startswith("unknown fact 'yes' in when:")


def test_the_loader_reports_a_never_true_comparison_at_its_line_and_column() -> None:
    text = TYPED.replace("when: consent", "when: consent == yes or age > 130")
    assert problems(text, "typed.yaml") == [
        "typed.yaml:21:15: stages[0].obligations[0].when: booleans are written true or false, "
        "not yes (at character 12)"
    ]
    text = TYPED.replace("when: consent", "when: consent or age > 130")
    assert problems(text, "typed.yaml") == [
        "typed.yaml:21:15: stages[0].obligations[0].when: 'age > 130' can never be true: "
        "the fact is at most 120 (at character 18)"
    ]
    text = TYPED.replace("when: consent", "when: \"level == 'ful'\"")
    assert problems(text, "typed.yaml") == [
        "typed.yaml:21:15: stages[0].obligations[0].when: 'ful' is not a choice of level "
        "(choices: full, advice); did you mean 'full'? (at character 10)"
    ]


def test_a_fact_with_problems_of_its_own_leaves_its_conditions_checked_by_name() -> None:
    text = TYPED.replace("  age: {type: integer, min: 0, max: 120}", "  age: {type: number}")
    text = text.replace("when: consent", "when: age > 130")
    [only] = problems(text, "typed.yaml")
    assert only.startswith("typed.yaml:8:15: facts.age.type: 'number' is not allowed")


def test_the_shipped_journeys_still_validate(capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "journeys", "validate", *map(str, _shipped()))
    assert (code, err) == (0, ""), out


def _shipped() -> list[Path]:
    return sorted(Path(__file__).resolve().parent.parent.glob("journeys/*.yaml"))


def test_validate_refuses_a_never_true_condition_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    only_journey(
        tmp_path, monkeypatch, "typed.yaml", TYPED.replace("when: consent", "when: consent == on")
    )
    code, out, err = cli(capsys, "journeys", "validate")
    assert code == 1
    assert "typed.yaml:21:15: stages[0].obligations[0].when: booleans are written true or " in (
        out + err
    )
