"""Reading units (`engine.store.read_scope`): pages that many people read at once take no
write lock while they read, and what they add (an audit entry, the session's idle clock)
is written at their end."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engine.store import (
    AuditEntry,
    Staff,
    WriteInReadingUnit,
    engine_for,
    read_scope,
    session_scope,
    with_timeouts,
    write_later,
)

ROOT = Path(__file__).resolve().parent.parent


def test_a_reading_unit_holds_no_lock_that_a_writer_waits_for(staffed: str) -> None:
    quick = with_timeouts(staffed, busy=0.05)  # a writer that waits 50 ms at most
    with read_scope(staffed) as reading:
        assert reading.exec(select(Staff)).all()  # the read has begun its transaction
        with session_scope(quick) as writing:
            writing.add(AuditEntry(at=sa.func.now(), actor="other", action="x", detail={}))
        assert reading.exec(select(Staff)).all()


def test_what_a_reading_unit_adds_and_queues_is_written_at_its_end(staffed: str) -> None:
    with read_scope(staffed) as reading:
        lead = reading.exec(select(Staff).where(Staff.email == "lead@example.org")).one()
        reading.add(AuditEntry(at=sa.func.now(), actor=lead.email, action="seen", detail={}))
        write_later(reading, sa.update(Staff).where(Staff.id == lead.id).values(name="Lee R"))
        with session_scope(staffed) as other:  # nothing written yet
            assert other.exec(select(AuditEntry).where(AuditEntry.action == "seen")).all() == []
    with session_scope(staffed) as session:
        assert [
            a.actor for a in session.exec(select(AuditEntry).where(AuditEntry.action == "seen"))
        ] == ["lead@example.org"]
        assert (
            session.exec(select(Staff.name).where(Staff.email == "lead@example.org")).one()
            == "Lee R"
        )


def test_changing_a_row_or_flushing_in_a_reading_unit_is_refused(staffed: str) -> None:
    with pytest.raises(WriteInReadingUnit), read_scope(staffed) as reading:
        reading.exec(select(Staff)).first().name = "changed"
    with pytest.raises(WriteInReadingUnit), read_scope(staffed) as reading:
        reading.add(AuditEntry(at=sa.func.now(), actor="x", action="y", detail={}))
        reading.flush()
    with session_scope(staffed) as session:
        assert "changed" not in session.exec(select(Staff.name)).all()
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "y")).all() == []


def test_a_reading_unit_that_fails_writes_nothing(staffed: str) -> None:
    with pytest.raises(RuntimeError), read_scope(staffed) as reading:
        reading.add(AuditEntry(at=sa.func.now(), actor="x", action="failed", detail={}))
        raise RuntimeError("the page failed")
    with engine_for(staffed).connect() as connection:
        table = AuditEntry.__table__
        found = connection.execute(sa.select(table).where(table.c.action == "failed")).all()
    assert found == []


def test_a_reading_unit_on_postgresql_starts_no_parallel_workers_and_others_still_may(
    staffed: str,
) -> None:
    if not staffed.startswith("postgresql"):
        pytest.skip("a PostgreSQL setting")
    show = sa.text("SHOW max_parallel_workers_per_gather")
    with session_scope(staffed) as writing:
        default = writing.execute(show).scalar()
    with read_scope(staffed) as reading:
        assert reading.execute(show).scalar() == "0"
    with session_scope(staffed) as writing:  # the same pooled connection, back as it was
        assert writing.execute(show).scalar() == default != "0"


HOLD_THE_WRITER = """
import sys
from engine.store import _one_writer
with _one_writer(sys.argv[1]):
    print("holding", flush=True)
    sys.stdin.read()  # until the test closes it
"""


def test_reading_units_of_two_processes_write_one_at_a_time_on_sqlite(home) -> None:
    """The web's uvicorn workers are processes: a reading unit's write waits while another
    process's is under way (on a lock that wakes it at once, not SQLite's busy handler),
    and goes on when that one ends."""
    url = f"sqlite:///{home / 'alongside.db'}"
    engine_for(url)  # the schema
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_WRITER, url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert other.stdout.readline() == "holding\n"
        written = threading.Event()

        def read_and_audit() -> None:
            with read_scope(url) as reading:
                reading.add(AuditEntry(at=sa.func.now(), actor="nav", action="seen", detail={}))
            written.set()

        threading.Thread(target=read_and_audit, daemon=True).start()
        assert not written.wait(0.5)  # the other process is writing
        other.stdin.close()
        assert written.wait(10)
    finally:
        other.kill()
        other.wait()
    with session_scope(url) as session:
        assert session.exec(select(AuditEntry.actor).where(AuditEntry.action == "seen")).all() == [
            "nav"
        ]
