"""`alongside report contact --json | --csv`: the same figures, counts and shares only.

Three adult-cjs cases open on 1 March 2027 on the shipped journeys, their weekly check-ins
done on different days; March's end is 00:00 on 1 April in London (23:00Z, summer time).
"""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from engine import service
from engine.core.actors import operator
from engine.store import Case, Task, session_scope
from tests.conftest import at, shipped_catalog
from tests.test_cli_cases import run

CAT = shipped_catalog()
MARCH = ("--from", "2027-03-01", "--to", "2027-03-31")
REFS = ("KNT-0001", "KNT-0002", "KNT-0003")


def check_in(session, ref: str, when: str) -> None:
    """Complete the case's open weekly check-in at `when`, reached."""
    task_id = session.execute(
        sa.select(Task.id).join(Case, Case.id == Task.case_id)
        .where(Case.ref == ref, Task.obligation == "weekly-check-in", Task.status == "open")
    ).scalar_one()  # fmt: skip
    service.complete_task(session, CAT, task_id, at(when), None, at(when), operator())


@pytest.fixture
def contacted(staffed: str) -> str:
    with session_scope(staffed) as session:
        for ref in REFS:
            service.open_case(session, CAT, ref, "adult-cjs", "nav@example.org",
                              {"referral": "2027-03-01"}, {"age": "30"},
                              at("2027-03-01T09:00"), operator())  # fmt: skip
        check_in(session, "KNT-0001", "2027-03-08T10:00")
        check_in(session, "KNT-0001", "2027-03-25T10:00")  # within 14 days of the end
        check_in(session, "KNT-0002", "2027-03-10T10:00")  # within 30 days, not 14
    return staffed  # KNT-0003: never reached


def test_contact_csv_and_json_agree_and_hold_no_case_reference(contacted: str) -> None:
    raw = run("report", "contact", *MARCH, "--json").stdout
    report = json.loads(raw)
    gap = report["longest_silent_gap"]
    assert report["organisations"] == ["kent", "ro"]
    assert report["open_cases"] == 3 and gap["cases"] == 3
    assert report["reached_14_days"] == 0.3333 and report["reached_30_days"] == 0.6667
    table = run("report", "contact", *MARCH, "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(table)))
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == [
        "from", "to", "organisations", "open_cases", "reached_14_days", "reached_30_days",
        "gap_cases", "gap_median_days", "gap_longest_days",
        *(f"gap_{band}" for band in gap["bands"]),
    ]  # fmt: skip
    assert (row["from"], row["to"], row["organisations"]) == ("2027-03-01", "2027-03-31", "kent;ro")
    for key in ("open_cases", "reached_14_days", "reached_30_days"):
        assert row[key] == str(report[key]), key
    for key in ("cases", "median_days", "longest_days"):
        assert row[f"gap_{key}"] == str(gap[key]), key
    assert {band: int(row[f"gap_{band}"]) for band in gap["bands"]} == gap["bands"]
    assert sum(gap["bands"].values()) == 3
    shown = run("report", "contact", *MARCH).stdout
    for text in (raw, table, shown):
        assert "KNT-" not in text


def test_contact_with_no_open_case_leaves_the_shares_empty(staffed: str) -> None:
    row = next(csv.DictReader(io.StringIO(run("report", "contact", *MARCH, "--csv").stdout)))
    assert row["open_cases"] == "0" and row["gap_cases"] == "0"
    assert row["reached_14_days"] == row["gap_median_days"] == row["gap_longest_days"] == ""
    assert json.loads(run("report", "contact", *MARCH, "--json").stdout)["reached_14_days"] is None


def test_contact_refuses_json_and_csv_together(contacted: str) -> None:
    both = run("report", "contact", *MARCH, "--json", "--csv", ok=False)
    assert (both.returncode, both.stdout, both.stderr) == (
        1,
        "",
        "error: give --json or --csv, not both\n",
    )
    outcomes = run("report", "outcomes", *MARCH, "--json", "--csv", ok=False)
    assert (outcomes.returncode, outcomes.stderr) == (both.returncode, both.stderr)
