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


def seed(url: str) -> None:
    """Cases opened over January, then marked as needing a plan, with alerts due at NOW."""
    with session_scope(url) as session:
        for n in range(CASES):
            day = 1 + n % 28
            service.open_case(
                session,
                shipped_catalog(),
                f"CON-{n:04d}",
                ["adult-cjs", "child-cjs", "adult-declined-nrm"][n % 3],
                "nav@example.org" if n % 2 else "nav2@example.org",
                {"referral": f"2027-01-{day:02d}T10:00"},
                {},
                at(f"2027-01-{day:02d}T10:05"),
                operator(),
            )
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
