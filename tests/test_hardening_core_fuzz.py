"""Issue 10: mutated shipped journeys never crash the loader, and those that validate plan.

Each case is a shipped journey with one to three seeded mutations (lines deleted,
duplicated or swapped, values swapped, numbers made huge, tabs and odd characters
inserted, durations and units changed, names replaced, the text truncated). Loading must
raise nothing but `JourneyError`; a journey that validates must plan, and schedule its
reminders and escalations, for event sets from 1900 to 2199 without any error, because a
journey that validates and then fails to plan stops the sweep for every case on it.
"""

from __future__ import annotations

import random
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.core.calendar import get_calendar
from engine.core.errors import UserError
from engine.core.escalation import rebased, schedule
from engine.core.journey import Journey
from engine.core.loader import JourneyError, parse_journey
from engine.core.planner import plan
from engine.core.values import EventTime, parse_event_time

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "journeys").glob("*.yaml"))
TEXTS = {path.stem: path.read_text(encoding="utf-8") for path in SHIPPED}

_NUMBER = re.compile(r"\b\d+\b")
_DURATION = re.compile(r"\b(\d+) (hours?|days?|working days?|weeks?|months?)\b")
_VALUE = re.compile(r"^(\s*-?\s*[\w-]+: )(.+)$")
_ODD = ["\t", "\t\t", "\x00", "\x07", "\x1b[2J", "\u2028", "\ufeff", "\u00a0", "\u200b", "\r",
        "&a ", "*a", "!!python/object:os.system ", "<<: ", "%", "@", "`", "{", "}", "[", "]",
        ":", ": ", " #", "'", '"', "|", ">", "?", ",", "-", "~", "null", "é", "\U0001f600",
        "\\", "\n", "\n  ", "---\n", "..."]  # fmt: skip
_HUGE = ["0", "-1", "1.5", "1e9", "99999", "99999999", "999999999999", "9" * 30, "9" * 5000,
         "0x10", "2611", "3651", "87661", "521", "121", "True", "''"]  # fmt: skip
_UNITS = ["hour", "hours", "day", "days", "working day", "working days", "week", "weeks",
          "month", "months", "fortnight", "years", "minutes", "working  days", "Days"]  # fmt: skip
_WORDS = ["referral", "trial", "charge", "verdict", "navigator", "team_lead", "programme_lead",
          "every", "due", "remind", "escalate", "when", "after", "before", "not", "and", "or",
          "true", "false", "integer", "choice", "boolean", "text", "min", "max", "choices",
          "default", "starts", "ends", "title", "id", "''", "[]", "{}", "~", "-"]  # fmt: skip


def _delete_line(rng: random.Random, lines: list[str]) -> None:
    if lines:
        del lines[rng.randrange(len(lines))]


def _duplicate_line(rng: random.Random, lines: list[str]) -> None:
    if lines:
        i = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines) + 1), lines[i])


def _swap_lines(rng: random.Random, lines: list[str]) -> None:
    if len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]


def _swap_values(rng: random.Random, lines: list[str]) -> None:
    keyed = [i for i, line in enumerate(lines) if _VALUE.match(line)]
    if len(keyed) > 1:
        i, j = rng.sample(keyed, 2)
        a, b = _VALUE.match(lines[i]), _VALUE.match(lines[j])
        lines[i], lines[j] = a[1] + b[2], b[1] + a[2]


def _huge_number(rng: random.Random, lines: list[str]) -> None:
    _replace_in_line(rng, lines, _NUMBER, lambda m: rng.choice(_HUGE))


def _change_duration(rng: random.Random, lines: list[str]) -> None:
    def new(match: re.Match[str]) -> str:
        count = rng.choice([match[1], *_HUGE, str(rng.randint(1, 200))])
        unit = rng.choice([match[2], *_UNITS])
        return f"{count} {unit}"

    _replace_in_line(rng, lines, _DURATION, new)


def _odd_character(rng: random.Random, lines: list[str]) -> None:
    if lines:
        i = rng.randrange(len(lines))
        at = rng.randint(0, len(lines[i]))
        lines[i] = lines[i][:at] + rng.choice(_ODD) + lines[i][at:]


def _replace_word(rng: random.Random, lines: list[str]) -> None:
    _replace_in_line(rng, lines, re.compile(r"\b[a-z_]{3,}\b"), lambda m: rng.choice(_WORDS))


_VALUES = [
    "Europe", "a" * 300, "Mars/Olympus", "../../etc/passwd", "UTC", "Pacific/Apia",
    "Asia/Kathmandu", "Australia/Lord_Howe", "America/Havana", "99999 months after referral",
    "99999999 days after referral", "999999999999 hours", "99999999 weeks", "0 days",
    "{trial: 1}", "[referral, {trial: 1}]", "[]", "{}", "''", "' '", "'\\t'", "~", "-1",
    "[4 hours, 4 hours]", "[1 week, 7 days]", "[full, full]", "{type: integer, min: 9, max: 1}",
    "30 days", "1 month", "2 days", "1 working day", "87660 hours", "120 months",
    "2610 working days", "3650 days", "520 weeks", "not not not x", "age < 9999999999999999999",
    "'" + "x" * 3000 + "'", "&x [1]", "*x", "!!binary aGVsbG8=", "2027-02-30", "1e400", ".inf",
    ".nan", "0o777", "!!float 1", "? a", "|\\n  x",
]  # fmt: skip


def _odd_value(rng: random.Random, lines: list[str]) -> None:
    keyed = [i for i, line in enumerate(lines) if _VALUE.match(line)]
    if keyed:
        i = rng.choice(keyed)
        lines[i] = _VALUE.match(lines[i])[1] + rng.choice(_VALUES)


def _truncate(rng: random.Random, lines: list[str]) -> None:
    text = "\n".join(lines)
    cut = rng.randint(0, len(text))
    lines[:] = text[:cut].split("\n")


def _replace_in_line(
    rng: random.Random,
    lines: list[str],
    pattern: re.Pattern[str],
    replace: Callable[[re.Match[str]], str],
) -> None:
    hits = [i for i, line in enumerate(lines) if pattern.search(line) and not line.startswith("#")]
    if hits:
        i = rng.choice(hits)
        matches = list(pattern.finditer(lines[i]))
        m = rng.choice(matches)
        lines[i] = lines[i][: m.start()] + replace(m) + lines[i][m.end() :]


MUTATIONS = [
    _delete_line, _duplicate_line, _swap_lines, _swap_values, _huge_number, _huge_number,
    _change_duration, _change_duration, _change_duration, _odd_character, _replace_word,
    _truncate, _odd_value, _odd_value,
]  # fmt: skip


def mutate(text: str, rng: random.Random) -> tuple[str, list[str]]:
    lines = text.split("\n")
    applied = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        mutation = rng.choice(MUTATIONS)
        mutation(rng, lines)
        applied.append(mutation.__name__)
    return "\n".join(lines), applied


# --- planning a journey that validated ------------------------------------------------------


def _facts(journey: Journey, rng: random.Random) -> dict[str, object]:
    """Values a navigator could record: each fits its declaration (the CLI checks that)."""
    facts: dict[str, object] = {}
    for name, fact in journey.facts.items():
        if rng.random() < 0.3:
            continue
        if fact.type == "boolean":
            facts[name] = rng.random() < 0.5
        elif fact.type == "integer":
            low = fact.min if fact.min is not None else -(10**12)
            high = fact.max if fact.max is not None else 10**12
            facts[name] = rng.choice([low, high, rng.randint(low, high)])
        elif fact.type == "choice":
            facts[name] = rng.choice(fact.choices or ("",))
        else:
            facts[name] = rng.choice(["", "x", "é" * 50])
    return facts


_FAR = ["1900-01-01", "1900-01-01T00:30", "2199-12-31", "2199-12-31T23:59"]


def _event_sets(journey: Journey, rng: random.Random) -> list[dict[str, EventTime]]:
    """All events at the far past, all at the far future, a few real ones, and a random mix."""
    tz = journey.tz

    def at(text: str) -> EventTime:
        return parse_event_time(text, tz)

    def anywhen() -> EventTime:
        day = datetime(1900, 1, 1) + timedelta(minutes=rng.randrange(300 * 365 * 24 * 60))
        text = day.strftime("%Y-%m-%dT%H:%M" if rng.random() < 0.5 else "%Y-%m-%d")
        try:
            return at(text)
        except UserError:  # a local time the clocks skip names no moment: take its day
            return at(text[:10])

    names = list(journey.events)
    sets = [{name: at(text) for name in names} for text in _FAR]
    sets.append({name: at(f"2027-0{i % 9 + 1}-1{i % 10}") for i, name in enumerate(names)})
    sets.append({name: anywhen() for name in names if rng.random() < 0.8})
    return sets


_NOWS = [datetime(1900, 1, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC),
         datetime(2199, 12, 31, 23, tzinfo=UTC)]  # fmt: skip


def plan_everything(journey: Journey, rng: random.Random) -> int:
    """Plan the journey as the sweep would, and schedule every task's alerts; tasks planned."""
    calendar = get_calendar(journey.calendar)
    planned = 0
    for events in _event_sets(journey, rng):
        recurring = [ob.id for _, ob in journey.obligations.values() if ob.recurring]
        far = [e.instant for e in events.values()] + _NOWS
        completions = {ob: sorted(rng.sample(far, 2)) for ob in recurring if rng.random() < 0.5}
        for now in (*_NOWS, *(e.instant for e in list(events.values())[:2])):
            result = plan(journey, _facts(journey, rng), events, completions, now)
            for task in result.tasks:
                _, ob = journey.obligations[task.obligation]
                schedule(ob, task.due, calendar, journey.tz)
                rebased(ob, task.due, calendar, journey.tz, now)
            planned += len(result.tasks)
    return planned


@dataclass
class Outcome:
    cases: int = 0
    refused: int = 0
    validated: int = 0
    planned: int = 0
    failures: list[str] | None = None


def fuzz(seed: int, cases: int) -> Outcome:
    rng = random.Random(seed)
    outcome = Outcome(failures=[])
    stems = sorted(TEXTS)
    for case in range(cases):
        stem = stems[case % len(stems)]
        text, applied = mutate(TEXTS[stem], rng)
        outcome.cases += 1
        where = f"seed {seed} case {case} {stem} {applied}"
        try:
            journey = parse_journey(text, f"{stem}.yaml")
        except JourneyError as error:
            outcome.refused += 1
            bad = [p for p in error.problems if p.line < 1 or p.column < 1 or "\n" in p.message]
            if not error.problems or bad:
                outcome.failures.append(f"{where}: malformed problems {bad or 'none'}")
            continue
        except Exception:
            outcome.failures.append(f"{where}: load: {traceback.format_exc(limit=-3)}")
            continue
        outcome.validated += 1
        try:
            outcome.planned += plan_everything(journey, rng)
        except Exception:
            outcome.failures.append(f"{where}: plan: {traceback.format_exc(limit=-3)}")
    return outcome


def _check(outcome: Outcome, cases: int) -> None:
    assert outcome.cases == cases
    assert not outcome.failures, f"{len(outcome.failures)} failures:\n" + "\n".join(
        outcome.failures[:10]
    )
    # both branches must be exercised, or the test proves nothing
    assert outcome.refused > cases // 5, outcome
    assert outcome.validated > cases // 10, outcome
    assert outcome.planned > outcome.validated, outcome


def test_mutated_journeys_quick() -> None:
    _check(fuzz(seed=1, cases=120), 120)


@pytest.mark.slow
def test_two_thousand_mutated_journeys_load_or_refuse_and_valid_ones_plan() -> None:
    outcome = fuzz(seed=20261202, cases=2400)
    print(
        f"\nfuzz: {outcome.cases} mutated journeys, {outcome.refused} refused with problems, "
        f"{outcome.validated} validated and planned ({outcome.planned} tasks), 0 tracebacks"
    )
    _check(outcome, 2400)


def test_the_mutations_change_the_text() -> None:
    rng = random.Random(7)
    text = TEXTS[sorted(TEXTS)[0]]
    changed = sum(mutate(text, rng)[0] != text for _ in range(50))
    assert changed >= 45
