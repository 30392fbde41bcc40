"""Issue 10, core half: journeys that validate must plan, and the validator has no gaps.

Each test is the exact reproduction from the issue, run against the small journey of
`tests/test_loader.py` (`BASE`, whose line numbers the positions below refer to).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.catalog import load_journey
from engine.core import loader
from engine.core.calendar import (
    MAX_COUNT,
    Duration,
    OutOfRange,
    add_days,
    check_length,
    get_calendar,
    parse_duration,
    reminder_time,
    shift,
)
from engine.core.errors import UserError
from engine.core.journey import Journey
from engine.core.loader import MAX_BYTES, JourneyError, parse_journey
from engine.core.planner import PlanError, plan
from engine.core.values import EventTime, parse_event_time
from tests.test_loader import BASE, FILE, only_problem, problems_of, sub

LONDON = ZoneInfo("Europe/London")
REFERRAL = {"referral": parse_event_time("2027-01-05", LONDON)}
NOW = datetime(2027, 1, 6, tzinfo=UTC)


# --- 1a. every duration is at most 10 years in its unit -----------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "message"),
    [
        pytest.param(
            "due: 24 hours after referral", "due: 99999 months after referral", 18, 14,
            "stages[0].obligations[0].due: "
            "`99999 months` is too long: at most 120 months (10 years)",
            id="due-months",
        ),
        pytest.param(
            "due: 24 hours after referral", "due: 99999999 days after referral", 18, 14,
            "stages[0].obligations[0].due: "
            "`99999999 days` is too long: at most 3650 days (10 years)",
            id="due-days",
        ),
        pytest.param(
            "due: 24 hours after referral", "due: 999999999999 hours after referral", 18, 14,
            "stages[0].obligations[0].due: "
            "`999999999999 hours` is too long: at most 87660 hours (10 years)",
            id="due-hours",
        ),
        pytest.param(
            "every: 1 week", "every: 99999999 weeks", 36, 16,
            "stages[1].obligations[1].every: "
            "`99999999 weeks` is too long: at most 520 weeks (10 years)",
            id="every-weeks",
        ),
        pytest.param(
            "ends: 30 days after referral", "ends: 2611 working days after referral", 13, 11,
            "stages[0].ends: "
            "`2611 working days` is too long: at most 2610 working days (10 years)",
            id="ends-working-days",
        ),
        pytest.param(
            "starts: 8 weeks before trial", "starts: 521 weeks before trial", 25, 13,
            "stages[1].starts: `521 weeks` is too long: at most 520 weeks (10 years)",
            id="starts-weeks",
        ),
        pytest.param(
            "remind: [4 hours]", "remind: [87661 hours]", 19, 18,
            "stages[0].obligations[0].remind[0]: "
            "`87661 hours` is too long: at most 87660 hours (10 years)",
            id="remind-hours",
        ),
        pytest.param(
            "{after: 1 working day,", "{after: 3651 days,", 22, 21,
            "stages[0].obligations[0].escalate[1].after: "
            "`3651 days` is too long: at most 3650 days (10 years)",
            id="escalation-days",
        ),
        pytest.param(
            "every: 1 week", "every: " + "9" * 5000 + " days", 36, 16,
            "stages[1].obligations[1].every: "
            "`999999999999... days` is too long: at most 3650 days (10 years)",
            id="every-5000-digits",
        ),
    ],
)  # fmt: skip
def test_durations_over_ten_years_are_refused_at_their_line(
    old: str, new: str, line: int, column: int, message: str
) -> None:
    problem = only_problem(sub(old, new))
    assert str(problem) == f"{FILE}:{line}:{column}: {message}"


@pytest.mark.parametrize("unit", ["hour", "day", "working_day", "week", "month"])
def test_the_longest_allowed_duration_validates_and_plans(unit: str) -> None:
    longest = Duration(MAX_COUNT[unit], unit)
    assert parse_duration(str(longest)) == longest
    text = sub("due: 24 hours after referral", f"due: {longest} after referral")
    text = sub("every: 1 week", f"every: {longest}", text)
    journey = parse_journey(text, FILE)
    for day in ("1900-01-01", "2199-12-31"):
        events = {name: parse_event_time(day, LONDON) for name in journey.events}
        for now in (events["referral"].instant, datetime(2300, 1, 1, tzinfo=UTC)):
            plan(journey, {}, events, {}, now)
    one_more = parse_duration(f"{MAX_COUNT[unit] + 1} {unit.replace('_', ' ')}s")
    with pytest.raises(ValueError, match="is too long"):
        check_length(one_more)
    text = sub("due: 24 hours after referral", f"due: {one_more} after referral")
    assert "is too long" in only_problem(text).message


def test_the_caps_are_ten_years_in_each_unit() -> None:
    assert MAX_COUNT == {
        "hour": 87660, "day": 3650, "working_day": 2610, "week": 520, "month": 120,
    }  # fmt: skip


def test_a_duration_built_in_code_is_capped_too() -> None:
    data = parse_journey(BASE, FILE).model_dump()
    data["stages"][1]["obligations"][1]["every"] = Duration(99999999, "week")
    with pytest.raises(ValueError, match="`99999999 weeks` is too long"):
        Journey.model_validate(data)


# --- 1a. the planner itself never leaks datetime's errors ----------------------------------


def test_an_instant_past_the_calendar_is_a_plan_error_not_a_value_error() -> None:
    journey = parse_journey(
        sub("due: 24 hours after referral", "due: 1 month after referral"), FILE
    )
    events = {"referral": EventTime(datetime(9999, 12, 1, tzinfo=UTC), True)}
    with pytest.raises(PlanError) as info:
        plan(journey, {}, events, {}, NOW)
    assert isinstance(info.value, UserError)
    assert str(info.value) == (
        "journey mini, obligation safe-accommodation: 1 month after 9999-12-01 is outside "
        "the dates the engine can count (years 1 to 9999)"
    )


@pytest.mark.parametrize(
    "events",
    [
        pytest.param({"referral": EventTime(datetime(9999, 12, 31, 23, tzinfo=UTC), False)},
                     id="hours-past-9999"),
        pytest.param({"referral": EventTime(datetime(1, 1, 1, tzinfo=UTC), True),
                      "trial": EventTime(datetime(1, 1, 2, tzinfo=UTC), True)},
                     id="weeks-before-year-1"),
    ],
)  # fmt: skip
def test_plans_at_the_ends_of_time_raise_plan_errors(events: dict[str, EventTime]) -> None:
    journey = parse_journey(BASE, FILE)
    with pytest.raises(PlanError, match="outside the dates the engine can count"):
        plan(journey, {}, events, {}, NOW)


def test_recurring_after_a_completion_at_the_end_of_time_is_a_plan_error() -> None:
    journey = parse_journey(BASE, FILE)
    events = {"referral": REFERRAL["referral"], "trial": parse_event_time("2027-06-01", LONDON)}
    completions = {"check-in": [datetime(9999, 12, 30, tzinfo=UTC)]}
    with pytest.raises(PlanError, match="obligation check-in: 1 week after 9999-12-30"):
        plan(journey, {}, events, completions, datetime(2027, 5, 1, tzinfo=UTC))


def test_calendar_arithmetic_out_of_range_is_one_domain_error() -> None:
    cal = get_calendar("england-and-wales")
    cases = [
        lambda: add_days(date(9999, 5, 1), Duration(10, "month"), 1, cal),
        lambda: add_days(date(9999, 12, 1), Duration(100, "working_day"), 1, cal),
        lambda: add_days(date(1, 1, 5), Duration(3, "week"), -1, cal),
        lambda: shift(datetime(9999, 12, 31, 20, tzinfo=UTC), Duration(10, "hour"), 1, cal, LONDON),
        lambda: reminder_time(datetime(1, 1, 1, 1, tzinfo=UTC), Duration(2, "hour"), cal, LONDON),
        lambda: shift(datetime(9999, 12, 31, 23, tzinfo=UTC), Duration(1, "day"), 1, cal,
                      ZoneInfo("Europe/Bucharest")),
    ]  # fmt: skip
    for case in cases:
        with pytest.raises(OutOfRange, match="outside the dates the engine can count"):
            case()


# --- 2. validator gaps ---------------------------------------------------------------------


def test_a_mapping_in_events_is_a_problem_not_a_type_error() -> None:
    # the exact reproduction: `trial` is then not declared, so its anchors are problems too.
    # (Since language 1.1 a mapping declares an event: `{name: trial, repeats: true}`.)
    text = sub("events: [referral, charge, trial]", "events: [referral, {trial: 1}]")
    problems = problems_of(text)
    assert [str(p) for p in problems[:2]] == [
        f"{FILE}:9:20: events[1].name: missing required key 'name'",
        f"{FILE}:9:21: events[1].trial: unknown key 'trial'",
    ]
    assert [(p.line, p.column) for p in problems[2:]] == [(25, 13), (26, 11), (31, 14)]
    assert all("unknown event 'trial'" in p.message for p in problems[2:])


def test_events_with_mappings_and_lists_report_each_and_still_check_duplicates() -> None:
    text = sub(
        "events: [referral, charge, trial]",
        "events: [referral, {trial: 1}, [x], charge, trial, charge]",
    )
    assert [str(p) for p in problems_of(text)] == [
        f"{FILE}:9:20: events[1].name: missing required key 'name'",
        f"{FILE}:9:21: events[1].trial: unknown key 'trial'",
        f"{FILE}:9:32: events[2]: expected an event name, or a mapping such as "
        "{name: arrest, repeats: true}",
        f"{FILE}:9:52: events[5]: duplicate event 'charge'",
    ]


def test_integer_fact_with_min_above_max_is_an_error_at_min() -> None:
    problem = only_problem(
        sub("{type: integer, min: 0, max: 120}", "{type: integer, min: 10, max: 5}")
    )
    assert str(problem) == f"{FILE}:7:29: facts.age.min: min 10 is above max 5: no value would fit"
    # equal bounds are a fact with one possible value: odd, but not wrong
    parse_journey(sub("{type: integer, min: 0, max: 120}", "{type: integer, min: 5, max: 5}"), FILE)


def test_repeated_choices_are_an_error_at_the_repeat() -> None:
    problem = only_problem(
        sub(
            "remote_evidence: {type: boolean, default: false}",
            "remote_evidence: {type: choice, choices: [full, advice, full]}",
        )
    )
    assert str(problem) == (
        f"{FILE}:8:59: facts.remote_evidence.choices[2]: 'full' is already a choice (choices[0])"
    )


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "where"),
    [
        pytest.param("title: Mini journey", "title: ' '", 2, 8, "title", id="journey"),
        pytest.param("title: First month", "title: \"\\t \"", 12, 12, "stages[0].title",
                     id="stage"),
        pytest.param("title: Check-in call", "title: '   '", 34, 16,
                     "stages[1].obligations[1].title", id="obligation"),
    ],
)  # fmt: skip
def test_blank_titles_are_errors_at_the_title(
    old: str, new: str, line: int, column: int, where: str
) -> None:
    problem = only_problem(sub(old, new))
    assert (problem.line, problem.column) == (line, column)
    assert problem.message.startswith(f"{where}: ")
    assert problem.message.endswith("is blank: write what it is, as navigators will see it")


def test_empty_titles_are_errors_at_the_title() -> None:
    problem = only_problem(sub("title: First month", "title: ''"))
    assert str(problem) == f"{FILE}:12:12: stages[0].title: must not be empty"


@pytest.mark.parametrize(
    ("remind", "column", "message"),
    [
        pytest.param("[4 hours, 2 hours, 4 hours]", 36,
                     "remind[2]: '4 hours' is already a reminder (remind[0])", id="same"),
        pytest.param("[1 week, 7 days]", 26,
                     "remind[1]: '7 days' fires at the same time as '1 week' (remind[0])",
                     id="week-is-7-days"),
    ],
)  # fmt: skip
def test_repeated_reminder_offsets_are_an_error_at_the_repeat(
    remind: str, column: int, message: str
) -> None:
    problem = only_problem(sub("remind: [4 hours]", f"remind: {remind}"))
    assert str(problem) == f"{FILE}:19:{column}: stages[0].obligations[0].{message}"


def test_different_reminder_offsets_are_fine() -> None:
    journey = parse_journey(
        sub("remind: [4 hours]", "remind: [1 day, 24 hours, 1 working day]"), FILE
    )
    assert len(journey.obligations["safe-accommodation"][1].remind) == 3


def _ladder(first: str, then: str, due: str = "10 working days before trial") -> str:
    return sub(
        "        due: 10 working days before trial\n",
        f"        due: {due}\n        escalate:\n"
        f"          - {{after: {first}, notify: team_lead}}\n"
        f"          - {{after: {then}, notify: programme_lead}}\n",
    )


LADDER = "stages[1].obligations[0].escalate[1].after"


def test_thirty_days_then_one_month_runs_backwards_in_february() -> None:
    problem = only_problem(_ladder("30 days", "1 month"))
    assert (problem.line, problem.column) == (34, 21)
    assert problem.message == (
        f"{LADDER}: escalation steps must be strictly increasing: '1 month' is not after "
        "'30 days' for a task due 2027-01-30 (30 days after is 2027-03-01, "
        "1 month after is 2027-02-28)"
    )


@pytest.mark.parametrize(
    ("first", "then", "due", "shown"),
    [
        # 31 January + 1 month is 28 February; + 29 days is 1 March
        ("29 days", "1 month", "2027-01-31", "(29 days after is 2027-03-01, 1 month after is "
         "2027-02-28)"),
        # leap year: 31 January 2028 + 1 month is 29 February, + 29 days is also 29 February
        ("29 days", "1 month", "2027-01-30", None),
        # a Friday: 1 working day is Monday, 2 days is Sunday
        ("1 working day", "2 days", "2027-01-29", "(1 working day after is 2027-02-01, "
         "2 days after is 2027-01-31)"),
        # 5 working days from Thursday 23 December 2027 run past the 27th and 28th (bank
        # holidays) to 4 January; 1 week is 30 December
        ("5 working days", "10 days", "2027-12-23", None),
    ],
)  # fmt: skip
def test_mixed_unit_ladders_are_compared_on_real_dates(
    first: str, then: str, due: str, shown: str | None
) -> None:
    problem = only_problem(_ladder(first, then))
    assert problem.message.startswith(
        f"{LADDER}: escalation steps must be strictly increasing: '{then}' is not after '{first}'"
        " for a task due "
    )
    if shown is not None:
        assert problem.message.endswith(f" for a task due {due} {shown}")


def test_leap_and_common_february_are_both_checked() -> None:
    # `28 days` then `1 month`: from 31 January, 1 month is 28 February 2027 (= 28 days) but
    # 29 February 2028 (> 28 days). Only the common year shows that it does not increase.
    problem = only_problem(_ladder("28 days", "1 month"))
    assert "for a task due 2027-01-31 " in problem.message
    assert "(28 days after is 2027-02-28, 1 month after is 2027-02-28)" in problem.message
    for day in ("2027-01-31", "2027-02-01", "2027-02-28", "2028-01-31", "2028-02-01",
                "2028-02-29", "2027-04-30", "2028-12-31"):  # fmt: skip
        assert date.fromisoformat(day) in loader._LADDER_DATES
    weekdays = {d.weekday() for d in loader._LADDER_DATES if d.year == 2028}
    assert weekdays == set(range(7))


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("2 hours", "1 working day"),
        ("1 working day", "1 week"),
        ("2 working days", "1 week"),
        ("1 week", "1 month"),
        ("27 days", "1 month"),
        ("1 month", "32 days"),
        ("23 hours", "2 days"),
    ],
)
def test_mixed_unit_ladders_that_always_rise_are_fine(first: str, then: str) -> None:
    parse_journey(_ladder(first, then), FILE)
    parse_journey(_ladder(first, then, due="24 hours after referral"), FILE)


def test_hours_then_days_from_an_exact_due_hour() -> None:
    # Due at an exact hour (24 hours after a referral at 23:00): `1 day` after is the end of
    # the next day, only 25 hours later, so `30 hours` then `1 day` runs backwards...
    problem = only_problem(_ladder("30 hours", "1 day", due="24 hours after referral"))
    assert "'1 day' is not after '30 hours' for a task due 2027-01-25 23:59" in problem.message
    # ...and `1 day` then `30 hours` does too, for a task due at 00:00 (1 day is 48 hours).
    problem = only_problem(_ladder("1 day", "30 hours", due="24 hours after referral"))
    assert "for a task due 2027-01-25 00:00 " in problem.message


def test_ladders_of_one_unit_family_compare_by_numbers() -> None:
    problem = only_problem(_ladder("2 weeks", "14 days"))
    assert problem.message == (
        f"{LADDER}: escalation steps must be strictly increasing: '14 days' is not after '2 weeks'"
    )
    parse_journey(_ladder("2 weeks", "15 days"), FILE)


def test_shipped_ladders_all_rise_on_real_dates() -> None:
    for path in sorted(Path(__file__).resolve().parent.parent.glob("journeys/*.yaml")):
        load_journey(path)


# --- 2. the size cap comes before parsing ---------------------------------------------------


def test_max_bytes_is_half_a_megabyte() -> None:
    assert MAX_BYTES == 512 * 1024


def _big(size: int) -> str:
    """A journey padded with many small values, the slowest kind of YAML to read."""
    padding = "".join(f"  - {{id: x{i}, title: t, category: other}}\n" for i in range(size))
    return BASE + "extra:\n" + padding


def test_a_two_megabyte_file_is_refused_at_once_with_a_plain_message(tmp_path: Path) -> None:
    text = _big(45_000)
    size = len(text.encode())
    assert 1_900_000 < size < 2_100_000
    path = tmp_path / "mini.yaml"
    path.write_text(text, encoding="utf-8")
    for call in (lambda: load_journey(path), lambda: parse_journey(text, FILE)):
        started = time.process_time()
        with pytest.raises(JourneyError) as info:
            call()
        assert time.process_time() - started < 0.5
        [problem] = info.value.problems
        assert problem.message == f"journey file is too large ({size} bytes; at most 524288)"
        assert (problem.line, problem.column) == (1, 1)


def test_text_counts_in_bytes_not_characters() -> None:
    text = BASE + "# " + "é" * (MAX_BYTES // 2) + "\n"
    assert len(text) < MAX_BYTES < len(text.encode())
    problem = only_problem(text)
    assert problem.message.startswith("journey file is too large (")


def test_a_file_under_the_cap_with_too_many_values_stops_early() -> None:
    text = _big(11_000)
    assert len(text.encode()) < MAX_BYTES
    started = time.process_time()
    problem = only_problem(text)
    assert time.process_time() - started < 3.0
    assert problem.message == "journey is too large: more than 20000 values"
    assert problem.line > 1


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("Europe", "Europe"),  # a directory of the zone database
        ("America", "America"),
        ("a" * 300, "a" * 40 + "..."),  # longer than a file name may be
    ],
)
def test_time_zone_names_that_are_not_zones_are_problems_not_os_errors(
    zone: str, shown: str
) -> None:
    problem = only_problem(sub("timezone: Europe/London", f"timezone: {zone}"))
    assert str(problem) == (
        f"{FILE}:4:11: timezone: unknown time zone '{shown}' "
        "(use an IANA name such as Europe/London)"
    )


# --- found by the fuzz: messages that repeated a value with a newline in it ----------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param(
            "start: referral", 'start: "referral\\n- charge"',
            "start: 'referral\\n- charge' must be lowercase snake_case, such as 'trial_listed'",
            id="pattern",
        ),
        pytest.param(
            "calendar: england-and-wales", 'calendar: "x\\ny"',
            "calendar: 'x\\ny' is not allowed: input should be 'england-and-wales', 'scotland', "
            "'northern-ireland' or 'romania'",
            id="literal",
        ),
        pytest.param(
            "timezone: Europe/London", 'timezone: "Europe/London\\nx"',
            "timezone: unknown time zone 'Europe/London\\nx' (use an IANA name such as "
            "Europe/London)",
            id="value-error",
        ),
        pytest.param(
            "remind: [4 hours]", "remind: |\n          - 4 hours\n          - 2 hours",
            "stages[0].obligations[0].remind: expected a list, not '- 4 hours\\n- 2 hours\\n'",
            id="block-scalar",
        ),
    ],
)  # fmt: skip
def test_a_value_with_newlines_is_repeated_on_one_line(old: str, new: str, message: str) -> None:
    problem = only_problem(sub(old, new))
    assert problem.message == message
    assert problem.message.isprintable()


def test_a_long_value_is_repeated_shortened() -> None:
    problem = only_problem(sub("calendar: england-and-wales", "calendar: " + "x" * 5000))
    assert problem.message.startswith("calendar: '" + "x" * 60 + "...' is not allowed")
    assert len(problem.message) < 200
