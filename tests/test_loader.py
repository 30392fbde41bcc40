"""The journey loader: every validation rule names the exact FILE:LINE:COL of the problem.

Each rule is exercised by breaking one line of a small valid journey (`BASE`) and asserting
the position and a recognisable part of the message. Positions are 1-based, as editors show
them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import catalog
from engine.catalog import Catalog, load_journey
from engine.core import loader
from engine.core.journey import Journey
from engine.core.loader import MAX_DEPTH, JourneyError, Problem, json_schema, parse_journey
from tests.conftest import SHIPPED_IDS

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "journeys"

# Line numbers are part of the tests below: keep this text as it is.
BASE = """\
journey: mini
title: Mini journey
calendar: england-and-wales
timezone: Europe/London
start: referral
facts:
  age: {type: integer, min: 0, max: 120}
  remote_evidence: {type: boolean, default: false}
events: [referral, charge, trial]
stages:
  - id: first-month
    title: First month
    ends: 30 days after referral
    obligations:
      - id: safe-accommodation
        title: Safe accommodation arranged
        category: accommodation
        due: 24 hours after referral
        remind: [4 hours]
        escalate:
          - {after: 2 hours, notify: team_lead}
          - {after: 1 working day, notify: [team_lead, programme_lead]}
  - id: trial-preparation
    title: Trial preparation
    starts: 8 weeks before trial
    ends: trial
    obligations:
      - id: pre-trial-visit
        title: Pre-trial court visit done
        category: court
        due: 10 working days before trial
        when: not remote_evidence
      - id: check-in
        title: Check-in call
        category: contact
        every: 1 week
"""
FILE = "mini.yaml"


def sub(old: str, new: str, text: str = BASE) -> str:
    """BASE with one exact, unique piece of text replaced."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def problems_of(text: str, file: str = FILE) -> list[Problem]:
    with pytest.raises(JourneyError) as info:
        parse_journey(text, file)
    return info.value.problems


def only_problem(text: str, file: str = FILE) -> Problem:
    problems = problems_of(text, file)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def test_base_journey_is_valid() -> None:
    journey = parse_journey(BASE, FILE)
    assert journey.journey == "mini"
    assert [s.id for s in journey.stages] == ["first-month", "trial-preparation"]
    assert set(journey.obligations) == {"safe-accommodation", "pre-trial-visit", "check-in"}


# (id, old text, new text, line, column, fragments the message must contain)
# fmt: off
RULES = [
    # unknown keys, at every level
    ("unknown-top-key", "start: referral\n", "start: referral\ncolour: blue\n", 6, 1,
     ["colour", "unknown key"]),
    ("unknown-stage-key", "    title: First month\n", "    title: First month\n    colour: red\n",
     13, 5, ["stages[0].colour", "unknown key 'colour'"]),
    ("unknown-obligation-key", "        category: court\n",
     "        category: court\n        owner: me\n", 31, 9,
     ["stages[1].obligations[0].owner", "unknown key 'owner'"]),
    ("unknown-fact-key", "{type: integer, min: 0, max: 120}",
     "{type: integer, min: 0, max: 120, unit: years}", 7, 42, ["facts.age.unit", "unknown key"]),
    ("unknown-escalation-key", "{after: 2 hours, notify: team_lead}",
     "{after: 2 hours, notify: team_lead, via: sms}", 21, 49,
     ["escalate[0].via", "unknown key 'via'"]),
    # wrong types
    ("title-list", "title: Mini journey", "title: [Mini, journey]", 2, 8,
     ["title", "expected text"]),
    ("title-boolean", "title: Check-in call", "title: yes", 34, 16, ["title", "expected text"]),
    ("title-empty", "title: Check-in call", "title: ''", 34, 16, ["title", "must not be empty"]),
    ("due-number", "due: 10 working days before trial", "due: 10", 31, 14,
     ["obligations[0].due", "expected an anchor"]),
    ("remind-not-list", "remind: [4 hours]", "remind: 4 hours", 19, 17,
     ["remind", "expected a list"]),
    ("facts-list", "  age: {type: integer, min: 0, max: 120}\n"
     "  remote_evidence: {type: boolean, default: false}\n", "  - age\n", 7, 3,
     ["facts", "expected a mapping"]),  # (the `when:` naming a fact then fails too: see below)
    ("min-on-boolean", "{type: boolean, default: false}", "{type: boolean, default: false, min: 1}",
     8, 20, ["facts.remote_evidence", "min and max apply only to integer facts"]),
    ("default-wrong-type", "{type: boolean, default: false}", "{type: boolean, default: 3}",
     8, 20, ["remote_evidence", "expected true or false"]),
    ("default-not-scalar", "{type: boolean, default: false}", "{type: boolean, default: [1]}",
     8, 45, ["default", "true or false, a whole number, or text"]),
    ("choice-without-choices", "{type: boolean, default: false}", "{type: choice}", 8, 20,
     ["choices"]),
    ("fact-type-unknown", "{type: boolean, default: false}", "{type: date}", 8, 27,
     ["'date' is not allowed", "boolean"]),
    # missing required keys
    ("missing-calendar", "calendar: england-and-wales\n", "", 1, 1,
     ["missing required key 'calendar'"]),
    ("missing-obligation-title", "        title: Check-in call\n", "", 33, 9,
     ["stages[1].obligations[1].title", "missing required key 'title'"]),
    ("missing-category", "        category: court\n", "", 28, 9,
     ["obligations[0].category", "missing required key 'category'"]),
    ("missing-stage-id", "  - id: trial-preparation\n    title:", "  - title:", 23, 5,
     ["stages[1].id", "missing required key 'id'"]),
    # duplicate ids
    ("duplicate-stage-id", "  - id: trial-preparation", "  - id: first-month", 23, 9,
     ["stages[1].id", "duplicate id 'first-month'", "already a stage"]),
    ("duplicate-obligation-id", "      - id: check-in", "      - id: pre-trial-visit", 33, 13,
     ["stages[1].obligations[1].id", "duplicate id 'pre-trial-visit'", "already an obligation"]),
    ("duplicate-event", "events: [referral, charge, trial]",
     "events: [referral, charge, trial, charge]", 9, 35, ["events[3]", "duplicate event 'charge'"]),
    ("obligation-id-same-as-stage", "      - id: check-in", "      - id: first-month", 33, 13,
     ["duplicate id 'first-month'", "already a stage"]),
    # anchors naming undeclared events
    ("due-undeclared-event", "due: 10 working days before trial",
     "due: 10 working days before hearing", 31, 14, ["due", "unknown event 'hearing'", "trial"]),
    ("starts-undeclared-event", "starts: 8 weeks before trial", "starts: 8 weeks before hearing",
     25, 13, ["stages[1].starts", "unknown event 'hearing'"]),
    ("ends-undeclared-event", "ends: 30 days after referral", "ends: 30 days after arrival",
     13, 11, ["stages[0].ends", "unknown event 'arrival'"]),
    ("start-undeclared-event", "start: referral", "start: arrival", 5, 8,
     ["start", "unknown event 'arrival'"]),
    ("anchor-garbage", "due: 10 working days before trial", "due: soon-ish after trial!", 31, 14,
     ["bad anchor"]),
    # conditions naming undeclared facts
    ("when-undeclared-fact", "when: not remote_evidence", "when: not remote", 32, 15,
     ["when", "unknown fact 'remote'"]),
    ("when-boolean-literal", "when: not remote_evidence", "when: true", 32, 15,
     ["when", "expected a condition"]),
    ("when-syntax", "when: not remote_evidence", "when: age >", 32, 15, ["when"]),
    # bad durations
    ("duration-fortnights", "every: 1 week", "every: 3 fortnights", 36, 16,
     ["every", "bad duration '3 fortnights'"]),
    ("duration-zero", "every: 1 week", "every: 0 days", 36, 16, ["bad duration '0 days'"]),
    ("duration-fraction", "every: 1 week", "every: 1.5 days", 36, 16,
     ["bad duration '1.5 days'"]),
    ("duration-negative", "remind: [4 hours]", "remind: [-4 hours]", 19, 18,
     ["remind[0]", "bad duration '-4 hours'"]),
    ("duration-in-anchor", "due: 24 hours after referral", "due: 3 fortnights after referral",
     18, 14, ["due", "bad duration '3 fortnights'"]),
    ("duration-escalation", "{after: 2 hours,", "{after: 2 hourz,", 21, 21,
     ["escalate[0].after", "bad duration '2 hourz'"]),
    # due and every: both, or neither
    ("due-and-every", "        every: 1 week\n", "        every: 1 week\n        due: trial\n",
     33, 9, ["stages[1].obligations[1]", "exactly one of 'due' or 'every'"]),
    ("neither-due-nor-every", "        every: 1 week\n", "", 33, 9,
     ["exactly one of 'due' or 'every'"]),
    # escalation ladders rise strictly
    ("escalation-decreasing", "{after: 1 working day,", "{after: 1 hour,", 22, 21,
     ["escalate[1].after", "strictly increasing", "'1 hour' is not after '2 hours'"]),
    ("escalation-equal", "{after: 1 working day,", "{after: 2 hours,", 22, 21,
     ["strictly increasing"]),
    # unknown roles, categories, calendars, time zones
    ("unknown-role", "notify: team_lead}", "notify: boss}", 21, 38,
     ["escalate[0].notify[0]", "'boss' is not allowed", "team_lead"]),
    ("unknown-role-in-list", "[team_lead, programme_lead]", "[team_lead, ceo]", 22, 56,
     ["escalate[1].notify[1]", "'ceo' is not allowed"]),
    ("notify-empty", "[team_lead, programme_lead]", "[]", 22, 44, ["notify", "at least one"]),
    ("unknown-category", "category: court", "category: courts", 30, 19,
     ["category", "'courts' is not allowed", "accommodation"]),
    ("unknown-calendar", "calendar: england-and-wales", "calendar: wales", 3, 11,
     ["calendar", "'wales' is not allowed", "england-and-wales"]),
    ("unknown-timezone", "timezone: Europe/London", "timezone: Europe/Londn", 4, 11,
     ["timezone", "unknown time zone 'Europe/Londn'"]),
    ("timezone-path-traversal", "timezone: Europe/London", "timezone: ../../etc/passwd", 4, 11,
     ["unknown time zone"]),
    # names
    ("stage-id-not-kebab", "  - id: trial-preparation", "  - id: Trial_Preparation", 23, 9,
     ["stages[1].id", "'Trial_Preparation' must be lowercase kebab-case"]),
    ("obligation-id-not-kebab", "      - id: check-in", "      - id: check_in", 33, 13,
     ["'check_in' must be lowercase kebab-case"]),
    ("event-not-snake", "events: [referral, charge, trial]",
     "events: [referral, charge, Trial-Date, trial]", 9, 28,
     ["events[2]", "'Trial-Date' must be lowercase snake_case"]),
    ("fact-not-snake", "  age: {", "  Age: {", 7, 3, ["facts.Age", "snake_case"]),
    ("events-empty-list", "events: [referral, charge, trial]\n",
     "events: [referral, charge, trial]\nx_events: []\n", 10, 1, ["unknown key 'x_events'"]),
    # journey id and file stem
    ("journey-id-not-file-stem", "journey: mini", "journey: other", 1, 10,
     ["journey", "'other' must match the file name 'mini'"]),
    # duplicate YAML keys: an error, never last-one-wins
    ("duplicate-key-due", "        due: 10 working days before trial\n",
     "        due: 10 working days before trial\n        due: 2 days before trial\n", 32, 9,
     ["duplicate key 'due'", "first at line 31"]),
    ("duplicate-key-top", "title: Mini journey\n", "title: Mini journey\ntitle: Other\n", 3, 1,
     ["duplicate key 'title'", "first at line 2"]),
    ("duplicate-key-flow", "{after: 2 hours, notify: team_lead}",
     "{after: 2 hours, notify: team_lead, after: 3 hours}", 21, 49, ["duplicate key 'after'"]),
    # YAML features a journey has no use for
    ("python-tag-scalar", "title: Mini journey", "title: !!python/object:os.system ls", 2, 8,
     ["unsupported tag '!!python/object:os.system'"]),
    ("python-tag-sequence", "remind: [4 hours]", "remind: !!python/object/apply:os.system [ls]",
     19, 17, ["unsupported tag '!!python/object/apply:os.system'"]),
    ("python-tag-mapping", "escalate:\n", "escalate: !!python/object:dict\n", 20, 19,
     ["unsupported tag"]),
    ("custom-tag", "title: Mini journey", "title: !secret Mini", 2, 8,
     ["unsupported tag '!secret'"]),
    ("merge-key", "  age: {type: integer, min: 0, max: 120}",
     "  age: {<<: {type: integer}, min: 0, max: 120}", 7, 9, ["merge keys", "not supported"]),
    ("invalid-date-value", "title: Mini journey", "title: 2026-02-30", 2, 8,
     ["cannot read '2026-02-30'", "date"]),
    ("huge-number", "title: Mini journey", "title: " + "9" * 5000, 2, 8,
     ["cannot read", "number"]),
    ("complex-key", "  age: {", "  [age]: {", 7, 3, ["mapping keys must be plain names"]),
    # not YAML at all
    ("unclosed-bracket", "events: [referral, charge, trial]", "events: [referral, charge, trial",
     10, 7, ["not valid YAML"]),
    ("bad-indentation", "title: Mini journey\n", "title: Mini journey\n  oops: 1\n", 3, 7,
     ["not valid YAML"]),
    ("tab-indentation", "    title: First month\n", "\ttitle: First month\n", 12, 1,
     ["not valid YAML"]),
    ("control-character", "title: Mini journey", "title: Mini\x07journey", 2, 12,
     ["control character U+0007"]),
    ("two-documents", "", "", 37, 1, ["not valid YAML", "single document"]),
]
# fmt: on


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "fragments"),
    [pytest.param(*rule[1:], id=rule[0]) for rule in RULES],
)
def test_each_rule_names_the_exact_position(
    old: str, new: str, line: int, column: int, fragments: list[str]
) -> None:
    text = sub(old, new) if old else BASE + "---\nmore: 1\n"
    problems = problems_of(text)
    if fragments == ["facts", "expected a mapping"]:
        problems = problems[:1]  # the dependent `when:` problem is checked elsewhere
    assert len(problems) == 1, "\n".join(map(str, problems))
    problem = problems[0]
    assert (problem.file, problem.line, problem.column) == (FILE, line, column), str(problem)
    assert str(problem).startswith(f"{FILE}:{line}:{column}: ")
    for fragment in fragments:
        assert fragment in problem.message, str(problem)
    assert "\n" not in str(problem)
    assert "Traceback" not in problem.message


def test_every_validation_rule_of_the_design_is_covered() -> None:
    covered = {rule[0] for rule in RULES}
    for needed in (
        "unknown-top-key", "unknown-stage-key", "unknown-obligation-key", "unknown-fact-key",
        "unknown-escalation-key", "title-list", "due-number", "min-on-boolean",
        "missing-calendar", "duplicate-stage-id", "duplicate-obligation-id",
        "due-undeclared-event", "when-undeclared-fact", "duration-fortnights", "duration-zero",
        "duration-fraction", "due-and-every", "neither-due-nor-every", "escalation-decreasing",
        "unknown-role", "unknown-category", "unknown-calendar", "unknown-timezone",
        "stage-id-not-kebab", "event-not-snake", "journey-id-not-file-stem", "duplicate-key-due",
        "python-tag-scalar",
    ):  # fmt: skip
        assert needed in covered


def test_duplicate_key_is_not_last_one_wins_and_other_problems_still_reported() -> None:
    text = sub(
        "        due: 10 working days before trial\n",
        "        due: 10 working days before trial\n        due: 2 days before trial\n",
    )
    text = sub("category: contact", "category: chat", text)
    problems = problems_of(text)
    assert [(p.line, p.column) for p in problems] == [(32, 9), (36, 19)]
    assert "duplicate key 'due'" in problems[0].message
    assert "'chat' is not allowed" in problems[1].message


def test_facts_not_a_mapping_also_reports_the_condition_that_needs_them() -> None:
    text = sub(
        "  age: {type: integer, min: 0, max: 120}\n"
        "  remote_evidence: {type: boolean, default: false}\n",
        "  - age\n",
    )
    problems = problems_of(text)
    assert [(p.line, p.column) for p in problems] == [(7, 3), (31, 15)]
    assert "unknown fact 'remote_evidence'" in problems[1].message


def test_several_problems_are_all_reported_together_sorted_by_position() -> None:
    text = sub("every: 1 week", "every: 3 fortnights")
    text = sub("category: court", "category: courts", text)
    text = sub("timezone: Europe/London", "timezone: Mars/Olympus", text)
    text = sub("  - id: trial-preparation", "  - id: first-month", text)
    text = sub("notify: team_lead}", "notify: boss}", text)
    text = sub("journey: mini", "journey: maxi", text)
    problems = problems_of(text)
    assert [(p.line, p.column) for p in problems] == [
        (1, 10),
        (4, 11),
        (21, 38),
        (23, 9),
        (30, 19),
        (36, 16),
    ]
    assert problems == sorted(problems, key=lambda p: (p.line, p.column))
    error = JourneyError(problems)
    assert str(error).count("\n") == len(problems) - 1
    assert all(line.startswith(f"{FILE}:") for line in str(error).splitlines())


def test_empty_stages_and_events_report_only_what_is_wrong() -> None:
    # An empty `events` list makes every anchor unknown; `stages` must not also be blamed
    # for "no valid items" when each item has its own problem.
    problems = problems_of(sub("events: [referral, charge, trial]", "events: []"))
    messages = [p.message for p in problems]
    assert any(m.startswith("events: must list at least one item") for m in messages)
    assert not any(m.startswith("stages:") for m in messages), messages
    assert len(problems) == 7
    only = only_problem(
        sub(BASE[BASE.index("stages:") :], "stages: []\n").replace("when: not remote_evidence", "")
    )
    assert (only.line, only.column, only.message) == (10, 9, "stages: must list at least one item")


def test_fact_named_like_a_type_is_located_correctly() -> None:
    problem = only_problem(sub("  age: {type: integer,", "  str: {type: integer, colour: 1,"))
    assert (problem.line, problem.column) == (7, 24)
    assert problem.message == "facts.str.colour: unknown key 'colour'"


@pytest.mark.parametrize(
    "code",
    [
        "__import__('os').system('touch {marker}')",
        "open('{marker}', 'w')",
        "remote_evidence.__class__",
        "[c for c in ().__class__.__base__.__subclasses__()]",
        "lambda: 1",
        "age if True else 0",
        "exec('import os')",
    ],
)
def test_when_that_tries_code_is_an_error_and_runs_nothing(code: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    when = code.format(marker=marker)
    quoted = '"' + when + '"' if "'" in when else "'" + when + "'"
    problem = only_problem(sub("when: not remote_evidence", f"when: {quoted}"))
    assert (problem.line, problem.column) == (32, 15)
    assert problem.message.startswith("stages[1].obligations[0].when: ")
    assert not marker.exists()


def test_when_with_code_is_not_evaluated_even_by_a_planner(tmp_path: Path) -> None:
    # Belt and braces: a valid journey's conditions are data, never Python.
    journey = parse_journey(BASE, FILE)
    _, ob = journey.obligations["pre-trial-visit"]
    assert ob.when is not None
    assert ob.when.evaluate({"remote_evidence": False}) is True
    assert ob.when.evaluate({"remote_evidence": True}) is False


# --- documents that are not journeys ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        pytest.param("", 1, 1, "empty file", id="empty"),
        pytest.param("   \n\n", 1, 1, "empty file", id="blank"),
        pytest.param("# only a comment\n", 1, 1, "empty file", id="comment-only"),
        pytest.param("- a\n- b\n", 1, 1, "expected a journey mapping", id="list"),
        pytest.param("hello\n", 1, 1, "expected a journey mapping", id="scalar"),
        pytest.param("42\n", 1, 1, "expected a journey mapping", id="number"),
        pytest.param("null\n", 1, 1, "expected a journey mapping", id="null"),
        pytest.param("journey: [unclosed\n", 2, 1, "not valid YAML", id="unclosed"),
        pytest.param("a: b\n  c: d\n", 2, 4, "not valid YAML", id="bad-indent"),
        pytest.param("{{{{", 1, 5, "not valid YAML", id="braces"),
        pytest.param("a: 'x\n", 2, 1, "not valid YAML", id="unterminated-quote"),
        pytest.param("a: *nowhere\n", 1, 4, "not valid YAML", id="undefined-alias"),
        pytest.param("a: 1\x00\n", 1, 5, "control character U+0000", id="nul"),
        pytest.param("!!python/object/new:os.system [ls]\n", 1, 1, "unsupported tag",
                     id="python-root"),
    ],
)  # fmt: skip
def test_documents_that_are_not_journeys(text: str, line: int, column: int, fragment: str) -> None:
    problem = only_problem(text)
    assert (problem.line, problem.column) == (line, column), str(problem)
    assert fragment in problem.message


def _billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * width) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def _count_visits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the nodes the alias sizing looks into: the work done, which is what "quickly"
    means here (a count cannot be flaky on a loaded machine, a stopwatch can)."""
    visits = [0]
    children = loader._children

    def counted(node: object) -> list:
        visits[0] += 1
        return children(node)

    monkeypatch.setattr(loader, "_children", counted)
    return visits


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_billion_laughs(), id="billion-laughs"),
        pytest.param(
            "a: &a [" + ",".join(['"x"'] * 1000) + "]\nb: [" + ",".join(["*a"] * 1000) + "]\n",
            id="wide",
        ),
        pytest.param(
            "\n".join(["k0: &k0 [1]"] + [f"k{i}: &k{i} [*k{i - 1}]" for i in range(1, 3000)]),
            id="long-chain",
        ),
        pytest.param(
            "\n".join(
                ["k0: &k0 [1]"]
                + [f"k{i}: &k{i} " + "[" * 60 + f"*k{i - 1}" + "]" * 60 for i in range(1, 30)]
            ),
            id="deep-chain",
        ),
    ],
)
def test_alias_bombs_are_rejected_quickly_without_expanding(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object) -> None:
        raise AssertionError("the document was expanded")

    monkeypatch.setattr(loader, "_to_python", never)
    visits = _count_visits(monkeypatch)
    problem = only_problem(text)
    assert visits[0] <= 2 * len(text), "sizing must visit each written node at most twice"
    assert (problem.line, problem.column) == (1, 1)
    assert "too large once aliases are expanded" in problem.message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: &a [*a]\n", id="self-sequence"),
        pytest.param("a: &a {b: *a}\n", id="self-mapping"),
        pytest.param("a: &a [b, &b [*a, *b]]\n", id="mutual"),
    ],
)
def test_recursive_aliases_are_rejected(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "_to_python", None)  # never expanded, so never called
    visits = _count_visits(monkeypatch)
    problem = only_problem(text)
    assert visits[0] <= 2 * len(text)
    assert "too large once aliases are expanded" in problem.message


def test_a_few_honest_aliases_still_work() -> None:
    text = sub(
        "          - {after: 2 hours, notify: team_lead}\n",
        "          - {after: 2 hours, notify: &leads team_lead}\n",
    )
    text = sub("[team_lead, programme_lead]", "[*leads, programme_lead]", text)
    assert parse_journey(text, FILE).obligations["safe-accommodation"][1].escalate[1].notify == (
        "team_lead",
        "programme_lead",
    )


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        pytest.param("a: " + "[" * 3000 + "]" * 3000 + "\n", 1, 67, id="flow-sequences"),
        pytest.param("a: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", 1, 253, id="flow-maps"),
        pytest.param("".join("  " * i + "a:\n" for i in range(700)), 64, 127, id="block-maps"),
    ],
)
def test_deep_nesting_is_a_problem_not_a_recursion_error(text: str, line: int, column: int) -> None:
    problem = only_problem(text)
    assert (problem.line, problem.column) == (line, column)
    assert problem.message == f"nested more than {MAX_DEPTH} levels deep"


# --- files -----------------------------------------------------------------------------------


def test_load_journey_reads_a_file_and_checks_its_stem(tmp_path: Path) -> None:
    path = tmp_path / "mini.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert load_journey(path).journey == "mini"
    other = tmp_path / "other.yaml"
    other.write_text(BASE, encoding="utf-8")
    with pytest.raises(JourneyError) as info:
        load_journey(other)
    [problem] = info.value.problems
    assert str(problem) == (f"{other}:1:10: journey: id 'mini' must match the file name 'other'")


def test_not_utf8_names_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "mini.yaml"
    path.write_bytes(BASE.encode().replace(b"Mini journey", b"Mini caf\xe9 journey"))
    with pytest.raises(JourneyError) as info:
        load_journey(path)
    assert [str(p) for p in info.value.problems] == [f"{path}:2:16: not UTF-8 text"]


def test_binary_garbage_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(JourneyError) as info:
        load_journey(path)
    assert len(info.value.problems) == 1
    assert str(info.value.problems[0]).startswith(f"{path}:")


def test_utf8_bom_and_non_ascii_text_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "mini.yaml"
    text = sub("title: Mini journey", "title: Întoarcere în siguranță — ceai")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load_journey(path).title == "Întoarcere în siguranță — ceai"


def test_unreadable_paths_are_problems(tmp_path: Path) -> None:
    for path, fragment in ((tmp_path, "Is a directory"), (tmp_path / "nope.yaml", "No such file")):
        with pytest.raises(JourneyError) as info:
            load_journey(path)
        [problem] = info.value.problems
        assert (problem.file, problem.line, problem.column) == (str(path), 1, 1)
        assert "cannot read file" in problem.message and fragment in problem.message


def test_huge_file_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mini.yaml"
    path.write_text(BASE + "# " + "x" * 2_100_000 + "\n", encoding="utf-8")
    monkeypatch.setattr(catalog, "parse_journey", None)  # refused before it, so never called
    with pytest.raises(JourneyError) as info:
        load_journey(path)
    assert "journey file is too large" in info.value.problems[0].message


MUTATIONS = st.lists(
    st.tuples(st.integers(0, len(BASE) - 1), st.sampled_from(list(":-[]{}&*!'\"#\n \t|>%@`,?x0"))),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATIONS)
def test_a_mangled_journey_gives_problems_never_a_crash(edits: list[tuple[int, str]]) -> None:
    text = BASE
    for index, char in edits:
        text = text[:index] + char + text[index + 1 :]
    try:
        parse_journey(text, FILE)
    except JourneyError as error:
        assert error.problems
        assert error.problems == sorted(error.problems, key=lambda p: (p.line, p.column))
        for problem in error.problems:
            assert problem.line >= 1 and problem.column >= 1
            assert "\n" not in problem.message


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_journey_or_problems(text: str) -> None:
    try:
        parse_journey(text, FILE)
    except JourneyError as error:
        assert error.problems


# --- the shipped journeys -------------------------------------------------------------------


def test_the_four_journeys_are_shipped_and_valid() -> None:
    files = Catalog(SHIPPED).files()
    assert {f.stem for f in files} >= set(SHIPPED_IDS)
    for path in files:
        journey = load_journey(path)  # raises JourneyError with every problem if not
        assert journey.journey == path.stem
        assert path.read_text(encoding="utf-8").startswith(
            "# yaml-language-server: $schema=journey.schema.json"
        )


def test_shipped_journeys_use_their_calendars() -> None:
    romania = load_journey(SHIPPED / "safe-return-romania.yaml")
    assert (romania.calendar, romania.timezone) == ("romania", "Europe/Bucharest")
    for name in ("adult-cjs", "child-cjs", "adult-declined-nrm"):
        journey = load_journey(SHIPPED / f"{name}.yaml")
        assert (journey.calendar, journey.timezone) == ("england-and-wales", "Europe/London")


# --- version and schema -------------------------------------------------------------------


def _version_in_a_new_process(path: Path) -> str:
    code = "import sys; from engine.catalog import load_journey as l; print(l(sys.argv[1]).version)"
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_version_is_stable_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "mini.yaml"
    path.write_text(BASE, encoding="utf-8")
    version = load_journey(path).version
    assert len(version) == 12 and all(c in "0123456789abcdef" for c in version)
    assert _version_in_a_new_process(path) == version
    assert parse_journey(BASE, FILE).version == version


def test_version_ignores_comments_and_layout_but_not_deadlines() -> None:
    version = parse_journey(BASE, FILE).version
    commented = "# a comment\n" + sub(
        "due: 24 hours after referral", "due: 24 hours after referral  # why"
    )
    assert parse_journey(commented, FILE).version == version
    reflowed = sub("remind: [4 hours]", "remind:\n          - 4 hours")
    assert parse_journey(reflowed, FILE).version == version
    moved = sub("due: 24 hours after referral", "due: 48 hours after referral")
    assert parse_journey(moved, FILE).version != version
    ladder = sub("{after: 2 hours,", "{after: 3 hours,")
    assert parse_journey(ladder, FILE).version != version
    condition = sub("when: not remote_evidence", "when: remote_evidence")
    assert parse_journey(condition, FILE).version != version


def test_json_schema_is_json_and_describes_obligations() -> None:
    schema = json.loads(json_schema())
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) >= {"journey", "title", "calendar", "timezone", "start"}
    obligation = schema["$defs"]["Obligation"]
    assert set(obligation["properties"]) == {
        "id", "title", "category", "due", "every", "remind", "escalate", "when", "description",
        "retry", "escalate_after_failures", "tags", "calendar", "timezone",
    }  # fmt: skip
    assert obligation["additionalProperties"] is False
    assert set(obligation["properties"]["category"]["enum"]) >= {"accommodation", "court"}
    assert set(schema["$defs"]["Escalation"]["properties"]) == {"after", "notify", "urgent"}


def test_json_schema_accepts_the_shipped_journeys_and_rejects_unknown_keys() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    validator = jsonschema.Draft202012Validator(json.loads(json_schema()))
    for path in Catalog(SHIPPED).files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert not list(validator.iter_errors(data)), path
    broken = yaml.safe_load(
        sub("        category: court\n", "        category: court\n        x: 1\n")
    )
    assert list(validator.iter_errors(broken))


def test_journey_models_are_immutable() -> None:
    journey = parse_journey(BASE, FILE)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        journey.title = "changed"  # type: ignore[misc]
    assert isinstance(journey, Journey)


def test_windows_line_endings_keep_positions() -> None:
    assert parse_journey(BASE.replace("\n", "\r\n"), FILE).journey == "mini"
    problem = only_problem(sub("category: court", "category: courts").replace("\n", "\r\n"))
    assert (problem.line, problem.column) == (30, 19)
