"""Two sweeps at the same moment, from two processes, against PostgreSQL.

Row locks (`FOR UPDATE SKIP LOCKED`) split the work between them and unique keys stop any
duplicate; the result must be exactly what one sweep alone produces.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import service, sweep
from engine.core.actors import operator
from engine.store import EPOCH, Case, OutboxMessage, Task, session_scope
from tests.conftest import PG_URL, STAFF_YAML, _empty_postgres, at, shipped_catalog

pytestmark = pytest.mark.skipif(not PG_URL, reason="ALONGSIDE_TEST_DATABASE_URL not set")
CASES = 150
NOW = "2027-03-01T12:00:00+00:00"


def open_cases(session, prefix: str, count: int) -> None:
    """`count` cases opened over January on the three shipped journeys, two navigators."""
    for n in range(count):
        day = 1 + n % 28
        service.open_case(
            session,
            shipped_catalog(),
            f"{prefix}-{n:04d}",
            ["adult-cjs", "child-cjs", "adult-declined-nrm"][n % 3],
            "nav@example.org" if n % 2 else "nav2@example.org",
            {"referral": f"2027-01-{day:02d}T10:00"},
            {},
            at(f"2027-01-{day:02d}T10:05"),
            operator(),
        )


def seed(url: str) -> None:
    """Cases opened over January, then marked as needing a plan, with alerts due at NOW."""
    with session_scope(url) as session:
        open_cases(session, "CON", CASES)
        session.execute(sa.update(Case).values(replan_at=EPOCH))


def outcome(url: str) -> tuple[Counter, Counter]:
    """Tasks by key and state, and every (kind, recipient, task, level) a message carries."""
    with session_scope(url) as session:
        rows = session.execute(sa.select(Task.__table__)).all()
        key = {r.id: (r.case_id, r.obligation, r.occurrence) for r in rows}  # ids may differ
        tasks = Counter((*key[r.id], r.status, r.due, r.escalation_level) for r in rows)
        alerts: Counter = Counter()
        for m in session.execute(sa.select(OutboxMessage)).scalars():
            for item in m.payload.get("items", [m.payload]):
                alerts[(m.kind, m.recipient, key[item["task_id"]], item.get("level"))] += 1
    return tasks, alerts


SWEEP = (
    "import sys; from datetime import datetime; from engine.sweep import plan_and_alert; "
    "from tests.conftest import shipped_catalog; "
    "plan_and_alert(sys.argv[1], shipped_catalog(), datetime.fromisoformat(sys.argv[2]), "
    "batch_size=10)"
)


@pytest.fixture
def staffed(home: Path) -> str:
    """The CI's PostgreSQL database, emptied, with the test staff imported."""
    _empty_postgres(PG_URL)
    with session_scope(PG_URL) as session:
        service.import_staff(session, STAFF_YAML, at("2026-01-01T00:00"), operator())
    return PG_URL


def test_two_concurrent_sweeps_equal_one(staffed: str) -> None:
    seed(staffed)
    workers = [
        subprocess.Popen([sys.executable, "-c", SWEEP, staffed, NOW], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()[-2000:]
    together = outcome(staffed)

    # The same seed, swept once by one worker, must give the same tasks and alerts.
    _empty_postgres(staffed)
    with session_scope(staffed) as session:
        service.import_staff(session, STAFF_YAML, at("2026-01-01T00:00"), operator())
    seed(staffed)
    sweep.plan_and_alert(staffed, shipped_catalog(), at(NOW))
    alone = outcome(staffed)

    assert together[0] == alone[0]
    assert together[1] == alone[1]
    assert max(together[1].values()) == 1  # no alert reached anyone twice
    assert sum(together[1].values()) > CASES  # and there was real work to share


def test_two_batches_in_flight_equal_one_at_a_time(
    staffed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One sweep on PostgreSQL keeps two planning batches in flight (`sweep.planners`); it
    must leave exactly what planning one batch at a time leaves."""
    assert sweep.planners(staffed) == 2
    seed(staffed)
    overlapped = sweep.plan_and_alert(staffed, shipped_catalog(), at(NOW), batch_size=10)
    two_at_once = outcome(staffed)

    _empty_postgres(staffed)
    with session_scope(staffed) as session:
        service.import_staff(session, STAFF_YAML, at("2026-01-01T00:00"), operator())
    seed(staffed)
    monkeypatch.setattr(sweep, "planners", lambda url: 1)
    in_turn = sweep.plan_and_alert(staffed, shipped_catalog(), at(NOW), batch_size=10)

    assert two_at_once == outcome(staffed)
    assert overlapped.as_dict() == in_turn.as_dict()
    assert overlapped.cases == CASES and overlapped.created and overlapped.escalations


# --- alerts only on cases whose plan is current --------------------------------------------

RACE_CASES = 300
ROUNDS = 10


def _database(url: str, name: str):
    """A connection URL for another database on the same server."""
    return sa.make_url(url).set(database=name)


def _admin(url: str):
    engine = sa.create_engine(_database(url, "postgres"), isolation_level="AUTOCOMMIT")
    return engine


def _seed_race(url: str) -> None:
    """Cases opened over January with work overdue by March; then `uk_national` set on every
    other case behind the engine's back and every case marked for re-planning, so a re-plan
    cancels overdue tasks (`when: not uk_national`) that an alert pass must not escalate."""
    with session_scope(url) as session:
        service.import_staff(session, STAFF_YAML, at("2026-01-01T00:00"), operator())
        open_cases(session, "RACE", RACE_CASES)
        cases = Case.__table__
        session.execute(
            sa.update(cases).where(cases.c.id % 2 == 0).values(facts={"uk_national": True})
        )
        session.execute(sa.update(cases).values(replan_at=EPOCH))


@pytest.mark.slow
def test_concurrent_ticks_alert_only_on_current_plans(home: Path) -> None:
    """3 processes x 10 rounds: each round's messages are exactly those of a single tick."""
    base = sa.make_url(PG_URL).database
    template, together_db, alone_db = f"{base}_race_t", f"{base}_race_a", f"{base}_race_b"
    admin = _admin(PG_URL)
    names = (template, together_db, alone_db)
    try:
        with admin.connect() as c:
            for name in names:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(sa.text(f'CREATE DATABASE "{template}"'))
        template_url = _database(PG_URL, template).render_as_string(hide_password=False)
        from engine import store

        store.upgrade(template_url)
        _seed_race(template_url)
        store.engine_for(template_url).dispose()
        for round_ in range(ROUNDS):
            now = f"2027-03-{1 + round_:02d}T{8 + round_:02d}:30:00+00:00"
            results = []
            for name, workers in ((together_db, 3), (alone_db, 1)):
                with admin.connect() as c:
                    c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    c.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
                url = _database(PG_URL, name).render_as_string(hide_password=False)
                procs = [
                    subprocess.Popen(
                        [sys.executable, "-c", SWEEP, url, now], stderr=subprocess.PIPE
                    )
                    for _ in range(workers)
                ]
                for proc in procs:
                    _, err = proc.communicate(timeout=300)
                    assert proc.returncode == 0, err.decode()[-2000:]
                results.append(outcome(url))
                store.engine_for(url).dispose()
            (tasks_3, alerts_3), (tasks_1, alerts_1) = results
            assert tasks_3 == tasks_1, f"round {round_}"
            assert alerts_3 == alerts_1, f"round {round_}: {alerts_3 - alerts_1}"
            assert max(alerts_3.values()) == 1
            cancelled = sum(n for key, n in tasks_1.items() if key[3] == "cancelled")
            assert cancelled >= RACE_CASES // 4  # the re-plans really did cancel work
    finally:
        with admin.connect() as c:
            for name in names:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
