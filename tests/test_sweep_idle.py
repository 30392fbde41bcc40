"""A sweep with nothing changed costs index seeks, not scans: the journey-version check.

Every sweep asks whether any open case was planned on another version of its journey
(`reconcile.mark_changed_journeys`); the answer must stay right (older and newer versions,
open cases only) and come from the index on (journey_id, status, journey_version).
"""

from __future__ import annotations

import sqlalchemy as sa

from engine import service, sweep
from engine.core.actors import operator
from engine.reconcile import due_query, mark_changed_journeys, on_other_versions
from engine.store import EPOCH, Case, engine_for, session_scope
from tests.conftest import at, shipped_catalog

case_t = Case.__table__
NOW = at("2027-02-01T09:00")


def _open(url: str, refs: list[str], journey: str = "adult-cjs") -> None:
    with session_scope(url) as session:
        for ref in refs:
            service.open_case(
                session,
                shipped_catalog(),
                ref,
                journey,
                "nav@example.org",
                {"referral": "2027-01-10T10:00"},
                {},
                at("2027-01-10T10:05"),
                operator(),
            )


def _version(url: str, ref: str, version: str, **values) -> None:
    with session_scope(url) as session:
        session.execute(
            sa.update(case_t).where(case_t.c.ref == ref).values(journey_version=version, **values)
        )


def test_only_open_cases_on_another_version_are_marked_for_planning(staffed: str) -> None:
    _open(staffed, ["KENT-1", "KENT-2", "KENT-3", "KENT-4"])
    _open(staffed, ["KENT-5"], "child-cjs")
    sweep.plan_and_alert(staffed, shipped_catalog(), NOW)
    with session_scope(staffed) as session:
        assert mark_changed_journeys(session, shipped_catalog()) == 0
    _version(staffed, "KENT-1", "000000000000")  # sorts before any real version
    _version(staffed, "KENT-2", "ffffffffffff")  # and after
    _version(staffed, "KENT-3", "000000000000", status="closed", replan_at=None)
    with session_scope(staffed) as session:
        assert mark_changed_journeys(session, shipped_catalog()) == 2
        due = session.execute(
            sa.select(case_t.c.ref).where(case_t.c.replan_at == EPOCH).order_by(case_t.c.ref)
        ).scalars()
        assert list(due) == ["KENT-1", "KENT-2"]
        assert mark_changed_journeys(session, shipped_catalog()) == 0  # already marked

    counts = sweep.plan_and_alert(staffed, shipped_catalog(), NOW)
    assert counts.cases == 2
    with session_scope(staffed) as session:
        assert mark_changed_journeys(session, shipped_catalog()) == 0
        versions = dict(session.execute(sa.select(case_t.c.ref, case_t.c.journey_version)).all())
    current = shipped_catalog().resolve("adult-cjs").version
    assert versions["KENT-1"] == versions["KENT-2"] == current
    assert versions["KENT-3"] == "000000000000"  # closed cases are not planned again


def test_the_version_check_seeks_the_index_on_sqlite(home) -> None:
    url = f"sqlite:///{home / 'alongside.db'}"
    journey = shipped_catalog().resolve("adult-cjs")
    statement = on_other_versions(journey).compile(
        dialect=engine_for(url).dialect, compile_kwargs={"literal_binds": True}
    )
    with engine_for(url).connect() as connection:
        steps = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")]
    searches = [s for s in steps if "ix_case_journey_status_version" in s]
    assert len(searches) == 2 and all(s.startswith("SEARCH") for s in searches), steps
    assert not any(s.startswith("SCAN case") for s in steps), steps


def test_the_due_cases_come_from_the_replan_index_on_sqlite_with_statistics(staffed) -> None:
    # With statistics and `ORDER BY id LIMIT n`, SQLite walked the whole case table in id
    # order (100 ms a sweep at 100,000 cases); one range of the index it must seek.
    url = staffed
    if not url.startswith("sqlite"):
        return  # PostgreSQL plans from histograms; this is SQLite's question
    _open(url, [f"KENT-{n}" for n in range(1, 30)])
    with engine_for(url).begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    statement = due_query(NOW).compile(
        dialect=engine_for(url).dialect, compile_kwargs={"literal_binds": True}
    )
    with engine_for(url).connect() as connection:
        steps = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")]
    assert steps == ["SEARCH case USING COVERING INDEX ix_case_replan_at (replan_at<?)"], steps
