"""Repeating events (journey language 1.1, rule 3): occurrences, episodes, and the commands
that add, correct and remove an occurrence.

Planner expectations are exact instants in UTC. In March 2027 London is on GMT until the
28th; from then on BST, so the end of a local day is 22:59:59 UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import service
from engine.catalog import Catalog
from engine.core.actors import operator
from engine.core.errors import UserError
from engine.core.journey import Journey
from engine.core.loader import JourneyError, parse_journey
from engine.core.planner import Episode, collect, plan, stage_episodes
from engine.core.values import EventTime, parse_event_key, parse_event_time
from engine.store import AuditEntry, CaseEvent, Task, session_scope
from tests.conftest import at, cli, only_journey

REPEATS = """\
journey: repeats
title: Repeating events test journey
calendar: england-and-wales
timezone: Europe/London
start: referral
events:
  - referral
  - {name: arrest, repeats: true}
  - {name: disengaged, repeats: true}
  - {name: re_engaged, repeats: true}
  - charge
stages:
  - id: investigation
    title: Investigation
    obligations:
      - {id: told-of-arrest, title: Told of the arrest, category: legal,
         due: 1 working day after arrest}
      - {id: told-of-charge, title: Told of the charge, category: legal,
         due: 1 working day after charge}
  - id: re-engagement
    title: Re-engagement
    starts: disengaged
    ends: re_engaged
    obligations:
      - {id: re-contact, title: Re-contact attempt, category: contact, every: 1 week}
"""


@pytest.fixture(scope="module")
def journey() -> Journey:
    return parse_journey(REPEATS, "repeats.yaml")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def recorded(journey: Journey, *entries: tuple[str, int | None, str]):
    """collect() of (name, occurrence, local text) recordings, oldest first."""
    return collect((n, k, parse_event_time(t, journey.tz)) for n, k, t in entries)


def planned(journey: Journey, now: str, *entries, completions=None) -> dict:
    events, occurrences = recorded(journey, ("referral", None, "2027-03-01"), *entries)
    result = plan(journey, {}, events, completions or {}, utc(now), occurrences)
    return {(t.obligation, t.occurrence): t.due.isoformat() for t in result.tasks}


# --- the language --------------------------------------------------------------------------


def test_a_mapping_entry_declares_a_repeating_event_and_a_bare_name_stays_one_off(
    journey: Journey,
) -> None:
    assert journey.events == ("referral", "arrest", "disengaged", "re_engaged", "charge")
    assert journey.repeating == {"arrest", "disengaged", "re_engaged"}


def problems(text: str) -> list[str]:
    with pytest.raises(JourneyError) as error:
        parse_journey(text, "repeats.yaml")
    return [str(p) for p in error.value.problems]


def test_bad_event_entries_are_reported_at_their_line_and_column() -> None:
    text = REPEATS.replace("  - charge\n", "  - 5\n  - {name: charge, repeat: true}\n")
    assert problems(text) == [
        "repeats.yaml:11:5: events[4]: expected an event name, or a mapping such as "
        "{name: arrest, repeats: true}",
        "repeats.yaml:12:20: events[5].repeat: unknown key 'repeat'; did you mean 'repeats'?",
    ]


def test_the_start_event_cannot_repeat() -> None:
    text = REPEATS.replace("  - referral\n", "  - {name: referral, repeats: true}\n")
    assert problems(text) == [
        "repeats.yaml:7:31: events[0].repeats: 'referral' opens the case, so it happens "
        "once: it cannot repeat"
    ]


def test_an_event_declared_twice_in_either_form_is_a_duplicate() -> None:
    text = REPEATS.replace("  - charge\n", "  - charge\n  - {name: arrest}\n")
    assert problems(text) == ["repeats.yaml:12:5: events[5]: duplicate event 'arrest'"]


def test_occurrence_keys(journey: Journey) -> None:
    assert parse_event_key(journey, "arrest") == ("arrest", None)
    assert parse_event_key(journey, "arrest#2") == ("arrest", 2)
    for bad, message in (
        ("charge#1", "event charge does not repeat"),
        ("arrest#0", "bad occurrence 'arrest#0'"),
        ("arrest#x", "bad occurrence 'arrest#x'"),
        ("arrest#" + "9" * 5000, "bad occurrence"),
        ("robbery#1", "unknown event 'robbery'"),
    ):
        with pytest.raises(UserError, match=message):
            parse_event_key(journey, bad)


# --- planning ------------------------------------------------------------------------------


def test_an_obligation_due_on_a_repeating_event_is_planned_once_per_occurrence(
    journey: Journey,
) -> None:
    tasks = planned(
        journey,
        "2027-03-12T12:00+00:00",
        ("arrest", 1, "2027-03-01"),  # a Monday
        ("arrest", 2, "2027-03-10T15:00"),  # a Wednesday
    )
    assert tasks[("told-of-arrest", 1)] == "2027-03-02T23:59:59+00:00"
    assert tasks[("told-of-arrest", 2)] == "2027-03-11T23:59:59+00:00"


def test_occurrences_keep_their_numbers_after_a_removal_and_the_latest_correction_wins(
    journey: Journey,
) -> None:
    tasks = planned(
        journey,
        "2027-03-12T12:00+00:00",
        ("arrest", 1, "2027-03-01"),
        ("arrest", 3, "2027-03-10"),
        ("arrest", 1, "2027-03-03"),  # correcting the first: Wednesday, so due Thursday
    )
    assert [k for k in tasks if k[0] == "told-of-arrest"] == [
        ("told-of-arrest", 1),
        ("told-of-arrest", 3),
    ]
    assert tasks[("told-of-arrest", 1)] == "2027-03-04T23:59:59+00:00"


def test_a_one_off_event_keeps_its_meaning_the_latest_recording_wins(journey: Journey) -> None:
    tasks = planned(
        journey, "2027-03-12T12:00+00:00", ("charge", None, "2027-03-01"),
        ("charge", None, "2027-03-08"),
    )  # fmt: skip
    assert tasks[("told-of-charge", 1)] == "2027-03-09T23:59:59+00:00"
    assert ("told-of-charge", 2) not in tasks


def test_a_stage_starting_on_a_repeating_event_opens_an_episode_per_occurrence(
    journey: Journey,
) -> None:
    stage = journey.stages[1]
    events, occurrences = recorded(
        journey,
        ("re_engaged", 1, "2027-02-20"),  # before any disengagement: ends nothing
        ("disengaged", 1, "2027-03-01"),
        ("re_engaged", 2, "2027-03-20"),
        ("disengaged", 2, "2027-04-05"),
    )
    assert stage_episodes(journey, stage, events, occurrences) == [
        Episode(utc("2027-03-01T00:00:00+00:00"), utc("2027-03-20T00:00:00+00:00")),
        Episode(utc("2027-04-04T23:00:00+00:00"), None),  # 00:00 BST on 5 April
    ]


def test_a_new_occurrence_of_the_start_event_ends_the_episode_before_it(
    journey: Journey,
) -> None:
    events, occurrences = recorded(
        journey, ("disengaged", 1, "2027-03-01"), ("disengaged", 2, "2027-03-10")
    )
    assert stage_episodes(journey, journey.stages[1], events, occurrences) == [
        Episode(utc("2027-03-01T00:00:00+00:00"), utc("2027-03-10T00:00:00+00:00")),
        Episode(utc("2027-03-10T00:00:00+00:00"), None),
    ]


EPISODES = (
    ("disengaged", 1, "2027-03-01"),
    ("re_engaged", 1, "2027-03-20"),
    ("disengaged", 2, "2027-04-05"),
)


def test_a_recurring_obligation_restarts_in_each_episode(journey: Journey) -> None:
    # first episode: weekly from the start, then a week after each completion
    first = planned(journey, "2027-03-05T12:00+00:00", *EPISODES[:2])
    assert first[("re-contact", 1)] == "2027-03-08T23:59:59+00:00"
    done = [utc("2027-03-08T12:00+00:00"), utc("2027-03-15T10:00+00:00")]
    later = planned(
        journey, "2027-03-16T12:00+00:00", *EPISODES[:2], completions={"re-contact": done}
    )
    assert later[("re-contact", 3)] == "2027-03-22T23:59:59+00:00"
    # between episodes: nothing
    between = planned(
        journey, "2027-03-21T12:00+00:00", *EPISODES, completions={"re-contact": done}
    )
    assert not [k for k in between if k[0] == "re-contact"]
    # the second episode counts from its own start, never from the first's completions
    second = planned(journey, "2027-04-06T12:00+00:00", *EPISODES, completions={"re-contact": done})
    assert [(k, v) for k, v in second.items() if k[0] == "re-contact"] == [
        (("re-contact", 3), "2027-04-12T22:59:59+00:00")
    ]


ONE_OFF_ENDS = """\
journey: one-off-ends
title: Episodes ending on a one-off event
calendar: england-and-wales
timezone: Europe/London
start: referral
events:
  - referral
  - {name: disengaged, repeats: true}
  - re_engaged
  - withdrew
stages:
  - id: re-engagement
    title: Re-engagement
    starts: disengaged
    ends: re_engaged
    obligations:
      - {id: re-contact, title: Re-contact attempt, category: contact, every: 1 week}
  - id: outreach
    title: Outreach
    starts: disengaged
    ends: first of (re_engaged, withdrew)
    obligations:
      - {id: outreach-visit, title: Outreach visit, category: contact, every: 2 weeks}
"""


def test_an_episode_is_not_ended_by_a_one_off_event_recorded_before_it_opened() -> None:
    # re_engaged does not repeat: its one recording, 10 March, ends the first episode;
    # the second, opened on 5 April, stays open until the next recording after it (rule 3)
    journey = parse_journey(ONE_OFF_ENDS, "one-off-ends.yaml")
    entries = (
        ("referral", None, "2027-03-01"),
        ("disengaged", 1, "2027-03-01"),
        ("re_engaged", None, "2027-03-10"),
        ("disengaged", 2, "2027-04-05"),
    )
    events, occurrences = recorded(journey, *entries)
    expected = [
        Episode(utc("2027-03-01T00:00:00+00:00"), utc("2027-03-10T00:00:00+00:00")),
        Episode(utc("2027-04-04T23:00:00+00:00"), None),  # 00:00 BST on 5 April
    ]
    for stage in journey.stages:  # `ends: EVENT` and `ends: first of (...)` alike
        assert stage_episodes(journey, stage, events, occurrences) == expected, stage.id
    result = plan(journey, {}, events, {}, utc("2027-04-06T12:00+00:00"), occurrences)
    assert {(t.obligation, t.occurrence): t.due.isoformat() for t in result.tasks} == {
        ("re-contact", 1): "2027-04-12T22:59:59+00:00",  # a week from 5 April
        ("outreach-visit", 1): "2027-04-19T22:59:59+00:00",  # two weeks from 5 April
    }
    # a recording after the episode opened ends it: withdrew ends the outreach only
    withdrew = recorded(journey, *entries, ("withdrew", None, "2027-04-20"))
    outreach, re_engagement = (stage_episodes(journey, s, *withdrew) for s in journey.stages[::-1])
    assert outreach[1] == Episode(expected[1].start, utc("2027-04-19T23:00:00+00:00"))
    assert re_engagement[1] == expected[1]


def test_episode_boundaries_are_when_time_alone_changes_the_plan(journey: Journey) -> None:
    events, occurrences = recorded(journey, ("referral", None, "2027-03-01"), *EPISODES)
    at_start = plan(journey, {}, events, {}, utc("2027-03-05T12:00+00:00"), occurrences)
    assert at_start.next_change == utc("2027-03-20T00:00:00+00:00")
    between = plan(journey, {}, events, {}, utc("2027-03-21T12:00+00:00"), occurrences)
    assert between.next_change == utc("2027-04-04T23:00:00+00:00")


def test_a_repeating_event_given_as_one_plain_value_is_its_first_occurrence(
    journey: Journey,
) -> None:
    arrest = parse_event_time("2027-03-01", journey.tz)
    referral = EventTime(utc("2027-03-01T00:00+00:00"), True)
    result = plan(journey, {}, {"referral": referral, "arrest": arrest}, {}, utc("2027-03-02"))
    assert [(t.obligation, t.occurrence) for t in result.tasks] == [("told-of-arrest", 1)]


# --- recording, correcting, removing -------------------------------------------------------


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    return only_journey(tmp_path, monkeypatch, "repeats.yaml", REPEATS)


REF = "KNT-0007"


@pytest.fixture
def case_url(staffed: str, catalog: Catalog) -> str:
    with session_scope(staffed) as session:
        service.open_case(session, catalog, REF, "repeats", "nav@example.org",
            [("referral", "2027-03-01T09:00"), ("arrest", "2027-03-01")], {},
            at("2027-03-01T10:00"), operator(),
        )  # fmt: skip
    return staffed


def arrest_tasks(url: str) -> dict[int, tuple[str, str]]:
    with session_scope(url) as session:
        rows = session.execute(sa.select(Task).where(Task.obligation == "told-of-arrest"))
        return {t.occurrence: (t.status, t.due.isoformat()) for t in rows.scalars()}


def test_add_correct_and_remove_occurrences_through_the_command(case_url, capsys) -> None:
    now = ("--now", "2027-03-12T10:00")
    code, _out, err = cli(
        capsys, "case", "event", REF, "arrest=2027-03-08", "arrest=2027-03-10", *now
    )
    assert (code, err) == (0, "")
    assert arrest_tasks(case_url) == {
        1: ("open", "2027-03-02T23:59:59+00:00"),
        2: ("open", "2027-03-09T23:59:59+00:00"),
        3: ("open", "2027-03-11T23:59:59+00:00"),
    }
    # correct the second: its task is re-dated, the others stay
    assert cli(capsys, "case", "event", REF, "arrest#2=2027-03-09", *now)[0] == 0
    assert arrest_tasks(case_url)[2] == ("open", "2027-03-10T23:59:59+00:00")
    # remove the second, with a reason: its task is cancelled, the audit says who and why
    code, _, err = cli(capsys, "case", "event", REF, "--remove", "arrest#2", "--reason",
                       "another suspect's arrest", *now)  # fmt: skip
    assert (code, err) == (0, "")
    assert arrest_tasks(case_url)[2][0] == "cancelled"
    with session_scope(case_url) as session:
        removal = session.execute(
            sa.select(AuditEntry).where(AuditEntry.action == "case.event.remove")
        ).scalar_one()
        assert removal.detail == {"event": "arrest#2", "reason": "another suspect's arrest"}
        assert removal.actor == "operator"
    # a new recording never takes the removed number: its task would inherit #2's history
    assert cli(capsys, "case", "event", REF, "arrest=2027-03-11", *now)[0] == 0
    assert arrest_tasks(case_url)[4] == ("open", "2027-03-12T23:59:59+00:00")
    assert arrest_tasks(case_url)[2][0] == "cancelled"
    shown = json.loads(cli(capsys, "case", "show", REF, "--json")[1])
    assert {k: v for k, v in shown["events"].items() if k.startswith("arrest")} == {
        "arrest#1": "2027-03-01",
        "arrest#3": "2027-03-10",
        "arrest#4": "2027-03-11",
    }
    history = [e for e in shown["event_history"] if e["name"] == "arrest"]
    assert [(e["occurrence"], e["removed_at"] is not None) for e in history] == [
        (1, False), (2, True), (3, False), (2, True), (4, False),
    ]  # fmt: skip


def test_record_audits_each_occurrence_by_its_number(case_url, catalog) -> None:
    with session_scope(case_url) as session:
        events = [("arrest", "2027-03-08"), ("charge", "2027-03-09")]
        service.record_events(session, catalog, REF, events, at("2027-03-12T10:00"), operator())
        entry = session.execute(
            sa.select(AuditEntry).where(AuditEntry.action == "case.event")
        ).scalar_one()
        assert entry.detail == {"arrest#2": "2027-03-08", "charge": "2027-03-09"}
        rows = session.execute(sa.select(CaseEvent.name, CaseEvent.occurrence)).all()
        assert sorted(rows, key=repr) == sorted(
            [("referral", None), ("arrest", 1), ("arrest", 2), ("charge", None)], key=repr
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("arrest#5=2027-03-08",), "arrest#5 is not recorded on KNT-0007 (recorded: arrest#1)"),
        (("charge#1=2027-03-08",), "event charge does not repeat"),
        (("--remove", "arrest", "--reason", "typo"),
         "arrest repeats: name the occurrence to remove, such as --remove arrest#1"),
        (("--remove", "arrest#3", "--reason", "typo"), "event arrest#3 is not recorded"),
    ],
)  # fmt: skip
def test_bad_occurrences_are_one_line_errors_that_change_nothing(
    case_url, capsys, args, message
) -> None:
    from tests.test_cli_cases import state

    before = state(case_url)
    code, out, err = cli(capsys, "case", "event", REF, *args, "--now", "2027-03-12T10:00")
    assert code == 1 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: {message}")
    assert state(case_url) == before


def test_simulate_gives_one_occurrence_per_event_option(catalog, capsys) -> None:
    code, out, err = cli(capsys, "journeys", "simulate", "repeats",
        "--event", "referral=2027-03-01", "--event", "arrest=2027-03-01",
        "--event", "arrest=2027-03-10", "--now", "2027-03-12T12:00", "--json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    arrests = [
        (r["occurrence"], r["due"]) for r in json.loads(out) if r["obligation"] == "told-of-arrest"
    ]
    assert arrests == [(1, "2027-03-02T23:59:59+00:00"), (2, "2027-03-11T23:59:59+00:00")]
