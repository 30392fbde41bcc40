"""Dispatch on PostgreSQL: claims skip locked rows, so two dispatchers never send one twice.

Runs when ALONGSIDE_TEST_DATABASE_URL names a PostgreSQL server; each test works in a
fresh database of its own, created next to that one and dropped afterwards.
"""

import os
import threading
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engine import store
from engine.core.messages import Message
from engine.outbox import queue
from engine.settings import Settings
from engine.store import OutboxMessage, session_scope
from notifications import dispatch as dispatch_module
from notifications.dispatch import dispatch
from notifications.testing import Recorder, smtp_server

pytestmark = pytest.mark.postgres
T0 = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def pg_url():
    base = os.environ.get("ALONGSIDE_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.skip("needs ALONGSIDE_TEST_DATABASE_URL (PostgreSQL)")
    name = f"alongside_dispatch_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    store.upgrade(url)
    try:
        yield url
    finally:
        store.engine_for(url).dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def recorder(tmp_path, monkeypatch):
    recorder = Recorder()
    with smtp_server(recorder) as port:
        monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path))
        monkeypatch.setenv("ALONGSIDE_TRANSPORT", "smtp")
        monkeypatch.setenv("ALONGSIDE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ALONGSIDE_SMTP_PORT", str(port))
        monkeypatch.setenv("ALONGSIDE_SMTP_CONCURRENCY", "2")
        yield recorder


def put(url: str, n: int) -> None:
    payload = {"timezone": "UTC", "items": []}
    messages = [Message(f"m:{i}", "overdue", "nav@example.org", None, payload) for i in range(n)]
    with session_scope(url) as session:
        queue(session, messages, T0)


def test_locked_rows_are_skipped_not_waited_for(pg_url, recorder):
    put(pg_url, 10)
    engine = store.engine_for(pg_url)
    with engine.connect() as other, other.begin():
        table = OutboxMessage.__table__
        locked = (
            other.execute(sa.select(table.c.id).order_by(table.c.id).limit(4).with_for_update())
            .scalars()
            .all()
        )
        result = dispatch(pg_url, T0, Settings())  # would block here without SKIP LOCKED
    assert result.sent == 6
    assert dispatch(pg_url, T0, Settings()).sent == 4
    ids = recorder.message_ids()
    assert len(ids) == 10 and set(ids.values()) == {1}
    assert len(locked) == 4


def test_two_dispatchers_at_once_send_each_message_once(pg_url, recorder, monkeypatch):
    monkeypatch.setattr(dispatch_module, "BATCH_SIZE", 15)  # many claims, so they interleave
    put(pg_url, 300)
    results = []
    start = threading.Barrier(2)

    def worker():
        start.wait()
        results.append(dispatch(pg_url, T0, Settings()))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.sent for r in results) == 300
    ids = recorder.message_ids()
    assert len(ids) == 300 and set(ids.values()) == {1}
    with session_scope(pg_url) as session:
        statuses = session.exec(select(OutboxMessage.status).distinct()).all()
    assert statuses == ["sent"]
