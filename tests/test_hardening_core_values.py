"""Issue 10, item 8 (core half): times people type that mean nothing, or two things.

A local time inside the spring-forward gap names no moment, so it is a one-line error that
names the gap; a local time the autumn change repeats is read as its first occurrence, and
`ambiguity` says so for a caller to show. Empty text is a one-line error, not a traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.core.errors import UserError
from engine.core.values import ambiguity, parse_event_time, parse_fact, parse_instant

LONDON = ZoneInfo("Europe/London")
BUCHAREST = ZoneInfo("Europe/Bucharest")


def test_a_time_in_the_spring_gap_is_an_error_naming_the_gap() -> None:
    with pytest.raises(UserError) as info:
        parse_event_time("2027-03-28T01:30", LONDON)
    assert str(info.value) == (
        "2027-03-28T01:30 does not exist in Europe/London: clocks go forward from 01:00 to 02:00"
    )


@pytest.mark.parametrize(
    ("text", "tz", "message"),
    [
        ("2027-03-28T01:00", LONDON, "clocks go forward from 01:00 to 02:00"),
        ("2027-03-28T01:59:59", LONDON, "clocks go forward from 01:00 to 02:00"),
        ("2027-03-28T03:30", BUCHAREST, "clocks go forward from 03:00 to 04:00"),
        # half-hour changes and midnight changes are named as they are
        (
            "2027-10-03T02:15",
            ZoneInfo("Australia/Lord_Howe"),
            "clocks go forward from 02:00 to 02:30",
        ),
        ("2027-03-14T00:30", ZoneInfo("America/Havana"), "clocks go forward from 00:00 to 01:00"),
    ],
)
def test_every_time_in_a_gap_is_refused(text: str, tz: ZoneInfo, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_event_time(text, tz)
    assert str(info.value) == f"{text} does not exist in {tz.key}: {message}"
    with pytest.raises(UserError):
        parse_instant(text, tz)  # `--now` goes through the same door


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2027-03-28T00:59", datetime(2027, 3, 28, 0, 59, tzinfo=UTC)),
        ("2027-03-28T02:00", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),
        ("2027-03-28", datetime(2027, 3, 28, 0, 0, tzinfo=UTC)),  # a date is a whole day
        ("2027-03-28T01:30+00:00", datetime(2027, 3, 28, 1, 30, tzinfo=UTC)),  # an instant
        ("2027-03-28T01:30Z", datetime(2027, 3, 28, 1, 30, tzinfo=UTC)),
    ],
)
def test_times_either_side_of_the_gap_and_explicit_offsets_are_fine(
    text: str, utc: datetime
) -> None:
    assert parse_event_time(text, LONDON).instant == utc
    assert ambiguity(text, LONDON) is None


def test_an_ambiguous_time_takes_the_first_occurrence_and_says_so() -> None:
    event = parse_event_time("2027-10-31T01:30", LONDON)
    assert event.instant == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 01:30 BST
    assert not event.date_only
    assert ambiguity("2027-10-31T01:30", LONDON) == (
        "2027-10-31T01:30 happens twice in Europe/London: clocks go back from 02:00 to 01:00; "
        "read as the first, 01:30 BST (UTC+01:00)"
    )
    assert ambiguity(" 2027-10-31T03:30 ", BUCHAREST) == (
        "2027-10-31T03:30 happens twice in Europe/Bucharest: clocks go back from 04:00 to "
        "03:00; read as the first, 03:30 EEST (UTC+03:00)"
    )


@pytest.mark.parametrize(
    "text",
    ["2027-10-31T00:59", "2027-10-31T02:00", "2027-10-31", "2027-10-31T01:30+00:00",
     "2027-07-01T01:30", "not a date", "", "2027-10-31T01:30:00+01:00", "1850-10-31T01:30"],
)  # fmt: skip
def test_unambiguous_or_unreadable_text_has_no_ambiguity(text: str) -> None:
    assert ambiguity(text, LONDON) is None


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_empty_time_is_a_one_line_error(text: str) -> None:
    with pytest.raises(UserError) as info:
        parse_event_time(text, LONDON)
    assert str(info.value) == (
        "no date given: expected an ISO date (2027-03-01) or date-time (2027-03-01T09:30)"
    )
    with pytest.raises(UserError):
        parse_instant(text, LONDON)


def test_bad_text_is_shown_on_one_printable_line() -> None:
    with pytest.raises(UserError) as info:
        parse_event_time("2027\x1b[2J-01-01\n" + "x" * 100, LONDON)
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message
    assert message.startswith("bad date '2027\\x1b[2J-01-01\\nxxx")
    assert "...': expected an ISO date" in message


def test_fact_text_is_echoed_short_and_on_one_line() -> None:
    from engine.core.loader import parse_journey
    from tests.test_loader import BASE, FILE

    journey = parse_journey(BASE, FILE)
    cases = [
        ("age", "9" * 5000, "fact 'age' is an integer: got '" + "9" * 40 + "...'"),
        ("age", "9" * 4000, "fact 'age': " + "9" * 40 + "... is above the maximum 120"),
        ("age", "1\n2", "fact 'age' is an integer: got '1\\n2'"),
        ("remote_evidence", "\x1b[2J", "fact 'remote_evidence' is boolean: expected true or "
         "false, got '\\x1b[2J'"),
    ]  # fmt: skip
    for name, text, message in cases:
        with pytest.raises(UserError) as info:
            parse_fact(journey, name, text)
        assert str(info.value) == message
    with pytest.raises(UserError) as info:
        parse_fact(journey, "x\n" * 50, "1")
    assert str(info.value).startswith("unknown fact 'x\\nx\\n")
    assert "\n" not in str(info.value) and len(str(info.value)) < 200
