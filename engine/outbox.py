"""Queueing messages: the engine's side of the outbox.

A message is queued in the same transaction as the change that causes it, under an
idempotency key derived from that cause, so a change and its message commit together or
not at all, and a repeated cause never queues a second message. Delivery is the
notifications package's job.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from engine.bulk import insert_ignoring_conflicts
from engine.core.messages import Message
from engine.store import OutboxMessage, Staff


def queue(session: Session, messages: list[Message], now: datetime) -> int:
    """Queue messages in the caller's transaction; returns how many were new.

    Nothing is queued for a leaver (inactive staff): whichever pass produced the message,
    a person who has left gets no more of them.
    """
    if messages:
        gone = set(
            session.execute(
                sa.select(Staff.email).where(
                    Staff.email.in_({m.recipient for m in messages}), Staff.active == sa.false()
                )
            ).scalars()
        )
        messages = [m for m in messages if m.recipient not in gone]
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
