"""SQLite's query-planner statistics, kept current by the sweep.

Without statistics SQLite guesses how selective each index is, and at 100,000 cases it
guessed wrong: `report duties` walked whole indexes for 10-13 s instead of 0.3 s.
PostgreSQL's autovacuum analyzes tables by itself; SQLite only ever has the statistics
an `ANALYZE` wrote. A full `ANALYZE` reads every index (about 3 s at 100,000 cases), so
the sweep runs it only when the statistics of the case or task table are stale: missing
for one of its indexes (a new database, or a migration that added an index), or counted
when the table held under 80% of the rows it holds now.

`PRAGMA optimize` would decide this itself, but SQLite 3.40 (Debian's, and Python's here)
only considers tables the same connection has queried, which a pooled connection cannot
promise; `PRAGMA analysis_limit` would make `ANALYZE` cheap, but its samples misjudged the
task indexes by up to ten times. So: a cheap check each sweep, a full count when it says.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

TABLES = ("case", "task")
GROWTH = 1.25  # re-count once a table holds a quarter more rows than its statistics say


def refresh_statistics(session: Session) -> bool:
    """Run `ANALYZE` on SQLite when the statistics are stale; True if it ran."""
    if session.get_bind().dialect.name != "sqlite" or not stale(session):
        return False
    session.execute(text("ANALYZE"))
    return True


def stale(session: Session) -> bool:
    """Whether a table in TABLES with rows has an index without statistics, or has grown
    by GROWTH since they were counted. Index seeks only: milliseconds at any size."""
    counted = _counted(session)
    for table in TABLES:
        # cases and tasks are never deleted, so the largest rowid is the count, by one seek
        rows = session.scalar(text(f'SELECT max(rowid) FROM "{table}"'))
        if not rows:
            continue  # an empty table has nothing to count
        indexes = session.scalars(
            text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"),
            {"t": table},
        ).all()
        known = [counted.get(index) for index in indexes]
        if None in known or any(rows > GROWTH * n for n in known):
            return True
    return False


def _counted(session: Session) -> dict[str, int]:
    """Rows each index's table held when last analyzed (the first number of its stat)."""
    exists = session.scalar(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"))
    if not exists:
        return {}
    rows = session.execute(text("SELECT idx, stat FROM sqlite_stat1 WHERE idx IS NOT NULL"))
    return {index: int(stat.split()[0]) for index, stat in rows}
