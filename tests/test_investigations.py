"""Investigations: one event recorded once reaches every linked survivor's plan.

Real databases (SQLite and, when configured, PostgreSQL), the shipped journeys, and the
service use cases the CLI and the web app call; one test drives the CLI itself.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
import sqlalchemy as sa

from engine import investigations as inv
from engine import service
from engine.access import resolve
from engine.core.actors import operator
from engine.core.errors import UserError
from engine.core.investigations import REJOINED, WITHDREW
from engine.store import Case, CaseEvent, Task, session_scope
from tests.conftest import SHIPPED_IDS, at, shipped_catalog
from tests.test_cli_cases import run, state

CAT = shipped_catalog()
T0 = at("2027-11-22T10:00")  # Monday
# Friday 24 December 2027: Christmas and Boxing Day fall on the weekend, so England and
# Wales take Monday 27 and Tuesday 28 as substitute days.
CHARGE = "2027-12-24"
DUE_ENGLAND = at("2027-12-29T23:59:59")  # end of Wed 29 Dec, London (GMT)
# Monday 29 November 2027. Tuesday 30 November is St Andrew's Day: a holiday in Scotland
# and in Romania, not in England and Wales; Wednesday 1 December is Romania's National Day.
# The Romanian journey counts its Victims' Code duties in England and Wales days (rule 6).
ST_ANDREW_CHARGE = "2027-11-29"
DUE_TUESDAY = at("2027-11-30T23:59:59")  # end of Tue 30 Nov, London (GMT)
DUE_WEDNESDAY = at("2027-12-01T23:59:59")  # end of Wed 1 Dec: Scotland's next working day

SURVIVORS = {  # ref: (journey, navigator, facts)
    "KNT-0001": ("adult-cjs", "nav@example.org", {"age": "30"}),
    "KNT-0002": ("adult-scotland", "nav2@example.org", {"age": "41"}),
    "KNT-0003": ("adult-declined-nrm", "nav@example.org", {}),
    "KNT-0004": ("child-cjs", "nav2@example.org", {"age": "15"}),
    "RO-0001": ("safe-return-romania", "ro-nav@example.org", {}),
}


def open_survivors(session, refs=SURVIVORS) -> None:
    for ref in refs:
        journey, navigator, facts = SURVIVORS[ref]
        service.open_case(session, CAT, ref, journey, navigator,
                          {"referral": "2027-11-15"}, facts, T0, operator())  # fmt: skip


@pytest.fixture
def operation(staffed: str) -> str:
    """OP-0001 in Kent with the five survivors' cases (on five journeys, three calendars)."""
    with session_scope(staffed) as session:
        open_survivors(session)
        inv.open_investigation(session, CAT, "OP-0001", "kent", T0, operator())
        inv.link(session, CAT, "OP-0001", list(SURVIVORS), T0, operator())
    return staffed


def told_of(session, obligation: str) -> dict[str, tuple[datetime, str]]:
    rows = session.execute(
        sa.select(Case.ref, Task.due, Task.status)
        .join(Case, Case.id == Task.case_id)
        .where(Task.obligation == obligation)
    )
    return {r.ref: (r.due, r.status) for r in rows}


def test_one_charge_plans_five_told_of_charge_tasks_each_in_its_own_calendar(
    operation: str,
) -> None:
    with session_scope(operation) as session:
        assert told_of(session, "told-of-charge") == {}
        result = inv.record_event(session, CAT, "OP-0001", "charge", ST_ANDREW_CHARGE, 2,
                                  at("2027-11-29T12:00"), operator())  # fmt: skip
        assert sorted(result["cases"]) == sorted(SURVIVORS)
        tasks = told_of(session, "told-of-charge")
        assert session.execute(
            sa.select(sa.func.count()).where(Task.obligation == "told-of-charge")
        ).scalar_one() == 5  # fmt: skip
    assert tasks == {
        "KNT-0001": (DUE_TUESDAY, "open"),  # adult-cjs: England and Wales
        "KNT-0002": (DUE_WEDNESDAY, "open"),  # adult-scotland: St Andrew's Day is off
        "KNT-0003": (DUE_TUESDAY, "open"),  # adult-declined-nrm: England and Wales
        "KNT-0004": (DUE_TUESDAY, "open"),  # child-cjs: England and Wales
        "RO-0001": (DUE_TUESDAY, "open"),  # the duty's England and Wales days, not Romania's
    }
    before = state(operation)
    with session_scope(operation) as session:
        again = inv.record_event(session, CAT, "OP-0001", "charge", ST_ANDREW_CHARGE, 2,
                                 at("2027-11-29T13:00"), operator())  # fmt: skip
    assert again["recorded"] is False and again["cases"] == []
    assert state(operation) == before  # not a row more: no event, no task, no audit entry


def test_a_case_linked_later_receives_the_events_so_far(operation: str) -> None:
    with session_scope(operation) as session:
        inv.record_event(session, CAT, "OP-0001", "arrest", "2027-12-02T06:00", 3,
                         at("2027-12-02T09:00"), operator())  # fmt: skip
        inv.record_event(session, CAT, "OP-0001", "charge", "2027-12-03", 1,
                         at("2027-12-03T09:00"), operator())  # fmt: skip
        service.open_case(session, CAT, "KNT-0009", "adult-cjs", "nav@example.org",
                          {"referral": "2027-11-20"}, {"age": "22"}, T0, operator())  # fmt: skip
        linked = inv.link(session, CAT, "OP-0001", ["KNT-0009", "KNT-0001"],
                          at("2027-12-06T09:00"), operator())  # fmt: skip
        assert linked["linked"] == ["KNT-0009"]  # KNT-0001 was linked already: no change
        arrests, charges = told_of(session, "told-of-arrest"), told_of(session, "told-of-charge")
    assert arrests["KNT-0009"] == (at("2027-12-03T23:59:59"), "open")  # Fri after Thu 06:00
    assert charges["KNT-0009"] == (at("2027-12-06T23:59:59"), "open")  # Mon after Fri
    assert arrests["KNT-0009"][0] == arrests["KNT-0001"][0]


def test_unlinked_cases_keep_what_they_received_and_get_nothing_later(operation: str) -> None:
    with session_scope(operation) as session:
        inv.record_event(session, CAT, "OP-0001", "arrest", "2027-12-02", 1, T0, operator())
        inv.unlink(session, CAT, "OP-0001", ["KNT-0002"], T0, operator())
        result = inv.record_event(session, CAT, "OP-0001", "charge", "2027-12-03", 1,
                                  at("2027-12-03T12:00"), operator())  # fmt: skip
        assert "KNT-0002" not in result["cases"]
        assert "KNT-0002" in told_of(session, "told-of-arrest")
        assert "KNT-0002" not in told_of(session, "told-of-charge")
        view = inv.view_investigation(session, CAT, "OP-0001", T0, operator())
    assert view["linked"] == 4 and "KNT-0002" not in view["cases"]
    assert [(e["name"], e["at"], e["count"]) for e in view["events"]] == [
        ("arrest", "2027-12-02", 1),
        ("charge", "2027-12-03", 1),
    ]


def test_an_event_no_journey_declares_reaches_no_case(operation: str) -> None:
    with session_scope(operation) as session:
        result = inv.record_event(
            session, CAT, "OP-0001", "strategic_advice", "2027-12-01", None, T0, operator()
        )
        assert result["recorded"] and result["cases"] == []
        assert (
            session.execute(
                sa.select(sa.func.count()).where(CaseEvent.name == "strategic_advice")
            ).scalar_one()
            == 0
        )


# The court dates, date-only as the Witness Care Unit gives them, each recorded when it is
# known: the hearing and the trial's first day in December, the verdict when it is given
# and the sentencing hearing then. London is on GMT until 26 March 2028, then BST;
# Bucharest is 2 hours ahead of GMT, then 3.
COURT = {  # name: (date, recorded at)
    "hearing_listed": ("2027-12-10", "2027-12-10T12:00"),  # Friday
    "trial": ("2028-03-06", "2027-12-10T12:00"),  # the silent period ends 8 weeks before
    "verdict": ("2028-03-10", "2028-03-10T12:00"),  # Friday
    "sentence": ("2028-04-07", "2028-03-10T12:00"),
}


def test_court_dates_reach_every_linked_case_whose_journey_declares_them(
    operation: str,
) -> None:
    """hearing_listed, trial, verdict and sentence recorded once on the investigation are
    events on each linked survivor's case (hearing_listed as its first occurrence, since
    it repeats), on the same local date in the case's own zone, and plan the "told of"
    duties at once; a linked triage case, whose journey declares none of them, gets none."""
    told: dict[str, dict] = {}
    with session_scope(operation) as session:
        service.open_case(session, CAT, "KNT-0005", "triage", "nav@example.org",
                          {"referral": "2027-11-20"}, {}, T0, operator())  # fmt: skip
        inv.link(session, CAT, "OP-0001", ["KNT-0005"], T0, operator())
        inv.record_event(session, CAT, "OP-0001", "charge", "2027-12-03", 1,
                         at("2027-12-03T12:00"), operator())  # fmt: skip
        for name, (day, now) in COURT.items():
            result = inv.record_event(session, CAT, "OP-0001", name, day, None, at(now),
                                      operator())  # fmt: skip
            assert sorted(result["cases"]) == sorted(SURVIVORS), name
            if name == "hearing_listed":
                told["hearing"] = told_of(session, "told-of-hearing-date")
            if name == "verdict":
                told["verdict"] = told_of(session, "told-of-verdict")
        rows = session.execute(
            sa.select(Case.ref, CaseEvent.name, CaseEvent.occurrence, CaseEvent.instant,
                      CaseEvent.date_only)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(CaseEvent.name.in_(list(COURT)))
        ).all()  # fmt: skip
    london = {"hearing_listed": at("2027-12-10T00:00"), "trial": at("2028-03-06T00:00"),
              "verdict": at("2028-03-10T00:00"), "sentence": at("2028-04-06T23:00")}  # fmt: skip
    bucharest = {"hearing_listed": at("2027-12-09T22:00"), "trial": at("2028-03-05T22:00"),
                 "verdict": at("2028-03-09T22:00"), "sentence": at("2028-04-06T21:00")}  # fmt: skip
    expected = {
        (ref, name, 1 if name == "hearing_listed" else None,
         (bucharest if ref.startswith("RO-") else london)[name], True)
        for ref in SURVIVORS
        for name in COURT
    }  # fmt: skip
    assert len(rows) == 20 and set(map(tuple, rows)) == expected  # none on KNT-0005
    # Told of the hearing date and of the verdict by the Monday after, in every case
    # (no holiday in either week; the Romanian journey's duties count England's days).
    assert told["hearing"] == dict.fromkeys(SURVIVORS, (at("2027-12-13T23:59:59"), "open"))
    assert told["verdict"] == dict.fromkeys(SURVIVORS, (at("2028-03-13T23:59:59"), "open"))


def test_every_adult_and_child_journey_declares_the_engagement_events() -> None:
    pathways = [path.stem for path in CAT.files() if path.stem != "triage"]
    assert sorted(pathways) == sorted(SHIPPED_IDS)  # every shipped journey but triage
    for name in pathways:
        events = CAT.resolve(name).events
        assert WITHDREW in events and REJOINED in events, name


@pytest.mark.parametrize(
    ("name", "count", "message"),
    [
        ("charge", None, "charge counts suspects: give --count N (how many people)"),
        ("charge", 0, "--count 0 is not a number of people (1 to 1000)"),
        ("strategic_advice", 2, "strategic_advice counts nobody: give no --count"),
        ("raid", None, "unknown investigation event 'raid'"),
    ],
)
def test_counts_fit_the_event_or_nothing_changes(operation, name, count, message) -> None:
    before = state(operation)
    with pytest.raises(UserError, match=re.escape(message)), session_scope(operation) as session:
        inv.record_event(session, CAT, "OP-0001", name, "2027-12-03", count, T0, operator())
    assert state(operation) == before


def test_the_same_event_with_another_count_is_refused(operation: str) -> None:
    with session_scope(operation) as session:
        inv.record_event(session, CAT, "OP-0001", "arrest", "2027-12-02", 2, T0, operator())
    before = state(operation)
    with (
        pytest.raises(UserError, match="already recorded on OP-0001 with count 2"),
        session_scope(operation) as session,
    ):
        inv.record_event(session, CAT, "OP-0001", "arrest", "2027-12-02", 3, T0, operator())
    assert state(operation) == before


def test_scope_out_of_scope_reads_as_unknown(operation: str) -> None:
    with session_scope(operation) as session:
        romania = resolve(session, "ro-nav@example.org")
        kent = resolve(session, "nav@example.org")
        with pytest.raises(UserError, match="unknown investigation 'OP-0001'"):
            inv.record_event(session, CAT, "OP-0001", "arrest", "2027-12-02", 1, T0, romania)
        with pytest.raises(UserError, match="unknown investigation 'OP-0001'"):
            inv.view_investigation(session, CAT, "OP-0001", T0, romania)
        assert inv.investigations(session, romania) == []
        with pytest.raises(UserError, match="unknown organisation 'kent'"):
            inv.open_investigation(session, CAT, "OP-0002", "kent", T0, romania)
        # A Kent navigator sees the investigation but only the linked cases they hold.
        view = inv.view_investigation(session, CAT, "OP-0001", T0, kent)
        assert view["linked"] == 5 and view["cases"] == ["KNT-0001", "KNT-0003"]
        with pytest.raises(UserError, match="unknown case 'KNT-0002'"):
            inv.unlink(session, CAT, "OP-0001", ["KNT-0002"], T0, kent)


def test_an_investigation_reference_follows_the_organisation_pattern(staffed: str) -> None:
    with (
        pytest.raises(UserError, match="'Maria Pop' is not a case reference of kent"),
        session_scope(staffed) as session,
    ):
        inv.open_investigation(session, CAT, "Maria Pop", "kent", T0, operator())
    with session_scope(staffed) as session:
        inv.open_investigation(session, CAT, "OP-0001", "kent", T0, operator())
    with (
        pytest.raises(UserError, match="investigation 'OP-0001' already exists"),
        session_scope(staffed) as session,
    ):
        inv.open_investigation(session, CAT, "OP-0001", "kent", T0, operator())


def test_the_cli_opens_links_records_and_shows(home, tmp_path) -> None:
    from tests.conftest import STAFF_YAML

    staff = tmp_path / "staff.yaml"
    staff.write_text(STAFF_YAML)
    run("staff", "import", str(staff))
    run("case", "open", "KNT-0001", "--journey", "adult-cjs", "--navigator", "nav@example.org",
        "--event", "referral=2027-11-15", "--fact", "age=30", "--now", "2027-12-01")  # fmt: skip
    run("investigation", "open", "OP-0001", "--organisation", "kent", "--now", "2027-12-01")
    run("investigation", "link", "OP-0001", "KNT-0001", "--now", "2027-12-01")
    recorded = run("investigation", "event", "OP-0001", f"charge={CHARGE}", "--count", "2",
                   "--now", "2027-12-24T12:00", "--json")  # fmt: skip
    assert json.loads(recorded.stdout)["cases"] == ["KNT-0001"]
    shown = json.loads(run("investigation", "show", "OP-0001", "--json").stdout)
    assert shown["events"] == [{"name": "charge", "at": "2027-12-24", "count": 2}]
    assert shown["cases"] == ["KNT-0001"] and shown["linked"] == 1
    listed = json.loads(run("investigation", "list", "--json").stdout)
    assert listed == [{"ref": "OP-0001", "organisation": "kent", "linked": 1, "events": 1}]
    tasks = json.loads(run("task", "list", "--case", "KNT-0001", "--json").stdout)
    assert [t["due"] for t in tasks if t["obligation"] == "told-of-charge"] == [
        DUE_ENGLAND.isoformat()
    ]
    bad = run("investigation", "event", "OP-0001", f"charge={CHARGE}", ok=False)
    assert bad.returncode == 1 and bad.stderr.startswith("error: charge counts suspects")
    assert "Traceback" not in bad.stderr


def test_a_repeating_event_is_copied_as_each_next_occurrence(staffed: str, tmp_path) -> None:
    """Where a journey declares `arrest` repeating, each arrest on the investigation is a
    new occurrence on the case, with its own "told of arrest" task; re-running adds none."""
    import shutil

    from engine.catalog import Catalog

    folder = tmp_path / "journeys"
    shutil.copytree(CAT.directory, folder)
    path = folder / "adult-cjs.yaml"
    text = path.read_text()
    path.write_text(text.replace("  - arrest  ", "  - {name: arrest, repeats: true}  ", 1))
    catalog = Catalog(folder)
    assert "arrest" in catalog.resolve("adult-cjs").repeating
    with session_scope(staffed) as session:
        service.open_case(session, catalog, "KNT-0001", "adult-cjs", "nav@example.org",
                          {"referral": "2027-11-15"}, {"age": "30"}, T0, operator())  # fmt: skip
        inv.open_investigation(session, catalog, "OP-0001", "kent", T0, operator())
        inv.link(session, catalog, "OP-0001", ["KNT-0001"], T0, operator())
        for day in ("2027-12-02", "2027-12-09", "2027-12-09"):
            inv.record_event(session, catalog, "OP-0001", "arrest", day, 1, T0, operator())
        rows = session.execute(
            sa.select(CaseEvent.occurrence, CaseEvent.instant).where(CaseEvent.name == "arrest")
            .order_by(CaseEvent.id)
        ).all()  # fmt: skip
        told = session.execute(
            sa.select(Task.occurrence, Task.due).where(Task.obligation == "told-of-arrest")
            .order_by(Task.occurrence)
        ).all()  # fmt: skip
    assert [r.occurrence for r in rows] == [1, 2]
    assert told == [(1, at("2027-12-03T23:59:59")), (2, at("2027-12-10T23:59:59"))]
