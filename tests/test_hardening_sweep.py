"""Issue 10, findings 1b, 7 and 8: one case cannot stop the sweep; outputs are bounded and
escaped; inputs that mean nothing get one line and exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import service, sweep
from engine.core.actors import operator
from engine.settings import Settings
from engine.store import EPOCH, Case, CaseEvent, OutboxMessage, Task, session_scope
from notifications.dispatch import dispatch
from notifications.render import MAX_LISTED, render_outgoing
from tests.conftest import STAFF_YAML, at, shipped_catalog
from tests.test_cli_cases import state

ALONGSIDE = str(Path(sys.executable).parent / "alongside")


def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess:
    result = subprocess.run([ALONGSIDE, *args], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.returncode == code, result.stdout + result.stderr
    return result


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    return result.stderr


# --- 1b: one case that cannot be planned ---------------------------------------------------


def test_a_tick_over_100_cases_plans_the_99_and_reports_the_one(staffed: str) -> None:
    with session_scope(staffed) as session:
        for n in range(100):
            service.open_case(
                session, shipped_catalog(), f"KNT-{n:04d}", "adult-cjs", "nav@example.org",
                {"referral": "2027-01-04T09:00"}, {}, at("2027-01-04T09:05"), operator(),
            )  # fmt: skip
        broken = session.execute(sa.select(Case).where(Case.ref == "KNT-0042")).scalar_one()
        # A date no person can type any more (values refuse it), as old data might hold:
        # the charge anchors deadlines the calendar cannot count to.
        session.add(
            CaseEvent(
                case_id=broken.id, name="charge", instant=datetime(9999, 12, 30, tzinfo=UTC),
                date_only=True, recorded_at=at("2027-01-04T09:05"), recorded_by="legacy",
            )
        )  # fmt: skip
        session.execute(sa.update(Case).values(replan_at=EPOCH))
    now = at("2027-01-06T12:00")
    counts = sweep.plan_and_alert(staffed, shipped_catalog(), now)
    assert counts.cases == 99
    assert len(counts.errors) == 1 and counts.errors[0].startswith("KNT-0042: ")
    assert "9999" in counts.errors[0] or "outside the dates" in counts.errors[0]
    sent = dispatch(staffed, now, Settings())
    assert sent.sent > 0 and sent.failed == 0
    with session_scope(staffed) as session:
        retry = session.execute(sa.select(Case.replan_at).where(Case.ref == "KNT-0042")).scalar()
        refs = set(
            session.execute(
                sa.select(OutboxMessage.case_ref).where(OutboxMessage.status == "sent")
            ).scalars()
        )
    assert retry > now  # retried later, not every sweep at once
    assert len(refs - {None}) >= 50  # the other cases' messages went out


def test_a_command_that_cannot_plan_its_case_is_one_line_and_changes_nothing(
    staffed: str,
) -> None:
    with session_scope(staffed) as session:
        service.open_case(
            session, shipped_catalog(), "KNT-0001", "adult-cjs", "nav@example.org",
            {"referral": "2027-01-04T09:00"}, {}, at("2027-01-04T09:05"), operator(),
        )  # fmt: skip
    before = state(staffed)
    with pytest.raises(Exception) as error, session_scope(staffed) as session:
        case = session.execute(sa.select(Case).where(Case.ref == "KNT-0001")).scalar_one()
        session.add(
            CaseEvent(
                case_id=case.id, name="charge", instant=datetime(9999, 12, 30, tzinfo=UTC),
                date_only=True, recorded_at=at("2027-01-05T09:05"), recorded_by="legacy",
            )
        )  # fmt: skip
        service.record_facts(
            session, shipped_catalog(), "KNT-0001", {"uk_national": "true"},
            at("2027-01-05T09:05"), operator(),
        )  # fmt: skip
    assert str(error.value).startswith("cannot plan case KNT-0001: ")
    assert state(staffed) == before


# --- 7: bounded outputs ---------------------------------------------------------------------


class _Row:
    def __init__(self, kind: str, payload: dict) -> None:
        self.id, self.key, self.kind = 1, f"{kind}:x", kind
        self.recipient, self.case_ref, self.payload = "lead@example.org", None, payload
        self.created_at, self.attempts = datetime(2027, 3, 1, 9, tzinfo=UTC), 0


def _item(n: int) -> dict:
    return {
        "case": f"KNT-{n:04d}", "task_id": n, "title": "Safe accommodation arranged",
        "stage": "First month", "category": "accommodation",
        "due": "2027-02-01T23:59:59+00:00", "precision": "day", "level": 1,
        "navigator": "nav@example.org",
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["escalation", "overdue", "digest"])
def test_an_email_lists_at_most_fifty_tasks_and_says_how_many_more(kind: str) -> None:
    items = [_item(n) for n in range(1, 121)]
    if kind == "digest":
        payload = {"timezone": "Europe/London", "date": "2027-03-01", "quiet_days": 21,
                   "overdue": items, "upcoming": [], "quiet": [], "team": []}  # fmt: skip
    else:
        payload = {"timezone": "Europe/London", "items": items}
    message = message_from_bytes(
        render_outgoing(_Row(kind, payload), Settings(), datetime.now(UTC)).data,
        policy=default_policy,
    )
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.count("KNT-") == MAX_LISTED and "and 70 more" in text
    assert "and 70 more" in html and "KNT-0051" not in html
    assert "see them all at http://127.0.0.1:8000/work" in text
    assert "120" in (message["Subject"] + text)  # the count is the whole number


def test_listings_stop_at_100_unless_all(staffed: str) -> None:
    with session_scope(staffed) as session:
        for n in range(12):
            service.open_case(
                session, shipped_catalog(), f"KNT-{n:04d}", "adult-cjs", "nav@example.org",
                {"referral": "2027-01-04T09:00"}, {}, at("2027-01-04T09:05"), operator(),
            )  # fmt: skip
        total = session.execute(sa.select(sa.func.count()).select_from(Task)).scalar()
    assert total > 100
    first = cli("task", "list", "--json")
    assert len(json.loads(first.stdout)) == 100
    assert "showing the first 100; --limit N or --all for more" in first.stderr
    assert len(json.loads(cli("task", "list", "--all", "--json").stdout)) == total
    assert len(json.loads(cli("task", "list", "--limit", "7", "--json").stdout)) == 7
    assert len(json.loads(cli("case", "list", "--limit", "5", "--json").stdout)) == 5


def test_control_characters_are_shown_not_obeyed(staffed: str, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table row a line, to read it back
    with session_scope(staffed) as session:
        service.open_case(
            session, shipped_catalog(), "KNT-0001", "adult-cjs", "nav@example.org",
            {"referral": "2027-01-04T09:00"}, {}, at("2027-01-04T09:05"), operator(),
        )  # fmt: skip
        session.execute(sa.update(Task).values(title="Call \x1b[2J[bold]now[/bold]"))
    out = cli("task", "list", "--case", "KNT-0001").stdout
    assert "\x1b" not in out and "\\x1b[2J" in out and "[bold]now[/bold]" in out


# --- 8: inputs that mean nothing ------------------------------------------------------------


def test_inputs_that_mean_nothing_are_one_line_and_exit_1(staffed: str, tmp_path) -> None:
    (tmp_path / "staff.yaml").write_text(STAFF_YAML)
    with session_scope(staffed) as session:
        service.open_case(
            session, shipped_catalog(), "KNT-0001", "adult-cjs", "nav@example.org",
            {"referral": "2027-01-04T09:00"}, {}, at("2027-01-04T09:05"), operator(),
        )  # fmt: skip
    before = state(staffed)
    assert "no date given" in one_line(cli("tick", "--now", "", code=1))
    assert "unknown task" in one_line(cli("task", "done", str(2**70), code=1))
    long_ref = "K" * 5000
    assert "is not a case reference of kent" in one_line(
        cli("case", "open", long_ref, "--journey", "adult-cjs", "--navigator",
            "nav@example.org", "--event", "referral=2027-01-04", code=1)
    )  # fmt: skip
    assert "unknown case" in one_line(cli("case", "show", long_ref, code=1))
    assert "does not exist in Europe/London" in one_line(
        cli("case", "event", "KNT-0001", "charge=2027-03-28T01:30", code=1)
    )
    a_file = tmp_path / "not-a-home"
    a_file.write_text("x")
    assert "is a file, not a directory" in one_line(
        cli("--home", str(a_file), "case", "list", code=1)
    )
    assert state(staffed) == before
