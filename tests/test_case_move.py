"""Triage and `case move`: a referral starts on `triage`, then moves to its pathway keeping
its events and completed work; what the new journey does not plan is cancelled, audited."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from engine import service
from engine.access import resolve
from engine.core.actors import operator
from engine.core.errors import UserError
from engine.store import AuditEntry, Case, CaseEvent, CaseMove, Task, session_scope
from tests.conftest import at, shipped_catalog
from tests.test_cli_cases import run, state

CAT = shipped_catalog()
T0 = at("2027-01-04T09:05")


def tasks_of(session, ref: str) -> dict[str, str]:
    rows = session.execute(
        sa.select(Task.obligation, Task.status).join(Case, Case.id == Task.case_id)
        .where(Case.ref == ref)
    )  # fmt: skip
    return dict(rows.all())


def test_a_referral_is_triaged_within_two_working_days(staffed: str) -> None:
    with session_scope(staffed) as session:
        service.open_case(session, CAT, "KNT-0001", "triage", "nav@example.org",
                          {"referral": "2027-01-04T09:00"}, {}, T0, operator())  # fmt: skip
        due = session.execute(sa.select(Task.obligation, Task.due)).all()
        service.record_facts(session, CAT, "KNT-0001", {"triage_outcome": "full_support"},
                             T0, operator())  # fmt: skip
        with pytest.raises(UserError, match="'maybe' is not one of: full_support, advice_only"):
            service.record_facts(session, CAT, "KNT-0001", {"triage_outcome": "maybe"},
                                 T0, operator())  # fmt: skip
    assert due == [("triage-decision", at("2027-01-06T23:59:59"))]  # Mon referral: Wed


def test_move_keeps_events_and_done_work_and_cancels_what_is_not_planned(staffed: str) -> None:
    with session_scope(staffed) as session:
        service.open_case(session, CAT, "KNT-0002", "child-cjs", "nav@example.org",
                          {"referral": "2027-01-04T09:00", "arrest": "2027-01-05"},
                          {"age": "17"}, T0, operator())  # fmt: skip
        before = tasks_of(session, "KNT-0002")
        told = session.execute(sa.select(Task.id).where(Task.obligation == "told-of-arrest"))
        service.complete_task(session, CAT, told.scalar_one(), None, "told", at("2027-01-05T12:00"),
                              operator())  # fmt: skip
        moved = service.move_case(session, CAT, "KNT-0002", "adult-cjs", "turned 18",
                                  at("2027-01-06T10:00"), operator())  # fmt: skip
        after = tasks_of(session, "KNT-0002")
        events = session.execute(sa.select(CaseEvent.name).order_by(CaseEvent.id)).scalars().all()
        case = session.execute(sa.select(Case).where(Case.ref == "KNT-0002")).scalar_one()
        audit = session.execute(
            sa.select(AuditEntry.action, AuditEntry.detail).where(AuditEntry.case_ref == "KNT-0002")
            .order_by(AuditEntry.id)
        ).all()  # fmt: skip
    assert moved["previous"] == "child-cjs" and moved["journey"] == "adult-cjs"
    assert moved["facts_dropped"] == ["age"]  # 17 is not an adult-cjs age
    assert case.journey_id == "adult-cjs" and case.facts == {}
    assert events == ["referral", "arrest"]
    assert after["told-of-arrest"] == "done"  # completed work kept, not planned again
    child_only = {ob for ob in before if ob not in after or after[ob] == "cancelled"}
    assert child_only and all(after.get(ob) == "cancelled" for ob in child_only)
    assert after["nrm-referral"] == "open"  # adult-cjs's own work, planned at once
    assert moved["cancelled"] == len(child_only)
    (_, move), (_, replan) = [a for a in audit if a[0] in ("case.move", "reconcile")][-2:]
    assert move == {"journey": "adult-cjs", "previous": "child-cjs", "reason": "turned 18",
                    "facts_dropped": ["age"]}  # fmt: skip
    assert len(replan["cancelled"]) == len(child_only)


def test_a_move_that_cannot_be_made_changes_nothing(staffed: str) -> None:
    with session_scope(staffed) as session:
        service.open_case(session, CAT, "KNT-0003", "triage", "nav@example.org",
                          {"referral": "2027-01-04T09:00"}, {}, T0, operator())  # fmt: skip
    before = state(staffed)
    for journey, reason, who, message in [
        ("adult-cjs", "", None, "give a reason for moving a case"),
        ("triage", "again", None, "case 'KNT-0003' is already on triage"),
        ("nowhere", "typo", None, "unknown journey 'nowhere'"),
        ("adult-cjs", "consented", "ro-nav@example.org", "unknown case 'KNT-0003'"),
    ]:
        with pytest.raises(UserError, match=message), session_scope(staffed) as session:
            service.move_case(session, CAT, "KNT-0003", journey, reason, T0,
                              resolve(session, who))  # fmt: skip
    assert state(staffed) == before
    with session_scope(staffed) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(CaseMove)).scalar() == 0


def test_case_move_on_the_command_line(home) -> None:
    from tests.conftest import STAFF_YAML

    staff = home.parent / "staff.yaml"
    staff.write_text(STAFF_YAML)
    run("staff", "import", str(staff))
    run("case", "open", "KNT-0001", "--journey", "triage", "--navigator", "nav@example.org",
        "--event", "referral=2027-01-04T09:00", "--now", "2027-01-04T09:05")  # fmt: skip
    moved = run("case", "move", "KNT-0001", "--journey", "adult-cjs", "--reason", "consented",
                "--now", "2027-01-05T10:00", "--json")  # fmt: skip
    assert json.loads(moved.stdout) == {
        "case": "KNT-0001", "journey": "adult-cjs", "previous": "triage", "cancelled": 1,
        "facts_dropped": [],
    }  # fmt: skip
    bad = run("case", "move", "KNT-0001", "--journey", "child-cjs", ok=False)
    assert bad.returncode == 1
    assert bad.stderr == "error: give a reason for moving a case (--reason TEXT)\n"
