"""Set-based inserts report what they inserted, on both databases."""

from __future__ import annotations

from engine.core.messages import Message
from engine.outbox import queue
from engine.store import session_scope
from tests.conftest import at


def test_queue_counts_only_new_messages(db_url: str) -> None:
    messages = [Message(f"k{n}", "digest", "nav@example.org", None, {"n": n}) for n in range(5)]
    with session_scope(db_url) as session:
        assert queue(session, messages, at("2027-01-01T08:00")) == 5
    with session_scope(db_url) as session:
        assert (
            queue(
                session,
                [*messages, Message("k9", "digest", "x@example.org", None)],
                at("2027-01-01T08:00"),
            )
            == 1
        )


def test_bulk_inserts_store_instants_exactly_as_sqlalchemy_does(db_url: str) -> None:
    """The fast path binds instants itself (cached on SQLite): the stored values, and the
    instants read back, are those of SQLAlchemy's own insert, whatever zone they come in."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import sqlalchemy as sa

    from engine.bulk import insert_rows
    from engine.store import AuditEntry

    table = AuditEntry.__table__
    moments = [
        datetime(2027, 7, 1, 9, 15, tzinfo=ZoneInfo("Europe/London")),
        datetime(2027, 10, 30, 23, 59, 59, 999999, tzinfo=ZoneInfo("Europe/Bucharest")),
        at("2027-01-01T00:00"),
    ]
    rows = [{"at": m, "actor": "t", "action": "bulk", "detail": {}} for m in moments]
    with session_scope(db_url) as session:
        insert_rows(session, table, rows)
        session.execute(sa.insert(table), [{**r, "action": "orm"} for r in rows])
    with session_scope(db_url) as session:
        text = sa.cast(table.c.at, sa.String)
        stored = session.execute(sa.select(table.c.action, text, table.c.at)).all()
    bulk = [(s, a) for action, s, a in stored if action == "bulk"]
    orm = [(s, a) for action, s, a in stored if action == "orm"]
    assert bulk == orm
    assert [a for _, a in bulk] == moments
