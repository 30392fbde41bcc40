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
