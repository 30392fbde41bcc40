"""Queueing messages: the engine's side of the outbox.

A message is queued in the same transaction as the change that causes it, under an
idempotency key derived from that cause, so a change and its message commit together or
not at all, and a repeated cause never queues a second message. Delivery is the
notifications package's job.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from engine.bulk import insert_ignoring_conflicts
from engine.core.messages import Message
from engine.store import OutboxMessage


def queue(session: Session, messages: list[Message], now: datetime) -> int:
    """Queue messages in the caller's transaction; returns how many were new."""
    rows = [
        {
            "key": m.key,
            "kind": m.kind,
            "recipient": m.recipient,
            "case_ref": m.case_ref,
            "payload": m.payload,
            "status": "queued",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": m.deliver_at or now,
        }
        for m in messages
    ]
    return insert_ignoring_conflicts(session, OutboxMessage.__table__, rows, ["key"])
