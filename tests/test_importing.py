"""Spreadsheet import: every problem at once as FILE:ROW: message, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import importing
from engine.core.actors import operator
from engine.core.errors import UserError
from engine.store import Case, CaseEvent, InvestigationCase, Task, session_scope
from tests.conftest import STAFF_YAML, at, shipped_catalog
from tests.test_cli_cases import run, state

CAT = shipped_catalog()
NOW = at("2027-03-01T10:00")
HEADER = (
    "reference,journey,navigator,investigation,event:referral,event:charge,"
    "event:arrival,fact:age,fact:uk_national\n"
)
GOOD = [
    f"KNT-{n:04d},adult-cjs,nav@example.org,,2027-02-{n % 27 + 1:02d},,,{30 + n},false"
    for n in range(1, 26)
]
# Twenty rows with one problem each, in the order the rows are numbered (row 2 is the first).
BAD = {
    2: ("Maria Pop,adult-cjs,nav@example.org,,2027-02-01,,,30,",
        "'Maria Pop' is not a case reference of kent"),
    3: ("KNT-0903,adult-xyz,nav@example.org,,2027-02-01,,,30,", "unknown journey 'adult-xyz'"),
    4: ("KNT-0904,adult-cjs,nobody@example.org,,2027-02-01,,,30,",
        "unknown navigator 'nobody@example.org'"),
    5: ("KNT-0905,adult-cjs,nav@example.org,,,,,30,", "the event:referral cell is empty"),
    6: ("KNT-0906,adult-cjs,nav@example.org,,2027-02-31,,,30,", "bad date '2027-02-31'"),
    7: ("KNT-0907,adult-cjs,nav@example.org,,2027-02-01,,,17,", "17 is below the minimum 18"),
    8: ("KNT-0908,adult-cjs,nav@example.org,,2027-02-01,,,thirty,", "fact 'age' is an integer"),
    9: ("KNT-0909,adult-cjs,nav@example.org,,2027-02-01,,2027-02-02,30,",
        "journey adult-cjs declares no event 'arrival'"),
    10: ("KNT-0910,adult-cjs,nav@example.org,OP-9999,2027-02-01,,,30,",
         "unknown investigation 'OP-9999'"),
    11: ("KNT-0911,adult-cjs,nav@example.org,,2027-02-01;2027-02-03,,,30,",
         "event referral does not repeat"),
    12: ("KNT-0912,adult-cjs,nav@example.org,,2035-02-01,,,30,", "more than three years ahead"),
    13: ("KNT-0913,adult-cjs,nav@example.org,,2027-02-01,,,30,perhaps",
         "fact 'uk_national' is boolean"),
    14: ("KNT-0914,child-cjs,nav@example.org,,2027-02-01,,,30,", "30 is above the maximum 17"),
    15: ("KNT-0915,adult-cjs,nav@example.org,,2027-02-01T25:00,,,30,", "bad date"),
    16: ("KNT-0916,,nav@example.org,,2027-02-01,,,30,", "no journey given"),
    17: ("KNT-0917,adult-cjs,,,2027-02-01,,,30,", "no navigator given"),
    18: (",adult-cjs,nav@example.org,,2027-02-01,,,30,", "no reference given"),
    19: ("KNT-0903,adult-cjs,nav@example.org,,2027-02-01,,,30,", "is also on row"),
    20: ("KNT-0920,adult-cjs,prog@example.org,,2027-02-01,,,30,",
         "prog@example.org is a programme_lead, not a navigator or team lead"),
    21: ("KNT-0921,adult-cjs,nav@example.org,,2027-02-01,,,30", "8 cells, expected 9"),
}  # fmt: skip
# The same rows corrected: each bad row's one problem fixed, the rest of it as it was.
FIXED = {
    2: "KNT-0902,adult-cjs,nav@example.org,,2027-02-01,,,30,",
    3: "KNT-0903,adult-cjs,nav@example.org,,2027-02-01,,,30,",
    4: "KNT-0904,adult-cjs,nav2@example.org,,2027-02-01,,,30,",
    5: "KNT-0905,adult-cjs,nav@example.org,,2027-02-05,,,30,",
    6: "KNT-0906,adult-cjs,nav@example.org,,2027-02-28,,,30,",
    7: "KNT-0907,adult-cjs,nav@example.org,,2027-02-01,,,18,",
    8: "KNT-0908,adult-cjs,nav@example.org,,2027-02-01,,,30,",
    9: "KNT-0909,adult-cjs,nav@example.org,,2027-02-01,,,30,",
    10: "KNT-0910,adult-cjs,nav@example.org,,2027-02-01,,,30,",
    11: "KNT-0911,adult-cjs,nav@example.org,,2027-02-03,,,30,",
    12: "KNT-0912,adult-cjs,nav@example.org,,2027-02-01,,,30,",
    13: "KNT-0913,adult-cjs,nav@example.org,,2027-02-01,,,30,true",
    14: "KNT-0914,child-cjs,nav@example.org,,2027-02-01,,,15,",
    15: "KNT-0915,adult-cjs,nav@example.org,,2027-02-01T15:00,,,30,",
    16: "KNT-0916,adult-cjs,nav@example.org,,2027-02-01,,,30,",
    17: "KNT-0917,adult-cjs,nav@example.org,,2027-02-01,,,30,",
    18: "KNT-0918,adult-cjs,nav@example.org,,2027-02-01,,,30,",
    19: "KNT-0919,adult-cjs,nav@example.org,,2027-02-01,,,30,",
    20: "KNT-0920,adult-cjs,lead@example.org,,2027-02-01,,,30,",
    21: "KNT-0921,adult-cjs,nav@example.org,,2027-02-01,,,30,",
}


def write(tmp_path: Path, name: str, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(line + "\n" for line in lines))
    return path


def test_twenty_bad_rows_are_twenty_lines_and_the_fixed_file_imports_all(
    staffed: str, tmp_path: Path
) -> None:
    rows = [BAD[n][0] for n in sorted(BAD)] + GOOD[1:]
    path = write(tmp_path, "cases.csv", rows)
    before = state(staffed)
    with pytest.raises(UserError) as refused, session_scope(staffed) as session:
        importing.import_cases(session, CAT, path.read_text(), str(path), NOW, operator())
    lines = str(refused.value).splitlines()
    assert len(lines) == 20
    for line, number in zip(lines, sorted(BAD), strict=True):
        assert line.startswith(f"{path}:{number}: ") and BAD[number][1] in line, line
    assert state(staffed) == before
    # The same file, its twenty bad rows corrected in place and its good rows untouched.
    assert set(FIXED) == set(BAD)
    fixed_rows = [FIXED.get(number, row) for number, row in enumerate(rows, start=2)]
    assert sum(a != b for a, b in zip(rows, fixed_rows, strict=True)) == 20
    write(tmp_path, "cases.csv", fixed_rows)
    with session_scope(staffed) as session:
        result = importing.import_cases(session, CAT, path.read_text(), str(path), NOW,
                                        operator())  # fmt: skip
        cases = session.execute(sa.select(sa.func.count()).select_from(Case)).scalar()
        planned = session.execute(
            sa.select(sa.func.count(sa.distinct(Task.case_id)))
        ).scalar()  # fmt: skip
        refs = set(session.execute(sa.select(Case.ref)).scalars())
        case = session.execute(sa.select(Case).where(Case.ref == "KNT-0003")).scalar_one()
        child = session.execute(sa.select(Case).where(Case.ref == "KNT-0914")).scalar_one()
    assert result == {"file": str(path), "cases": len(rows), "dry_run": False}
    assert cases == len(rows) == 44 and planned == len(rows)  # every row imported
    assert refs == {row.split(",")[0] for row in fixed_rows}
    assert case.facts == {"age": 33, "uk_national": False}
    assert (child.journey_id, child.facts["age"]) == ("child-cjs", 15)


def test_a_dry_run_checks_and_writes_nothing(staffed: str, tmp_path: Path) -> None:
    path = write(tmp_path, "cases.csv", GOOD)
    before = state(staffed)
    with session_scope(staffed) as session:
        result = importing.import_cases(session, CAT, path.read_text(), str(path), NOW,
                                        operator(), dry_run=True)  # fmt: skip
    assert result["cases"] == 25 and result["dry_run"]
    assert state(staffed) == before


def test_a_bad_header_is_reported_at_row_one(staffed: str, tmp_path: Path) -> None:
    path = write(tmp_path, "cases.csv", GOOD[:1], header="reference,journey,colour\n")
    with pytest.raises(UserError) as refused, session_scope(staffed) as session:
        importing.import_cases(session, CAT, path.read_text(), str(path), NOW, operator())
    assert str(refused.value).splitlines() == [
        f"{path}:1: missing column 'navigator'",
        f"{path}:1: unknown column 'colour'",
    ]


EVENTS_HEADER = "investigation,organisation,event,at,count\n"


def test_investigation_events_then_cases_that_link_to_them(staffed: str, tmp_path: Path) -> None:
    events = write(tmp_path, "events.csv", [
        "OP-0001,kent,strategic_advice,2027-02-01,",
        "OP-0001,kent,arrest,2027-02-10T06:00,3",
        "OP-0001,kent,charge,2027-02-24,2",
    ], header=EVENTS_HEADER)  # fmt: skip
    with session_scope(staffed) as session:
        first = importing.import_investigation_events(session, CAT, events.read_text(),
                                                      str(events), NOW, operator())  # fmt: skip
    assert first["events"] == 3
    cases = write(tmp_path, "cases.csv", [
        "KNT-0001,adult-cjs,nav@example.org,OP-0001,2027-01-15,,,30,",
        "RO-0001,safe-return-romania,ro-nav@example.org,OP-0001,2027-01-15,,,,",
    ])  # fmt: skip
    with session_scope(staffed) as session:
        importing.import_cases(session, CAT, cases.read_text(), str(cases), NOW, operator())
        links = session.execute(sa.select(sa.func.count()).select_from(InvestigationCase)).scalar()
        told = dict(session.execute(
            sa.select(Case.ref, Task.due).join(Case, Case.id == Task.case_id)
            .where(Task.obligation == "told-of-charge")
        ).all())  # fmt: skip
        names = session.execute(
            sa.select(CaseEvent.name).join(Case, Case.id == CaseEvent.case_id)
            .where(Case.ref == "KNT-0001").order_by(CaseEvent.id)
        ).scalars().all()  # fmt: skip
    assert links == 2 and names == ["referral", "arrest", "charge"]
    # a Victims' Code duty counts England and Wales days, in London, on the Romanian journey too
    assert told == {"KNT-0001": at("2027-02-25T23:59:59"), "RO-0001": at("2027-02-25T23:59:59")}
    before = state(staffed)
    with session_scope(staffed) as session:
        again = importing.import_investigation_events(session, CAT, events.read_text(),
                                                      str(events), NOW, operator())  # fmt: skip
    assert (again["events"], again["skipped"]) == (0, 3)
    assert state(staffed) == before


def test_investigation_event_rows_are_checked_together(staffed: str, tmp_path: Path) -> None:
    events = write(tmp_path, "events.csv", [
        "OP-0001,kent,arrest,2027-02-10,",
        "OP-0001,ro,charge,2027-02-10,1",
        "OP-0002,mars,charge,2027-02-10,1",
        "Op Cedar,kent,charge,2027-02-10,1",
        "OP-0003,kent,raid,2027-02-10,",
        "OP-0003,kent,charge,2027-02-10,two",
    ], header=EVENTS_HEADER)  # fmt: skip
    before = state(staffed)
    with pytest.raises(UserError) as refused, session_scope(staffed) as session:
        importing.import_investigation_events(session, CAT, events.read_text(), str(events),
                                              NOW, operator())  # fmt: skip
    lines = str(refused.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{events}:{n}" for n in range(2, 8)]
    assert "arrest counts suspects" in lines[0]
    assert "opened in kent on an earlier row" in lines[1]
    assert "unknown organisation 'mars'" in lines[2]
    assert "'Op Cedar' is not a case reference of kent" in lines[3]
    assert "unknown investigation event 'raid'" in lines[4]
    assert "count 'two' is not a whole number" in lines[5]
    assert state(staffed) == before


def test_the_import_commands(home: Path, tmp_path: Path) -> None:
    staff = tmp_path / "staff.yaml"
    staff.write_text(STAFF_YAML)
    run("staff", "import", str(staff))
    bad = write(tmp_path, "bad.csv", [BAD[3][0], BAD[6][0]])
    refused = run("import", "cases", str(bad), "--now", "2027-03-01", ok=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.splitlines() == [
        f"error: {bad}:2: unknown journey 'adult-xyz' (known: adult-cjs, adult-declined-nrm, "
        "adult-northern-ireland, adult-scotland, child-cjs, safe-return-romania, triage)",
        f"error: {bad}:3: bad date '2027-02-31': expected an ISO date (2027-03-01) or "
        "date-time (2027-03-01T09:30)",
    ]
    good = write(tmp_path, "good.csv", GOOD[:3])
    dry = run("import", "cases", str(good), "--dry-run", "--now", "2027-03-01", "--json")
    assert json.loads(dry.stdout)["cases"] == 3
    assert json.loads(run("case", "list", "--json").stdout) == []
    done = run("import", "cases", str(good), "--now", "2027-03-01")
    assert done.stdout == f"{good}: imported 3 cases\n"
    assert len(json.loads(run("case", "list", "--json").stdout)) == 3


def test_a_repeating_event_takes_several_dates_in_one_cell(staffed: str, tmp_path: Path) -> None:
    import shutil

    from engine.catalog import Catalog

    folder = tmp_path / "journeys"
    shutil.copytree(CAT.directory, folder)
    path = folder / "adult-cjs.yaml"
    path.write_text(
        path.read_text().replace("  - arrest  ", "  - {name: arrest, repeats: true}  ", 1)
    )
    sheet = write(
        tmp_path,
        "cases.csv",
        ["KNT-0001,adult-cjs,nav@example.org,2027-01-15,2027-02-10;2027-02-01,30"],
        header="reference,journey,navigator,event:referral,event:arrest,fact:age\n",
    )
    with session_scope(staffed) as session:
        importing.import_cases(
            session, Catalog(folder), sheet.read_text(), str(sheet), NOW, operator()
        )
        told = session.execute(
            sa.select(Task.occurrence, Task.due)
            .where(Task.obligation == "told-of-arrest")
            .order_by(Task.occurrence)
        ).all()
    assert told == [(1, at("2027-02-02T23:59:59")), (2, at("2027-02-11T23:59:59"))]
