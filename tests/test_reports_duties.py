"""The duties report (obligation `tags:`) and the contact report, at exact instants."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from statistics import median

import pytest
import sqlalchemy as sa

from engine import reports, service
from engine.catalog import Catalog
from engine.core.actors import operator
from engine.core.loader import JourneyError, parse_journey
from engine.core.reporting import period
from engine.store import Case, Task, session_scope
from tests.conftest import at

JOURNEY = """\
journey: duties
title: Duties test
calendar: england-and-wales
timezone: Europe/London
start: referral
events: [referral, charge]
stages:
  - id: all
    title: All
    obligations:
      - id: told-of-charge
        title: Told of charge
        category: legal
        tags: [victims-code]
        due: 1 working day after charge
      - id: support-referral
        title: Referred to support
        category: safety
        tags: [victims-code, first-week]
        due: 2 working days after referral
      - id: gp
        title: Registered with a GP
        category: health
        due: 14 days after referral
      - id: check-in
        title: Weekly check-in
        category: contact
        every: 1 week
"""
MARCH = period("2027-03-01", "2027-03-31")
NOW = at("2027-03-10T12:00")


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "duties.yaml").write_text(JOURNEY)
    return Catalog(folder)


def task(session, ref: str, obligation: str) -> int:
    return session.execute(
        sa.select(Task.id).join(Case, Case.id == Task.case_id)
        .where(Case.ref == ref, Task.obligation == obligation, Task.status == "open")
    ).scalar_one()  # fmt: skip


def done(session, catalog, ref: str, obligation: str, when: str) -> None:
    moment = at(when)
    service.complete_task(session, catalog, task(session, ref, obligation), moment, None,
                          max(moment, NOW), operator())  # fmt: skip


def open_case(session, catalog, ref: str, referral: str, opened: str) -> None:
    service.open_case(session, catalog, ref, "duties", "nav@example.org",
                      {"referral": referral}, {}, at(opened), operator())  # fmt: skip


def test_tags_are_words_and_each_is_given_once() -> None:
    with pytest.raises(JourneyError) as error:
        parse_journey(JOURNEY.replace("[victims-code, first-week]", "[victims-code, victims-code]"),
                      "duties.yaml")  # fmt: skip
    assert [str(p) for p in error.value.problems] == [
        "duties.yaml:19:30: stages[0].obligations[1].tags[1]: 'victims-code' is already a tag "
        "(tags[0])"
    ]
    with pytest.raises(JourneyError, match=r"duties\.yaml:14:"):
        parse_journey(
            JOURNEY.replace("tags: [victims-code]", "tags: [Victims Code]"), "duties.yaml"
        )
    assert parse_journey(JOURNEY, "duties.yaml").obligations["gp"][1].tags == ()


def test_duties_per_tag_and_obligation(staffed: str, catalog: Catalog) -> None:
    with session_scope(staffed) as session:
        for ref in ("KNT-0001", "KNT-0002", "KNT-0003"):
            open_case(session, catalog, ref, "2027-03-01", "2027-03-01T09:00")
            service.record_events(session, catalog, ref, {"charge": "2027-03-04"},
                                  at("2027-03-04T09:00"), operator())  # fmt: skip
        open_case(session, catalog, "KNT-0004", "2027-03-30", "2027-03-01T09:00")  # April
        done(session, catalog, "KNT-0001", "support-referral", "2027-03-02T10:00")  # on time
        done(session, catalog, "KNT-0002", "support-referral", "2027-03-06T00:00")  # late
        service.waive_task(session, catalog, task(session, "KNT-0003", "support-referral"),
                           "referred by police", NOW, operator())  # fmt: skip
        done(session, catalog, "KNT-0001", "told-of-charge", "2027-03-08T12:00")  # late
        done(session, catalog, "KNT-0002", "told-of-charge", "2027-03-05T10:00")  # on time
        report = reports.duties(session, catalog, MARCH, NOW, operator())
    due_support, due_told = at("2027-03-03T23:59:59"), at("2027-03-05T23:59:59")
    late_support = (at("2027-03-06T00:00") - due_support).total_seconds() / 86400
    late_told = (at("2027-03-08T12:00") - due_told).total_seconds() / 86400
    by_ob = {o["obligation"]: o for o in report["obligations"]}
    assert by_ob["support-referral"] == {
        "obligation": "support-referral", "title": "Referred to support",
        "tags": ["first-week", "victims-code"], "due": 3, "on_time": 1, "late": 1,
        "waived": 1, "open": 0, "overdue": 0, "on_time_rate": 0.5, "median_days_late": 2.0,
    }  # fmt: skip
    assert by_ob["told-of-charge"]["on_time"] == 1 and by_ob["told-of-charge"]["overdue"] == 1
    assert by_ob["told-of-charge"]["on_time_rate"] == 0.3333
    assert by_ob["gp"]["due"] == 3 and by_ob["gp"]["open"] == 3  # due 15 March: not yet
    assert by_ob["gp"]["on_time_rate"] is None and by_ob["gp"]["tags"] == []
    tags = {t["tag"]: t for t in report["tags"]}
    assert set(tags) == {"victims-code", "first-week"}
    code = tags["victims-code"]
    assert (code["due"], code["on_time"], code["late"], code["waived"], code["overdue"]) == (
        6, 2, 2, 1, 1,
    )  # fmt: skip
    assert code["on_time_rate"] == 0.4
    assert code["median_days_late"] == round(median([late_support, late_told]), 1)
    assert "KNT-" not in json.dumps(report)


def test_contact_shares_and_longest_silent_gaps(staffed: str, catalog: Catalog) -> None:
    end = at("2027-03-31T23:00")  # 00:00 on 1 April, London summer time
    with session_scope(staffed) as session:
        for ref in ("KNT-0011", "KNT-0012", "KNT-0013", "KNT-0014"):
            open_case(session, catalog, ref, "2027-03-01", "2027-03-02T09:00")
        open_case(session, catalog, "KNT-0015", "2027-04-02", "2027-04-02T09:00")  # April
        done(session, catalog, "KNT-0011", "check-in", "2027-03-08T10:00")
        done(session, catalog, "KNT-0011", "check-in", "2027-03-10T10:00")
        done(session, catalog, "KNT-0012", "check-in", "2027-03-08T10:00")
        service.complete_task(session, catalog, task(session, "KNT-0012", "check-in"),
                              at("2027-03-20T10:00"), None, at("2027-03-20T10:00"),
                              operator())  # fmt: skip
        service.close_case(session, catalog, "KNT-0014", "moved away", at("2027-03-20"),
                           operator())  # fmt: skip
        report = reports.contact(session, catalog, MARCH, operator())
    opened = at("2027-03-02T09:00")

    def days(a: datetime, b: datetime) -> float:
        return (b - a).total_seconds() / 86400

    gaps = [days(at("2027-03-10T10:00"), end), 12.0, days(opened, end)]
    assert report["open_cases"] == 3  # not the closed KNT-0014, nor KNT-0015 (April)
    assert report["reached_14_days"] == 0.3333 and report["reached_30_days"] == 0.6667
    assert report["longest_silent_gap"] == {
        "cases": 3,
        "median_days": round(median(gaps), 1),
        "longest_days": round(max(gaps), 1),
        "bands": {"0-14": 1, "15-30": 2, "31-60": 0, "61-90": 0, "91-180": 0, "181+": 0},
    }


def test_the_shipped_victims_code_duties_carry_the_tag() -> None:
    from tests.conftest import shipped_catalog

    for journey in ("adult-cjs", "adult-declined-nrm", "child-cjs", "safe-return-romania"):
        obligations = shipped_catalog().resolve(journey).obligations
        assert "victims-code" in obligations["told-of-charge"][1].tags, journey
        assert obligations["told-of-charge"][1].tags == obligations["told-of-arrest"][1].tags


def test_the_reports_sql_follows_the_core_rules(staffed: str, catalog: Catalog) -> None:
    """The duties and contact reports count in the database; the rules they follow are
    `duty_state` and `longest_gap` (engine.core.reporting). Here every task and case is
    also read back and counted by those rules in Python: the same answers."""
    from engine.core.reporting import (
        duty_measures,
        duty_state,
        gap_distribution,
        longest_gap,
        rate,
    )

    with session_scope(staffed) as session:
        for n in range(1, 9):
            ref = f"KNT-00{n:02d}"
            open_case(session, catalog, ref, f"2027-03-0{n}", f"2027-03-0{n}T09:0{n}")
            if n % 2:
                service.record_events(session, catalog, ref, {"charge": f"2027-03-1{n}"},
                                      at(f"2027-03-1{n}T09:00"), operator())  # fmt: skip
        for n, when in ((1, "2027-03-03T10:00"), (2, "2027-03-12T00:00:01"), (5, "2027-03-20")):
            done(session, catalog, f"KNT-00{n:02d}", "support-referral", when)
        done(session, catalog, "KNT-0003", "told-of-charge", "2027-03-14T09:00")
        service.waive_task(session, catalog, task(session, "KNT-0004", "support-referral"),
                           "not needed", NOW, operator())  # fmt: skip
        for n, when in ((1, "2027-03-05T08:00"), (1, "2027-03-09T08:00"), (2, "2027-03-10"),
                        (3, "2027-03-08T09:07")):  # fmt: skip
            done(session, catalog, f"KNT-00{n:02d}", "check-in", when)
        service.close_case(session, catalog, "KNT-0008", "moved", at("2027-03-25"), operator())
        duties = reports.duties(session, catalog, MARCH, NOW, operator())
        contact = reports.contact(session, catalog, MARCH, operator())
        start, end = MARCH.bounds(catalog.resolve("duties").tz)
        tasks = session.execute(sa.select(Task)).scalars().all()
        cases = session.execute(sa.select(Case)).scalars().all()
        states: dict[str, list[str]] = {}
        late: dict[str, list[float]] = {}
        for t in tasks:
            if start <= t.due < end and t.status != "cancelled":
                state = duty_state(t.status, t.due, t.closed_at, NOW)
                states.setdefault(t.obligation, []).append(state)
                if state == "late":
                    days = (t.closed_at - t.due).total_seconds() / 86400
                    late.setdefault(t.obligation, []).append(days)
        gaps, reached = [], {14: 0, 30: 0}
        for c in cases:
            if c.opened_at >= end or (c.closed_at is not None and c.closed_at < end):
                continue
            contacts = sorted(
                t.closed_at for t in tasks
                if t.case_id == c.id and t.category == "contact" and t.status == "done"
                and t.outcome != "not_reached" and t.closed_at < end
            )  # fmt: skip
            between = max(
                ((b - a).total_seconds() / 86400 for a, b in pairwise(contacts)),
                default=None,
            )
            first, last = (contacts[0], contacts[-1]) if contacts else (None, None)
            gaps.append(longest_gap(c.opened_at, first, last, between, end))
            for days in reached:
                reached[days] += bool(last and last >= end - timedelta(days=days))
    assert {o["obligation"]: {k: v for k, v in o.items() if k not in ("obligation", "title",
            "tags")} for o in duties["obligations"]} == {
        ob: duty_measures(s, late.get(ob, [])) for ob, s in states.items()
    }  # fmt: skip
    assert len(states) == 4 and {"late", "on_time", "waived", "overdue", "open"} <= {
        s for group in states.values() for s in group
    }
    assert contact["open_cases"] == len(gaps) == 7
    assert contact["reached_14_days"] == rate(reached[14], len(gaps))
    assert contact["reached_30_days"] == rate(reached[30], len(gaps))
    assert contact["longest_silent_gap"] == gap_distribution(gaps)
