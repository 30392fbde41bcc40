"""Queueing messages: the engine's side of the outbox.

A message is queued in the same transaction as the change that causes it, under an
idempotency key derived from that cause, so a change and its message commit together or
not at all, and a repeated cause never queues a second message. Delivery is the
notifications package's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from engine.bulk import insert_ignoring_conflicts
from engine.store import OutboxMessage


@dataclass(frozen=True, slots=True)
class Message:
    key: str
    kind: str  # reminder | overdue | escalation | replan | digest
    recipient: str
    case_ref: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    deliver_at: datetime | None = None  # hold until (quiet hours); default: at once


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
