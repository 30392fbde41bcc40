"""Contact outcomes (journey language 1.1, rule 7): `reached` / `not_reached`, `retry:` and
`escalate_after_failures:`, stored on the task and shown wherever the task is.

Instants are UTC; in March 2027 London is on GMT until the 28th.
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
from engine.core.journey import Journey
from engine.core.loader import JourneyError, parse_journey
from engine.core.planner import Completion, Unreached, collect, plan
from engine.core.values import parse_event_time
from engine.store import AuditEntry, OutboxMessage, Task, session_scope
from tests.conftest import at, cli, only_journey

CONTACT = """\
journey: contact
title: Contact outcomes test journey
calendar: england-and-wales
timezone: Europe/London
start: referral
events:
  - referral
  - {name: disengaged, repeats: true}
  - {name: re_engaged, repeats: true}
stages:
  - id: first-month
    title: First month
    obligations:
      - {id: gp, title: Registered with a GP, category: health, due: 14 days after referral}
  - id: re-engagement
    title: Re-engagement
    starts: disengaged
    ends: re_engaged
    obligations:
      - id: re-contact
        title: Re-contact attempt
        category: contact
        every: 1 week
        retry: 2 days
        escalate_after_failures: {count: 3, notify: team_lead}
        description: Try another time of day, or the officer in the case.
"""


@pytest.fixture(scope="module")
def journey() -> Journey:
    return parse_journey(CONTACT, "contact.yaml")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def problems(text: str) -> list[str]:
    with pytest.raises(JourneyError) as error:
        parse_journey(text, "contact.yaml")
    return [str(p) for p in error.value.problems]


# --- the language --------------------------------------------------------------------------


def test_retry_and_failure_escalation_need_a_recurring_contact_obligation() -> None:
    one_off = CONTACT.replace("every: 1 week", "due: 1 week after disengaged")
    assert problems(one_off) == [
        "contact.yaml:24:16: stages[1].obligations[0].retry: 'retry' applies only to "
        "recurring obligations (every:)"
    ]
    not_contact = CONTACT.replace("category: contact", "category: safety")
    assert problems(not_contact) == [
        "contact.yaml:24:16: stages[1].obligations[0].retry: 'retry' needs category contact: "
        "only contact tasks are completed not_reached"
    ]
    no_retry = not_contact.replace("        retry: 2 days\n", "")
    assert problems(no_retry) == [
        "contact.yaml:24:34: stages[1].obligations[0].escalate_after_failures: "
        "'escalate_after_failures' needs category contact: only contact tasks are completed "
        "not_reached"
    ]


def test_a_failure_count_is_a_positive_whole_number_and_roles_are_checked() -> None:
    text = CONTACT.replace("{count: 3, notify: team_lead}", "{count: 0, notify: lead}")
    found = problems(text)
    assert found[0].startswith(
        "contact.yaml:25:42: stages[1].obligations[0].escalate_after_failures.count: "
    )
    assert "greater than or equal to 1" in found[0]
    assert found[1] == (
        "contact.yaml:25:53: stages[1].obligations[0].escalate_after_failures.notify[0]: "
        "'lead' is not allowed: input should be 'navigator', 'team_lead' or 'programme_lead'"
    )


# --- planning ------------------------------------------------------------------------------


def planned(journey: Journey, now: str, done: list[Completion]):
    events, occurrences = collect(
        (name, number, parse_event_time(text, journey.tz))
        for name, number, text in (
            ("referral", None, "2027-02-01"),
            ("disengaged", 1, "2027-03-01"),
        )
    )
    return plan(journey, {}, events, {"re-contact": done}, utc(now), occurrences)


def next_attempt(result) -> tuple[int, str]:
    [task] = [t for t in result.tasks if t.obligation == "re-contact"]
    return task.occurrence, task.due.isoformat()


def test_after_a_not_reached_attempt_the_next_falls_due_retry_later(journey: Journey) -> None:
    tried = Completion(utc("2027-03-08T10:00+00:00"), reached=False)
    assert next_attempt(planned(journey, "2027-03-08T11:00+00:00", [tried])) == (
        2,
        "2027-03-10T23:59:59+00:00",  # 2 days, not a week
    )
    reached = Completion(utc("2027-03-08T10:00+00:00"))
    assert next_attempt(planned(journey, "2027-03-08T11:00+00:00", [reached])) == (
        2,
        "2027-03-15T23:59:59+00:00",
    )


def test_a_run_of_failures_is_reported_once_it_is_long_enough(journey: Journey) -> None:
    def attempt(day: int, reached: bool) -> Completion:
        return Completion(utc(f"2027-03-{day:02d}T10:00+00:00"), reached)

    now = "2027-03-20T11:00+00:00"
    two = [attempt(8, True), attempt(10, False), attempt(12, False)]
    assert planned(journey, now, two).unreached == ()
    three = [*two, attempt(14, False)]
    assert planned(journey, now, three).unreached == (Unreached("re-contact", 2, 4),)
    four = [*three, attempt(16, False)]  # the same run, grown: still known by its first
    assert planned(journey, now, four).unreached == (Unreached("re-contact", 2, 5),)
    broken = [*three, attempt(16, True)]
    assert planned(journey, now, broken).unreached == ()


def test_failures_of_an_earlier_episode_do_not_count_in_the_next(journey: Journey) -> None:
    events, occurrences = collect(
        (name, number, parse_event_time(text, journey.tz))
        for name, number, text in (
            ("referral", None, "2027-02-01"),
            ("disengaged", 1, "2027-03-01"),
            ("re_engaged", 1, "2027-03-12"),
            ("disengaged", 2, "2027-03-15"),
        )
    )
    failed = [Completion(utc(f"2027-03-{d:02d}T10:00+00:00"), False) for d in (8, 10, 11)]
    second = [*failed, Completion(utc("2027-03-22T10:00+00:00"), False)]
    result = plan(journey, {}, events, {"re-contact": second}, utc("2027-03-22T11:00"), occurrences)
    assert result.unreached == ()
    assert next_attempt(result) == (5, "2027-03-24T23:59:59+00:00")  # retry, in episode 2


# --- completing, storing, showing, escalating ----------------------------------------------


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    return only_journey(tmp_path, monkeypatch, "contact.yaml", CONTACT)


REF = "KNT-0009"


@pytest.fixture
def case_url(staffed: str, catalog: Catalog) -> str:
    with session_scope(staffed) as session:
        service.open_case(session, catalog, REF, "contact", "nav@example.org",
            {"referral": "2027-02-01T09:00", "disengaged": "2027-03-01"}, {},
            at("2027-03-02T09:00"), operator(),
        )  # fmt: skip
    return staffed


def open_task(url: str, obligation: str = "re-contact") -> Task:
    with session_scope(url) as session:
        return session.execute(
            sa.select(Task).where(Task.obligation == obligation, Task.status == "open")
        ).scalar_one()


def unreached_messages(url: str) -> list[OutboxMessage]:
    with session_scope(url) as session:
        query = sa.select(OutboxMessage).where(OutboxMessage.kind == "unreached")
        return list(session.execute(query.order_by(OutboxMessage.id)).scalars())


def attempt(capsys, url: str, when: str, *outcome: str) -> Task:
    task = open_task(url)
    code, _out, err = cli(capsys, "task", "done", str(task.id), *outcome, "--now", when)
    assert (code, err) == (0, ""), err
    return task


def test_not_reached_is_stored_shown_and_retried(case_url, capsys) -> None:
    first = open_task(case_url)
    assert first.due == at("2027-03-08T23:59:59")
    _code, out, _ = cli(capsys, "task", "done", str(first.id), "--outcome", "not_reached",
                       "--now", "2027-03-08T10:00")  # fmt: skip
    assert out.strip() == f"task {first.id} done (not reached)"
    shown = json.loads(cli(capsys, "task", "show", str(first.id), "--json")[1])
    assert shown["outcome"] == "not_reached"
    assert [(h["action"], h["outcome"]) for h in shown["history"]] == [("done", "not_reached")]
    assert "done (not reached)" in cli(capsys, "task", "show", str(first.id))[1]
    case = json.loads(cli(capsys, "case", "show", REF, "--json")[1])
    assert {t["id"]: t["outcome"] for t in case["tasks"]}[first.id] == "not_reached"
    listed = json.loads(cli(capsys, "task", "list", "--case", REF, "--status", "done", "--json")[1])
    assert [t["outcome"] for t in listed] == ["not_reached"]
    second = open_task(case_url)
    assert (second.occurrence, second.due) == (2, at("2027-03-10T23:59:59"))  # retry: 2 days
    # reached is the default for a contact task; the next falls due `every` later
    attempt(capsys, case_url, "2027-03-10T10:00")
    with session_scope(case_url) as session:
        assert session.get(Task, second.id).outcome == "reached"
        audit = (
            session.execute(sa.select(AuditEntry.detail).where(AuditEntry.action == "task.done"))
            .scalars()
            .all()
        )
        assert [d["outcome"] for d in audit] == ["not_reached", "reached"]
    assert open_task(case_url).due == at("2027-03-17T23:59:59")


def test_reopening_forgets_the_outcome(case_url, capsys) -> None:
    task = attempt(capsys, case_url, "2027-03-08T10:00", "--outcome", "not_reached")
    assert cli(capsys, "task", "reopen", str(task.id), "--now", "2027-03-08T11:00")[0] == 0
    with session_scope(case_url) as session:
        assert session.get(Task, task.id).outcome is None


def last_contact(url: str) -> datetime | None:
    from engine.store import Case

    with session_scope(url) as session:
        return session.execute(sa.select(Case.last_contact_at)).scalar_one()


def test_the_case_keeps_when_contact_was_last_done_as_contact_tasks_close_and_reopen(
    case_url, capsys
) -> None:
    """`Case.last_contact_at` (what the web pages flag quiet cases by) is the latest reached
    contact whatever order tasks are closed in: an attempt that did not reach the survivor
    is no contact, a backdated one does not move it back, and reopening the latest falls
    back to the one before."""
    attempt(capsys, case_url, "2027-03-08T10:00", "--outcome", "not_reached")
    assert last_contact(case_url) is None
    reached = attempt(capsys, case_url, "2027-03-10T10:00")
    assert last_contact(case_url) == at("2027-03-10T10:00")
    latest = attempt(capsys, case_url, "2027-03-17T10:00")
    assert last_contact(case_url) == at("2027-03-17T10:00")
    backdated = open_task(case_url)
    code, _out, err = cli(capsys, "task", "done", str(backdated.id), "--at", "2027-03-16T09:00",
                          "--now", "2027-03-18T10:00")  # fmt: skip
    assert (code, err) == (0, "")
    assert last_contact(case_url) == at("2027-03-17T10:00")
    for task, fallback in ((latest, "2027-03-16T09:00"), (backdated, "2027-03-10T10:00")):
        assert cli(capsys, "task", "reopen", str(task.id), "--now", "2027-03-18T11:00")[0] == 0
        assert last_contact(case_url) == at(fallback)
    assert cli(capsys, "task", "reopen", str(reached.id), "--now", "2027-03-18T11:00")[0] == 0
    assert last_contact(case_url) is None


def test_migration_0013_fills_in_what_the_service_keeps(case_url, capsys) -> None:
    """A database from before `last_contact_at` gets it from its done contact tasks: the
    same instant the service keeps."""
    from alembic import command

    from engine.store import _alembic_config, upgrade

    attempt(capsys, case_url, "2027-03-08T10:00", "--outcome", "not_reached")
    attempt(capsys, case_url, "2027-03-10T10:00")
    attempt(capsys, case_url, "2027-03-17T10:00")
    attempt(capsys, case_url, "2027-03-24T10:00", "--outcome", "not_reached")
    assert last_contact(case_url) == at("2027-03-17T10:00")
    command.downgrade(_alembic_config(case_url), "0012_task_case_status_index")
    upgrade(case_url)
    assert last_contact(case_url) == at("2027-03-17T10:00")


@pytest.mark.parametrize(
    ("obligation", "outcome", "message"),
    [
        ("gp", "not_reached", "is a health task: only contact tasks have an outcome"),
        ("re-contact", "maybe", "outcome 'maybe' is not one of: reached, not_reached"),
    ],
)
def test_a_bad_outcome_is_one_line_and_changes_nothing(
    case_url, capsys, obligation, outcome, message
) -> None:
    from tests.test_cli_cases import state

    task = open_task(case_url, obligation)
    before = state(case_url)
    code, out, err = cli(capsys, "task", "done", str(task.id), "--outcome", outcome,
                         "--now", "2027-03-08T10:00")  # fmt: skip
    assert code == 1 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert state(case_url) == before


def test_three_failed_attempts_in_a_row_tell_the_team_lead_once_per_run(case_url, capsys) -> None:
    failed = ("--outcome", "not_reached")
    attempt(capsys, case_url, "2027-03-08T10:00", *failed)
    attempt(capsys, case_url, "2027-03-10T10:00", *failed)
    assert unreached_messages(case_url) == []
    third = attempt(capsys, case_url, "2027-03-12T19:30", *failed)  # after working hours
    [message] = unreached_messages(case_url)
    assert (message.recipient, message.case_ref) == ("lead@example.org", REF)
    assert message.next_attempt_at == at("2027-03-15T08:00")  # Monday morning, London
    assert message.payload["failures"] == 3 and message.payload["task_id"] == third.id
    assert message.payload["navigator"] == "nav@example.org"
    assert message.payload["guidance"] == "Try another time of day, or the officer in the case."
    attempt(capsys, case_url, "2027-03-15T10:00", *failed)  # the same run: no second message
    assert len(unreached_messages(case_url)) == 1
    attempt(capsys, case_url, "2027-03-17T10:00")  # reached: the run is over
    for day in (24, 26, 28):
        attempt(capsys, case_url, f"2027-03-{day}T10:00", *failed)
    assert len(unreached_messages(case_url)) == 2  # a new run, told again


@pytest.mark.parametrize(
    "journey_id",
    [
        "adult-cjs",
        "adult-declined-nrm",
        "safe-return-romania",
        "adult-scotland",
        "adult-northern-ireland",
    ],
)
def test_every_adult_journey_re_engages_weekly_and_tells_the_lead_after_three_failures(
    staffed: str, journey_id: str
) -> None:
    from tests.conftest import shipped_catalog

    shipped = shipped_catalog()
    navigator = "ro-nav@example.org" if journey_id == "safe-return-romania" else "nav@example.org"
    lead = "ro-lead@example.org" if journey_id == "safe-return-romania" else "lead@example.org"

    def act(fn, *args, now: str, **options):
        with session_scope(staffed) as session:
            return fn(session, shipped, *args, at(now), operator(), **options)

    act(service.open_case, "KNT-0100", journey_id, navigator,
        {"referral": "2027-01-04T09:00"}, {}, now="2027-01-04T09:05")  # fmt: skip
    act(service.record_events, "KNT-0100", {"disengaged": "2027-02-28"},
        now="2027-03-01T11:00")  # fmt: skip
    attempts = []
    for day in ("08", "15", "22"):
        task = open_task(staffed, "re-contact-attempt")
        attempts.append(task.due.astimezone(shipped.resolve(journey_id).tz).date().isoformat())
        act(service.complete_task, task.id, None, None, now=f"2027-03-{day}T10:00",
            outcome="not_reached")  # fmt: skip
    assert attempts == ["2027-03-07", "2027-03-15", "2027-03-22"]  # weekly
    [message] = unreached_messages(staffed)
    assert message.recipient == lead and message.payload["failures"] == 3
    act(service.record_events, "KNT-0100", {"re_engaged": "2027-03-23"},
        now="2027-03-24T11:00")  # fmt: skip
    with session_scope(staffed) as session:
        statuses = session.execute(
            sa.select(Task.status).where(Task.obligation == "re-contact-attempt")
        ).scalars()
        assert sorted(statuses) == ["cancelled", "done", "done", "done"]


def test_guidance_is_in_journeys_show_and_task_show(case_url, catalog, capsys) -> None:
    guidance = "Try another time of day, or the officer in the case."
    code, out, _ = cli(capsys, "journeys", "show", "contact")
    assert code == 0
    lines = out.splitlines()
    attempt_line = next(i for i, line in enumerate(lines) if "[re-contact, contact]" in line)
    assert lines[attempt_line + 1] == f"      guidance: {guidance}"
    assert "      not reached: try again 2 days later" in lines
    assert "      not reached 3 times in a row: tell the team lead" in lines
    task = open_task(case_url)
    shown = json.loads(cli(capsys, "task", "show", str(task.id), "--json")[1])
    assert shown["guidance"] == guidance
    assert f"guidance: {guidance}" in cli(capsys, "task", "show", str(task.id))[1]
    gp = open_task(case_url, "gp")  # an obligation without a description: no guidance
    assert json.loads(cli(capsys, "task", "show", str(gp.id), "--json")[1])["guidance"] is None


def test_reminder_and_escalation_emails_carry_the_guidance(staffed: str) -> None:
    from engine import sweep
    from notifications.render import render_bodies
    from tests.conftest import shipped_catalog

    shipped = shipped_catalog()
    with session_scope(staffed) as session:
        service.open_case(session, shipped, "KNT-0200", "adult-cjs", "nav@example.org",
            {"referral": "2027-01-04T09:00"}, {}, at("2027-01-04T09:05"), operator(),
        )  # fmt: skip
    sweep.plan_and_alert(staffed, shipped, at("2027-01-05T05:00"))  # 4 hours before: remind
    sweep.plan_and_alert(staffed, shipped, at("2027-01-05T11:30"))  # 2 hours late: escalate
    _, ob = shipped.resolve("adult-cjs").obligations["safe-accommodation"]
    guidance = " ".join(ob.description.split())
    with session_scope(staffed) as session:
        rows = session.execute(
            sa.select(OutboxMessage).where(OutboxMessage.kind.in_(("reminder", "escalation")))
        ).scalars()
        shown = {}
        for row in rows:
            text = render_bodies(row).text
            if "Safe accommodation arranged" in text:
                shown[row.kind] = " ".join(text.split())
    assert set(shown) == {"reminder", "escalation"}
    assert all(f"Guidance: {guidance}" in text for text in shown.values())
