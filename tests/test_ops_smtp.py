"""The SMTP timeout is applied: a mail server that accepts and never greets does not hang a
dispatch; the message waits for its retry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlmodel import select

from engine.outbox import Message, queue
from engine.settings import Settings
from engine.store import OutboxMessage, session_scope
from notifications.dispatch import dispatch
from tests.blackhole import silent_server
from tests.conftest import at

T0 = at("2027-01-06T09:00")
REMINDER = {
    "case": "KNT-1",
    "task_id": 1,
    "title": "Task number 1",
    "stage": "First month",
    "category": "accommodation",
    "due": "2027-01-06T23:59:59+00:00",
    "precision": "day",
    "sequence": 0,
    "timezone": "Europe/London",
}


def test_a_silent_mail_server_times_out_and_the_message_waits_for_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    with session_scope(url) as session:
        queue(session, [Message("r:1", "reminder", "nav@example.org", "KNT-1", REMINDER)], T0)
    with silent_server() as port:
        settings = Settings(
            home=tmp_path, transport="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=1
        )
        began = time.monotonic()
        result = dispatch(url, T0, settings)
        took = time.monotonic() - began
    assert (result.sent, result.retrying, result.failed) == (0, 1, 0)
    assert took < 10
    with session_scope(url) as session:
        row = session.exec(select(OutboxMessage)).one()
    assert row.status == "queued" and row.next_attempt_at > T0 and row.attempts == 1
