"""Issue 10, finding 9: free text guarded.

Notes and waive and close reasons are where a survivor's name or address could be typed.
They are capped in length, stored, shown only with the case (`case show`, `task show`),
and kept out of every email, log line, audit entry and Prefect text.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from email import message_from_binary_file
from email.policy import default as default_policy
from io import BytesIO
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import service
from engine.core.actors import operator
from engine.core.messages import Message
from engine.outbox import queue
from engine.service import MAX_FREE_TEXT
from engine.settings import Settings
from engine.store import AuditEntry, Case, OutboxMessage, Task, session_scope
from flows import sweep as flows  # imports Prefect, whose logging set-up must precede caplog's
from notifications.digest import queue_digests
from notifications.dispatch import dispatch
from notifications.render import KINDS, render_outgoing
from tests.conftest import STAFF_YAML, at, shipped_catalog
from tests.test_cli_cases import run, state
from tests.test_notifications_privacy import NOW, every_text, seed

MARKER = "ZZFREETEXT-Maria-Popescu-12-Acacia-Road"
NOTE, WAIVE, CLOSE = f"{MARKER}-note", f"{MARKER}-waive", f"{MARKER}-close"


# --- the cap ------------------------------------------------------------------------------


@pytest.fixture
def programme(db_url: str, tmp_path: Path) -> list[dict]:
    staff = tmp_path / "staff.yaml"
    staff.write_text(STAFF_YAML)
    run("staff", "import", str(staff))
    for ref in ("KNT-0001", "KNT-0002"):
        run(
            "case", "open", ref, "--journey", "adult-cjs", "--navigator", "nav@example.org",
            "--event", "referral=2027-01-04T09:00", "--now", "2027-01-04T09:05",
        )  # fmt: skip
    return json.loads(run("task", "list", "--case", "KNT-0001", "--json").stdout)


def refused(*args: str) -> str:
    result = run(*args, ok=False)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_notes_and_reasons_longer_than_the_cap_are_refused_and_change_nothing(
    programme: list[dict], db_url: str
) -> None:
    first, second = programme[0]["id"], programme[1]["id"]
    long = "x" * (MAX_FREE_TEXT + 1)
    before = state(db_url)
    assert refused("task", "done", str(first), "--note", long) == (
        f"error: the note is 2,001 characters long; at most {MAX_FREE_TEXT:,} are kept"
    )
    assert refused("task", "waive", str(second), "--reason", long) == (
        "error: the waive reason is 2,001 characters long; at most 2,000 are kept"
    )
    assert refused("case", "close", "KNT-0002", "--reason", long) == (
        "error: the close reason is 2,001 characters long; at most 2,000 are kept"
    )
    assert state(db_url) == before
    # At the cap is fine, and kept whole.
    run("task", "done", str(first), "--note", "y" * MAX_FREE_TEXT, "--now", "2027-01-04T12:00")
    shown = json.loads(run("task", "show", str(first), "--json").stdout)
    assert shown["note"] == "y" * MAX_FREE_TEXT


def test_free_text_is_shown_with_the_case_only(programme: list[dict], db_url: str) -> None:
    first, second = programme[0]["id"], programme[1]["id"]
    run("task", "done", str(first), "--note", NOTE, "--now", "2027-01-04T12:00")
    run("task", "waive", str(second), "--reason", WAIVE, "--now", "2027-01-04T12:00")
    run("case", "close", "KNT-0002", "--reason", CLOSE, "--now", "2027-01-05")

    # Shown where the case is shown ...
    assert f"note: {NOTE}" in run("task", "show", str(first)).stdout
    assert f"reason: {WAIVE}" in run("task", "show", str(second)).stdout
    detail = json.loads(run("case", "show", "KNT-0001", "--json").stdout)
    by_id = {t["id"]: t for t in detail["tasks"]}
    assert by_id[first]["note"] == NOTE and by_id[second]["reason"] == WAIVE
    shown = run("case", "show", "KNT-0001").stdout
    assert f"task {first}: done" in shown and NOTE in shown  # with who closed it, when
    assert f"task {second}: waived" in shown and WAIVE in shown
    assert f"closed: {CLOSE}" in run("case", "show", "KNT-0002").stdout

    # ... and nowhere else: listings across cases, the audit log, the outbox.
    for args in (
        ("task", "list", "--json"),
        ("task", "list"),
        ("case", "list", "--json"),
        ("audit", "--json"),
        ("audit",),
        ("tick", "--now", "2027-01-06T12:00", "--json"),
        ("digest", "--now", "2027-01-07T08:00", "--json"),
        ("outbox", "list", "--json"),
    ):
        result = run(*args)
        assert MARKER not in result.stdout + result.stderr, args


def test_task_show_escapes_control_characters_in_free_text(programme: list[dict]) -> None:
    first = programme[0]["id"]
    run("task", "done", str(first), "--note", "bed\x1b[2Jfound", "--now", "2027-01-04T12:00")
    assert "note: bed\\x1b[2Jfound" in run("task", "show", str(first)).stdout


# --- no email, log line or Prefect text ---------------------------------------------------


def polluted(payload: dict) -> dict:
    """A payload with free text smuggled into it everywhere a task or case appears."""
    extra = {"note": NOTE, "reason": WAIVE, "closed_reason": CLOSE}
    out = {**payload, **extra}
    for name in ("items", "overdue", "upcoming", "team", "quiet"):
        if name in out:
            out[name] = [{**item, **extra} for item in out[name]]
    return out


def test_no_message_kind_renders_a_note_or_reason_even_if_a_payload_carried_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every template, with tasks whose notes and reasons hold the marker.

    The tasks are stored with the marker in `note` and `reason`, and each payload also
    carries it under those names, as a careless change to the engine might: the renderer
    shows only the fields it names, so no part of any message holds it.
    """
    url = f"sqlite:///{tmp_path}/a.db"
    monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path))
    seed(url)
    with session_scope(url) as session:
        session.execute(sa.update(Task).values(note=NOTE, reason=WAIVE))
        session.execute(sa.update(Case).values(closed_reason=CLOSE))
        case = session.execute(sa.select(Case)).scalars().one()
        tasks = session.execute(sa.select(Task).order_by(Task.id)).scalars().all()

        def item(t: Task) -> dict:
            return {
                "case": case.ref, "task_id": t.id, "title": t.title, "stage": t.stage,
                "category": t.category, "due": t.due.isoformat(), "precision": t.precision,
                "note": t.note, "reason": t.reason,
            }  # fmt: skip

        tz = {"timezone": "Europe/London"}
        late = [{**item(t), "level": 1, "navigator": "nav@example.org"} for t in tasks]
        moved = [
            {**item(t), "old_due": t.due.isoformat(), "sequence": 1,
             "new_due": (t.due + timedelta(days=7)).isoformat()}
            for t in tasks
        ]  # fmt: skip
        payloads = {
            "reminder": {**item(tasks[1]), "sequence": 0, **tz},
            "overdue": {"items": late, **tz},
            "escalation": {"items": late, **tz},
            "replan": {"case": case.ref, "items": moved, **tz},
            "handover": {"direction": "to", "cases": [case.ref], "other": "nav2@example.org",
                         "open_tasks": 2},
            "calendar": {"items": [{**item(t), "uid": f"task-{t.id}@test", "method": "REQUEST",
                                    "sequence": 0} for t in tasks], **tz},
            "unreached": {**item(tasks[1]), "failures": 3, "navigator": "nav@example.org",
                          **tz},
            "signin": {"token": "abc", "minutes": 15},
        }  # fmt: skip
        queue(
            session,
            [
                Message(kind, kind, "nav@example.org", case.ref, polluted(payload))
                for kind, payload in payloads.items()
            ],
            NOW,
        )
    assert queue_digests(url, shipped_catalog(), NOW) == 2
    with session_scope(url) as session:
        for row in session.execute(sa.select(OutboxMessage)).scalars().all():
            if row.kind == "digest":
                row.payload = polluted(row.payload)
        rows = session.execute(sa.select(OutboxMessage)).scalars().all()
        assert {r.kind for r in rows} == set(KINDS)
        for row in rows:
            outgoing = render_outgoing(row, Settings(), NOW)
            assert MARKER.encode() not in outgoing.data
            parsed = message_from_binary_file(BytesIO(outgoing.data), policy=default_policy)
            assert MARKER not in every_text(parsed), row.kind


def test_the_sweep_dispatch_and_prefect_texts_never_carry_free_text(
    staffed: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    """A programme's months with notes and reasons on file: every kind of message is sent,
    and no email, log record, audit entry, payload or Prefect text holds the marker."""
    url = staffed
    caplog.set_level(logging.DEBUG)

    def act(fn, *args, now: str):
        with session_scope(url) as session:
            return fn(session, shipped_catalog(), *args, at(now), operator())

    for ref in ("KNT-0001", "KNT-0002"):
        act(
            service.open_case, ref, "adult-cjs", "nav@example.org",
            {"referral": "2027-01-04T09:00"}, {}, now="2027-01-04T09:05",
        )  # fmt: skip
    with session_scope(url) as session:
        ids = session.execute(
            sa.select(Task.id)
            .join(Case, Case.id == Task.case_id)
            .where(Case.ref == "KNT-0001")
            .order_by(Task.due, Task.id)
        ).scalars()
        first, second = list(ids)[:2]
    act(service.complete_task, first, None, NOTE, now="2027-01-04T10:00")
    act(service.waive_task, second, WAIVE, now="2027-01-04T10:00")
    act(service.close_case, "KNT-0002", CLOSE, now="2027-01-04T10:00")
    act(
        service.record_events, "KNT-0001",
        {"charge": "2027-01-05", "hearing_listed": "2027-01-05", "trial": "2027-11-15"},
        now="2027-01-05T10:00",
    )  # fmt: skip

    texts: list[str] = []
    for now in ("2027-01-05T12:00", "2027-01-06T12:00", "2027-01-13T12:00"):
        result = flows.run_tick(at(now), 2, flows.PLAIN_STEPS)
        table, markdown = flows.build_report(result)
        texts += [result.line(), json.dumps(result.totals()), json.dumps(table), markdown]
    act(service.record_events, "KNT-0001", {"trial": "2027-12-06"}, now="2027-01-14T10:00")
    result = flows.run_tick(at("2027-01-14T12:00"), 2, flows.PLAIN_STEPS)
    texts += [result.line(), flows.build_report(result)[1]]
    texts.append(json.dumps(flows.digest_steps(at("2027-01-15T08:00"))))
    dispatch(url, at("2027-01-15T12:00"), Settings())

    with session_scope(url) as session:
        rows = session.execute(sa.select(OutboxMessage)).scalars().all()
        audit = session.execute(sa.select(AuditEntry)).scalars().all()
        stored = {
            t.id: (t.note, t.reason) for t in session.execute(sa.select(Task)).scalars().all()
        }
    assert stored[first][0] == NOTE and stored[second][1] == WAIVE  # kept, where they belong
    # No shipped journey escalates to the navigator (the `overdue` kind): the test above
    # renders that kind, with the marker in its payload.
    # every kind a sweep makes (no one escalates to a navigator here; nobody changes hands;
    # no contact attempt fails: tests/test_contact_outcomes.py sends `unreached`; sign-in
    # links come from the web app)
    made = set(KINDS) - {"overdue", "handover", "unreached", "signin"}
    assert {r.kind for r in rows} >= made, sorted({r.kind for r in rows})
    assert {r.status for r in rows} == {"sent"}
    for row in rows:
        assert MARKER not in json.dumps(row.payload), row.kind
    for entry in audit:
        assert MARKER not in json.dumps(entry.detail), entry.action
    messages = sorted((home / "outbox").glob("*.eml"))
    assert len(messages) == len(rows)
    for path in messages:
        assert MARKER.encode() not in path.read_bytes(), path.name
    for text in texts:
        assert MARKER not in text
    assert caplog.records  # the sweep and dispatch did log
    for record in caplog.records:
        assert MARKER not in record.getMessage() and MARKER not in (record.exc_text or "")
