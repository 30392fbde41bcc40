"""Escalation that respects people (issue 12, item 4): late tasks start their ladder at step 1,
escalations wait for working hours unless `urgent`, and an acknowledgement stops the steps
to the lead who gave it. Delivery goes through the real SMTP server on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from alongside.app import app
from engine import service, sweep
from engine.access import resolve
from engine.acknowledgements import acknowledge_task
from engine.core.actors import operator
from engine.core.calendar import get_calendar
from engine.core.errors import UserError
from engine.core.escalation import WorkingHours, working_hours
from engine.settings import Settings
from engine.store import AuditEntry, OutboxMessage, Task, session_scope
from notifications.dispatch import dispatch
from notifications.testing import Recorder, smtp_server
from tests.conftest import at, shipped_catalog

EW = get_calendar("england-and-wales")


def open_case(url: str, ref: str, referral: str, now: str) -> None:
    with session_scope(url) as session:
        service.open_case(
            session, shipped_catalog(), ref, "adult-cjs", "nav@example.org",
            {"referral": referral}, {}, at(now), operator(),
        )  # fmt: skip


def queued(url: str, kind: str | None = None) -> list[OutboxMessage]:
    with session_scope(url) as session:
        rows = list(session.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
    return [m for m in rows if kind is None or m.kind == kind]


def task_id(url: str, obligation: str) -> int:
    with session_scope(url) as session:
        return session.execute(sa.select(Task.id).where(Task.obligation == obligation)).scalar_one()


def escalated_items(url: str) -> list[tuple[str, str, int]]:
    return [
        (m.recipient, item["title"], item["level"])
        for m in queued(url)
        if m.kind in ("escalation", "overdue")
        for item in m.payload["items"]
    ]


def test_a_late_recorded_event_produces_exactly_one_step_1_escalation(staffed: str) -> None:
    # The referral of Mon 4 Jan 09:00 is recorded on Thu 7 Jan at 10:00: every 24-hour task
    # is two days past both of its steps. Each escalates once, at step 1, to the lead.
    now = at("2027-01-07T10:00")
    open_case(staffed, "KNT-0300", "2027-01-04T09:00", "2027-01-07T10:00")
    sweep.plan_and_alert(staffed, shipped_catalog(), now)
    items = escalated_items(staffed)
    accommodation = [i for i in items if i[1] == "Safe accommodation arranged"]
    assert accommodation == [("lead@example.org", "Safe accommodation arranged", 1)]
    assert {level for _, _, level in items} == {1}
    assert not queued(staffed, "reminder")
    assert "prog@example.org" not in {recipient for recipient, _, _ in items}
    # a repeated sweep queues nothing; step 2 counts from when the ladder restarted
    sweep.plan_and_alert(staffed, shipped_catalog(), now)
    assert escalated_items(staffed) == items
    sweep.plan_and_alert(staffed, shipped_catalog(), now + timedelta(hours=23))
    later = [i for i in escalated_items(staffed) if i[1] == "Safe accommodation arranged"]
    assert later == accommodation
    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-09T00:30"))  # 1 working day on
    step_2 = [i for i in escalated_items(staffed) if i[2] == 2]
    assert ("prog@example.org", "Safe accommodation arranged", 2) in step_2


def test_an_escalation_due_at_2am_arrives_at_8am_and_an_urgent_one_at_once(
    staffed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Referral Mon 4 Jan 00:00 (GMT): both 24-hour tasks fall due Tue 00:00, step 1 at 02:00.
    # Safe accommodation's step 1 is urgent; essentials' is not.
    open_case(staffed, "KNT-0301", "2027-01-04T00:00", "2027-01-04T00:00")
    night = at("2027-01-05T02:00")
    sweep.plan_and_alert(staffed, shipped_catalog(), night)
    to_lead = [m for m in queued(staffed, "escalation") if m.recipient == "lead@example.org"]
    by_title = {m.payload["items"][0]["title"]: m for m in to_lead}
    assert sorted(by_title) == [
        "Food, phone and interpreter in place",
        "Safe accommodation arranged",
    ]
    assert by_title["Safe accommodation arranged"].next_attempt_at == night
    assert by_title["Food, phone and interpreter in place"].next_attempt_at == at(
        "2027-01-05T08:00"
    )

    recorder = Recorder()
    with smtp_server(recorder) as port:
        monkeypatch.setenv("ALONGSIDE_TRANSPORT", "smtp")
        monkeypatch.setenv("ALONGSIDE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ALONGSIDE_SMTP_PORT", str(port))
        dispatch(staffed, night, Settings())
        at_night = [str(m["Subject"]) for m in recorder.messages if m["To"] == "lead@example.org"]
        assert len(at_night) == 1 and "Safe accommodation arranged" in at_night[0]
        dispatch(staffed, at("2027-01-05T07:59"), Settings())
        assert len([m for m in recorder.messages if m["To"] == "lead@example.org"]) == 1
        dispatch(staffed, at("2027-01-05T08:00"), Settings())
        morning = [str(m["Subject"]) for m in recorder.messages if m["To"] == "lead@example.org"]
        assert len(morning) == 2 and "Food, phone and interpreter" in morning[1]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2027-01-05T12:00", "2027-01-05T12:00"),  # Tuesday noon: at once
        ("2027-01-05T02:00", "2027-01-05T08:00"),  # before work: that morning
        ("2027-01-05T18:00", "2027-01-06T08:00"),  # after work: the next morning
        ("2027-01-08T19:00", "2027-01-11T08:00"),  # Friday evening: Monday
        ("2026-12-24T18:30", "2026-12-29T08:00"),  # Christmas Eve: past Christmas, Boxing Day
        ("2027-07-05T06:00", "2027-07-05T07:00"),  # British Summer Time: 08:00 BST
    ],
)
def test_working_hours_are_local_and_on_working_days(now: str, expected: str) -> None:
    assert working_hours(at(now), "Europe/London", EW) == at(expected)


def test_working_hours_setting() -> None:
    assert Settings(working_hours="09:30-17:00").hours == WorkingHours.parse("09:30-17:00")
    with pytest.raises(ValueError, match="end before they start"):
        WorkingHours.parse("18:00-08:00")


def test_an_acknowledgement_stops_later_steps_to_the_lead(
    staffed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_case(staffed, "KNT-0302", "2027-01-04T09:00", "2027-01-04T09:00")
    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-05T11:30"))  # step 1
    task = task_id(staffed, "safe-accommodation")
    assert ("lead@example.org", "Safe accommodation arranged", 1) in escalated_items(staffed)

    result = CliRunner().invoke(
        app, ["--as", "lead@example.org", "task", "ack", str(task), "--now", "2027-01-05T12:00"]
    )
    assert result.exit_code == 0, result.output
    assert f"task {task} acknowledged" in result.output
    again = CliRunner().invoke(app, ["task", "ack", str(task), "--now", "2027-01-05T12:01"])
    assert again.exit_code == 1

    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-07T00:30"))  # step 2
    step_2 = {(r, title) for r, title, level in escalated_items(staffed) if level == 2}
    assert ("prog@example.org", "Safe accommodation arranged") in step_2
    assert ("lead@example.org", "Safe accommodation arranged") not in step_2
    assert ("lead@example.org", "Food, phone and interpreter in place") in step_2  # not acked
    with session_scope(staffed) as session:
        audits = session.execute(sa.select(AuditEntry).where(AuditEntry.action == "task.ack"))
        (entry,) = audits.scalars()
    assert (entry.actor, entry.case_ref, entry.detail) == (
        "lead@example.org", "KNT-0302", {"task": task, "level": 1},
    )  # fmt: skip


def test_only_leads_acknowledge_and_only_escalated_tasks(staffed: str) -> None:
    open_case(staffed, "KNT-0303", "2027-01-04T09:00", "2027-01-04T09:00")
    task = task_id(staffed, "safe-accommodation")
    with session_scope(staffed) as session, pytest.raises(UserError, match="no open escalation"):
        acknowledge_task(
            session, shipped_catalog(), task, at("2027-01-04T10:00"),
            resolve(session, "lead@example.org"),
        )  # fmt: skip
    with session_scope(staffed) as session, pytest.raises(UserError, match="team lead"):
        acknowledge_task(
            session, shipped_catalog(), task, at("2027-01-04T10:00"),
            resolve(session, "nav@example.org"),
        )  # fmt: skip
