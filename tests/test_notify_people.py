"""Notifications people can act on (issue 12, item 5): a calendar entry for every dated
task (REQUEST, updates with a higher SEQUENCE, CANCEL with the same UID), UIDs unique per
installation, and per-person email preferences from the staff file. Delivered through the
real SMTP server on loopback and parsed with `icalendar`."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from engine import calendar_notices, service, sweep
from engine.core.actors import operator
from engine.installation import installation_id
from engine.settings import Settings
from engine.store import Case, OutboxMessage, Staff, Task, session_scope
from notifications.dispatch import dispatch
from notifications.testing import Recorder, smtp_server
from tests.conftest import STAFF_YAML, at, shipped_catalog


def open_case(url: str, ref: str, referral: str, now: str, navigator="nav@example.org") -> None:
    with session_scope(url) as session:
        service.open_case(
            session, shipped_catalog(), ref, "adult-cjs", navigator,
            {"referral": referral}, {}, at(now), operator(),
        )  # fmt: skip


def task_id(url: str, ref_obligation: str) -> int:
    with session_scope(url) as session:
        query = sa.select(Task.id).where(Task.obligation == ref_obligation)
        return session.execute(query).scalar_one()


def queued(url: str, kind: str) -> list[OutboxMessage]:
    with session_scope(url) as session:
        rows = session.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        return [m for m in rows if m.kind == kind]


def entries_for(messages, uid: str) -> list:
    """(METHOD, VEVENT) of every calendar part about `uid`, in the order they arrived."""
    found = []
    for message in messages:
        for part in message.iter_attachments():
            if part.get_content_type() != "text/calendar":
                continue
            calendar = Calendar.from_ical(part.get_content())
            for event in calendar.walk("VEVENT"):
                if str(event["UID"]) == uid:
                    found.append((str(calendar["METHOD"]), event))
    return found


def test_planned_redated_then_done_sends_request_update_and_cancel(
    staffed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = shipped_catalog()
    open_case(staffed, "KNT-0400", "2027-01-04T09:00", "2027-01-04T09:30")
    sweep.plan_and_alert(staffed, catalog, at("2027-01-04T09:30"))  # the sweep sends entries
    accommodation = task_id(staffed, "safe-accommodation")
    with session_scope(staffed) as session:  # the referral time was mistyped: re-dated
        corrected = {"referral": "2027-01-04T11:00"}
        service.record_events(
            session, catalog, "KNT-0400", corrected, at("2027-01-04T10:00"), operator()
        )
    sweep.plan_and_alert(staffed, catalog, at("2027-01-04T10:00"))
    with session_scope(staffed) as session:
        service.complete_task(
            session, catalog, accommodation, None, None, at("2027-01-04T12:00"), operator()
        )
        installation = installation_id(session)
    sweep.plan_and_alert(staffed, catalog, at("2027-01-04T12:00"))
    sweep.plan_and_alert(staffed, catalog, at("2027-01-04T12:00"))  # nothing more to say
    assert len(queued(staffed, "calendar")) == 3

    recorder = Recorder()
    with smtp_server(recorder) as port:
        monkeypatch.setenv("ALONGSIDE_TRANSPORT", "smtp")
        monkeypatch.setenv("ALONGSIDE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ALONGSIDE_SMTP_PORT", str(port))
        dispatch(staffed, at("2027-01-04T12:00"), Settings())
    uid = f"task-{accommodation}@{installation}"
    # dispatch sends on several connections at once: the SEQUENCE, not arrival, orders them
    entries = sorted(entries_for(recorder.messages, uid), key=lambda e: e[1]["SEQUENCE"])
    assert [method for method, _ in entries] == ["REQUEST", "REQUEST", "CANCEL"]
    (_, planned), (_, moved), (_, cancelled) = entries
    assert planned["SEQUENCE"] < moved["SEQUENCE"] < cancelled["SEQUENCE"]
    assert planned.decoded("DTSTART") == at("2027-01-05T09:00")
    assert moved.decoded("DTSTART") == at("2027-01-05T11:00")
    assert moved.decoded("DTEND") > moved.decoded("DTSTART")  # hour precision: an end...
    assert moved.walk("VALARM")  # ...and an alarm
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert {m["To"] for m in recorder.messages} == {"nav@example.org"}
    # every dated task was planned onto the calendar, not only those with reminders
    with session_scope(staffed) as session:
        tasks = session.execute(sa.select(Task.id)).scalars().all()
    planned_uids = {
        str(event["UID"])
        for message in recorder.messages
        for part in message.iter_attachments()
        for event in Calendar.from_ical(part.get_content()).walk("VEVENT")
    }
    assert planned_uids == {f"task-{t}@{installation}" for t in tasks}


def test_closing_a_case_cancels_its_calendar_entries_and_the_uid_is_per_installation(
    staffed: str,
) -> None:
    open_case(staffed, "KNT-0401", "2027-01-04T09:00", "2027-01-04T09:30")
    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-04T09:30"))
    with session_scope(staffed) as session:
        when = at("2027-01-05T09:00")
        service.close_case(session, shipped_catalog(), "KNT-0401", "moved away", when, operator())
        first = installation_id(session)
    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-05T09:00"))
    with session_scope(staffed) as session:
        assert installation_id(session) == first  # created once and kept
    request, cancel = queued(staffed, "calendar")
    assert {i["method"] for i in request.payload["items"]} == {"REQUEST"}
    assert {i["method"] for i in cancel.payload["items"]} == {"CANCEL"}
    assert {i["uid"] for i in cancel.payload["items"]} == {
        i["uid"] for i in request.payload["items"]
    }
    assert all(i["uid"].endswith(f"@{first}") for i in cancel.payload["items"])


def test_email_preferences_from_the_staff_file(staffed: str) -> None:
    # Ana reads her own tasks in the digest only; Lee reads escalations in the digest only.
    prefs = STAFF_YAML.replace(
        "organisation: kent, lead: lead@example.org}",
        "organisation: kent, lead: lead@example.org, emails: {tasks: digest}}",
        1,
    ).replace(
        "role: team_lead, organisation: kent}",
        "role: team_lead, organisation: kent, emails: {escalations: digest}}",
        1,
    )
    with session_scope(staffed) as session:
        service.import_staff(session, prefs, at("2026-01-01T00:00"), operator())
    open_case(staffed, "KNT-0402", "2027-01-04T09:00", "2027-01-04T09:30")
    open_case(staffed, "KNT-0403", "2027-01-04T09:00", "2027-01-04T09:30", "nav2@example.org")
    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-05T14:00"))
    reminders = {m.recipient for m in queued(staffed, "reminder")}
    assert reminders == {"nav2@example.org"}  # Bo kept the default: each
    escalations = queued(staffed, "escalation")
    to_lead = [item["title"] for m in escalations if m.recipient == "lead@example.org"
               for item in m.payload["items"]]  # fmt: skip
    assert to_lead == ["Safe accommodation arranged"] * 2  # urgent steps reach Lee anyway
    calendars = {m.recipient for m in queued(staffed, "calendar")}
    assert calendars == {"nav@example.org", "nav2@example.org"}  # calendars always go


def test_a_large_calendar_pass_still_sends_one_message_per_navigator_in_task_order(
    staffed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass reads and writes a few tasks at a time (here 3, far fewer than one
    navigator's): each navigator still gets one message with every entry, in task order."""
    monkeypatch.setattr(calendar_notices, "CHUNK", 3)
    for n, navigator in enumerate(["nav@example.org", "nav2@example.org"] * 2):
        open_case(staffed, f"KNT-041{n}", "2027-01-04T09:00", "2027-01-04T09:30", navigator)
    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-04T09:30"))
    with session_scope(staffed) as session:
        tasks = session.execute(
            sa.select(Task.id, Staff.email, Task.calendar_pending, Task.calendar_seq)
            .join(Case, Case.id == Task.case_id)
            .join(Staff, Staff.id == Case.navigator_id)
            .order_by(Task.id)
        ).all()
    messages = queued(staffed, "calendar")
    assert [m.recipient for m in messages] == ["nav@example.org", "nav2@example.org"]
    for message in messages:
        mine = [t.id for t in tasks if t.email == message.recipient]
        assert len(mine) > 3
        assert [i["task_id"] for i in message.payload["items"]] == mine
    assert {(t.calendar_pending, t.calendar_seq) for t in tasks} == {(False, 1)}
    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-04T09:30"))
    assert len(queued(staffed, "calendar")) == 2  # nothing more to say
