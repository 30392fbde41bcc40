"""The `alongside staff|case|task|tick|audit` commands, run as a person would run them.

Each bad input must give one line on stderr, exit 1, no traceback, and change nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import store
from tests.conftest import STAFF_YAML

ALONGSIDE = str(Path(sys.executable).parent / "alongside")


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([ALONGSIDE, *args], capture_output=True, text=True, timeout=120)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def state(url: str) -> dict[str, list]:
    """Every row of every table: what a refused command must leave exactly as it was."""
    engine = store.engine_for(url)
    with engine.connect() as connection:
        return {
            table.name: sorted(map(tuple, connection.execute(sa.select(table))), key=repr)
            for table in store.SQLModel.metadata.sorted_tables
        }


@pytest.fixture
def programme(db_url: str, tmp_path: Path) -> Path:
    """Staff imported and one adult-cjs case open, through the CLI."""
    staff = tmp_path / "staff.yaml"
    staff.write_text(STAFF_YAML)
    run("staff", "import", str(staff))
    run(
        "case", "open", "KNT-0001", "--journey", "adult-cjs", "--navigator", "nav@example.org",
        "--event", "referral=2027-01-04T09:00", "--fact", "age=34", "--now", "2027-01-04T09:05",
    )  # fmt: skip
    return staff


def test_staff_import_is_idempotent_and_updates(programme: Path) -> None:
    before = json.loads(run("staff", "list", "--json").stdout)
    run("staff", "import", str(programme))
    assert json.loads(run("staff", "list", "--json").stdout) == before
    programme.write_text(STAFF_YAML.replace("name: Ana", "name: Anna"))
    run("staff", "import", str(programme))
    after = {s["email"]: s for s in json.loads(run("staff", "list", "--json").stdout)}
    assert len(after) == len(before)
    assert after["nav@example.org"]["name"] == "Anna"
    assert after["nav@example.org"]["lead"] == "lead@example.org"


def test_tasks_listed_completed_waived_reopened_and_audited(programme: Path) -> None:
    tasks = json.loads(run("task", "list", "--case", "KNT-0001", "--json").stdout)
    first = tasks[0]
    for key in ("id", "case", "obligation", "stage", "title", "category", "occurrence", "due"):
        assert key in first
    assert first["status"] == "open" and first["escalation_level"] == 0
    assert first["due"].endswith("+00:00")
    overdue = json.loads(run("task", "list", "--overdue", "--now", "2027-01-06", "--json").stdout)
    assert {t["obligation"] for t in overdue} == {"safe-accommodation", "essentials"}
    run("task", "done", str(first["id"]), "--note", "bed found", "--now", "2027-01-04T12:00")
    second = tasks[1]["id"]
    run("task", "waive", str(second), "--reason", "not needed", "--now", "2027-01-04T12:00")
    run("task", "reopen", str(second), "--now", "2027-01-04T13:00")
    by_id = {t["id"]: t for t in json.loads(run("task", "list", "--json").stdout)}
    assert by_id[first["id"]]["status"] == "done"
    assert by_id[second]["status"] == "open"
    actions = [a["action"] for a in json.loads(run("audit", "--case", "KNT-0001", "--json").stdout)]
    assert actions[:3] == ["task.reopen", "task.waived", "task.done"]
    assert "case.open" in actions
    entries = json.loads(run("audit", "--json").stdout)
    assert {a["actor"] for a in entries if a["action"] != "reconcile"} == {"operator"}
    assert {a["actor"] for a in entries if a["action"] == "reconcile"} == {"engine"}


def test_tick_reports_counts_and_a_second_tick_changes_nothing(programme: Path) -> None:
    first = json.loads(run("tick", "--now", "2027-01-05T11:00", "--json").stdout)
    for key in ("created", "redated", "cancelled", "reminders", "escalations"):
        assert key in first
    assert first["escalations"] >= 2 and first["reminders"] >= 1 and first["sent"] >= 2
    again = json.loads(run("tick", "--now", "2027-01-05T11:00", "--json").stdout)
    changes = ("created", "redated", "cancelled", "reminders", "escalations", "sent")
    assert [again[k] for k in changes] == [0] * len(changes)


def test_close_cancels_open_tasks(programme: Path) -> None:
    run("case", "close", "KNT-0001", "--reason", "withdrew", "--now", "2027-01-05")
    statuses = {t["status"] for t in json.loads(run("task", "list", "--json").stdout)}
    assert statuses == {"cancelled"}
    assert json.loads(run("case", "show", "KNT-0001", "--json").stdout)["status"] == "closed"


def opening(ref="KNT-0002", journey="adult-cjs", navigator="nav@example.org") -> tuple:
    return ("case", "open", ref, "--journey", journey, "--navigator", navigator,
            "--event", "referral=2027-01-04")  # fmt: skip


BAD = [
    (("case", "event", "NOPE-1", "charge=2027-02-01"), "unknown case 'NOPE-1'"),
    (opening("KNT-0001"), "already exists"),
    (opening(navigator="who@example.org"), "unknown navigator"),
    (opening(navigator="prog@example.org"), "not a navigator or team lead"),
    (opening(journey="no-such"), "unknown journey"),
    (opening()[:-2], "opens with 'referral'"),
    (("case", "event", "KNT-0001", "chrage=2027-02-01"), "unknown event 'chrage'"),
    (("case", "event", "KNT-0001", "charge=2027-02-31"), "bad date '2027-02-31'"),
    (("case", "event", "KNT-0001", "charge"), "expected NAME=VALUE"),
    (("case", "fact", "KNT-0001", "nationality=x"), "unknown fact 'nationality'"),
    (("case", "fact", "KNT-0001", "age=old"), "is an integer"),
    (("case", "fact", "KNT-0001", "age=200"), "above the maximum"),
    (("case", "fact", "KNT-0001", "uk_national=maybe"), "boolean"),
    (("case", "assign", "KNT-0001", "--navigator", "prog@example.org", "--reason", "x"),
     "not a navigator"),
    (("task", "done", "99999"), "unknown task 99999"),
    (("task", "reopen", "1"), "only done or waived"),
    (("task", "list", "--status", "late"), "unknown status"),
    (("tick", "--now", "yesterday"), "bad date 'yesterday'"),
]  # fmt: skip


def test_bad_input_is_one_line_exit_1_and_changes_nothing(programme: Path, db_url: str) -> None:
    before = state(db_url)
    for args, expected in BAD:
        result = run(*args, ok=False)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
        assert expected in lines[0], (args, lines[0])
    assert state(db_url) == before


def test_completing_a_cancelled_task_is_refused(programme: Path, db_url: str) -> None:
    run("case", "close", "KNT-0001", "--reason", "withdrew", "--now", "2027-01-05")
    task = json.loads(run("task", "list", "--json").stdout)[0]
    before = state(db_url)
    result = run("task", "done", str(task["id"]), ok=False)
    assert result.returncode == 1 and "cancelled" in result.stderr
    assert state(db_url) == before


def test_bad_staff_file_changes_nothing(programme: Path, tmp_path: Path, db_url: str) -> None:
    before = state(db_url)
    bad = tmp_path / "bad.yaml"
    bad_files = {
        "staff: [{email: x@example.org, role: navigator, organisation: kent}]": (
            f"error: {bad}:1:9: staff x@example.org: 'name' is missing"
        ),
        "organisations: [": f"error: {bad}:1:17: not valid YAML",
        "staff: [{email: a@example.org, name: A, role: navigator, organisation: mars}]": (
            f"error: {bad}:1:72: staff a@example.org: unknown organisation 'mars'"
        ),
    }
    for text, expected in bad_files.items():
        bad.write_text(text)
        result = run("staff", "import", str(bad), ok=False)
        assert result.returncode == 1
        assert result.stderr.startswith(expected), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert state(db_url) == before


def test_home_option_works_before_or_after_the_command(home: Path, tmp_path: Path) -> None:
    # --home chooses the embedded SQLite database, so this runs without a database URL.
    staff = tmp_path / "staff.yaml"
    staff.write_text(STAFF_YAML)
    run("staff", "import", str(staff))
    run("case", "open", "KNT-0001", "--journey", "adult-cjs", "--navigator", "nav@example.org",
        "--event", "referral=2027-01-04")  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    assert json.loads(run("case", "list", "--json", "--home", str(elsewhere)).stdout) == []
    assert (elsewhere / "alongside.db").exists()
    refs = [c["ref"] for c in json.loads(run("--home", str(home), "case", "list", "--json").stdout)]
    assert refs == ["KNT-0001"]
    refs = [c["ref"] for c in json.loads(run("case", "list", f"--home={home}", "--json").stdout)]
    assert refs == ["KNT-0001"]
