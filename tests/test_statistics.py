"""SQLite's planner statistics are refreshed by the sweep when stale, and only then.

Without statistics SQLite misjudged the reports' indexes at 100,000 cases (10-13 s for
`report duties` instead of 0.3 s); a full `ANALYZE` costs seconds there, so a sweep with
fresh statistics must not run it.
"""

from __future__ import annotations

import sqlalchemy as sa

from engine import service, sweep
from engine.core.actors import operator
from engine.statistics import refresh_statistics, stale
from engine.store import session_scope
from tests.conftest import STAFF_YAML, at, shipped_catalog

NOW = at("2027-02-01T09:00")


def _open(url: str, first: int, count: int) -> None:
    with session_scope(url) as session:
        for n in range(first, first + count):
            service.open_case(
                session,
                shipped_catalog(),
                f"KENT-{n}",
                "adult-cjs",
                "nav@example.org",
                {"referral": "2027-01-10T10:00"},
                {},
                at("2027-01-10T10:05"),
                operator(),
            )


def _stats(url: str) -> dict[str, str]:
    with session_scope(url) as session:
        rows = session.execute(sa.text("SELECT idx, stat FROM sqlite_stat1 WHERE idx IS NOT NULL"))
        return dict(rows.all())


def _indexes(url: str, table: str) -> set[str]:
    with session_scope(url) as session:
        names = session.scalars(
            sa.text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"),
            {"t": table},
        )
        return set(names)


def _sqlite(home) -> str:
    url = f"sqlite:///{home / 'alongside.db'}"
    with session_scope(url) as session:
        service.import_staff(session, STAFF_YAML, at("2026-01-01T00:00"), operator())
    return url


def test_a_new_database_gets_statistics_at_its_first_sweep_and_keeps_them(home) -> None:
    url = _sqlite(home)
    with session_scope(url) as session:
        assert not stale(session)  # no cases yet: nothing worth counting
    _open(url, 1, 20)
    with session_scope(url) as session:
        assert stale(session)
    sweep.plan_and_alert(url, shipped_catalog(), NOW)
    stats = _stats(url)
    assert (_indexes(url, "case") | _indexes(url, "task")) <= stats.keys()
    assert stats["ix_case_replan_at"].split()[0] == "20"
    with session_scope(url) as session:
        tasks = session.scalar(sa.text("SELECT count(*) FROM task"))
        assert tasks > 20 and stats["ix_task_due"].split()[0] == str(tasks)
        assert not stale(session)
        assert refresh_statistics(session) is False  # the next sweep pays two seeks


def test_statistics_are_counted_again_when_the_caseload_grows_by_a_quarter(home) -> None:
    url = _sqlite(home)
    _open(url, 1, 20)
    with session_scope(url) as session:
        assert refresh_statistics(session) is True
    _open(url, 21, 5)  # 25 cases against 20 counted: not more than a quarter more
    with session_scope(url) as session:
        assert not stale(session)
    _open(url, 26, 1)
    with session_scope(url) as session:
        assert refresh_statistics(session) is True
        assert not stale(session)
    assert _stats(url)["ix_case_replan_at"].split()[0] == "26"


def test_an_index_without_statistics_makes_them_stale(home) -> None:
    url = _sqlite(home)
    _open(url, 1, 3)
    with session_scope(url) as session:
        refresh_statistics(session)
        session.execute(sa.text('CREATE INDEX ix_case_test ON "case" (status)'))
        assert stale(session)  # as after a migration that adds an index


def test_postgresql_analyzes_by_itself(staffed: str) -> None:
    _open(staffed, 1, 2)
    with session_scope(staffed) as session:
        if session.get_bind().dialect.name == "sqlite":
            assert refresh_statistics(session) is True
        else:
            assert refresh_statistics(session) is False  # autovacuum's autoanalyze does it
