"""A hung tick fails within its timeout, and the next tick runs (the session's Prefect API).

Two ways a database hangs: it accepts connections and never answers (a silent TCP server
on loopback: the connect timeout ends it), and on PostgreSQL a lock that another session
holds (the flow's own `timeout_seconds` ends it, and the statement timeout does too).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import service, store
from engine.core.actors import operator
from flows import sweep as flows
from tests.blackhole import silent_server
from tests.conftest import PG_URL, STAFF_YAML, _empty_postgres, at, shipped_catalog

pytestmark = pytest.mark.usefixtures("prefect_api")

NOW = at("2027-01-06T12:00")


def tick(flow=flows.tick_flow, now=NOW):
    began = time.monotonic()
    state = flows.call(flow, {"now": now}, "test")
    return state, time.monotonic() - began


def test_a_database_that_never_answers_fails_the_tick_and_the_next_one_runs(
    staffed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALONGSIDE_DB_CONNECT_TIMEOUT", "2")
    with silent_server() as port:
        monkeypatch.setenv("ALONGSIDE_DATABASE_URL", f"postgresql+psycopg://u@127.0.0.1:{port}/x")
        state, took = tick()
    assert state.is_failed()
    assert state.message.endswith("tick failed with OperationalError (see the local log)")
    assert str(port) not in state.message  # its type only, like a task's error
    assert took < 20

    monkeypatch.setenv("ALONGSIDE_DATABASE_URL", staffed)
    if staffed.startswith("sqlite"):
        monkeypatch.delenv("ALONGSIDE_DATABASE_URL")
    after, _ = tick(now=at("2027-01-06T12:15"))
    assert after.is_completed(), after.message


@pytest.fixture
def pg(home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if not PG_URL:
        pytest.skip("ALONGSIDE_TEST_DATABASE_URL not set")
    _empty_postgres(PG_URL)
    monkeypatch.setenv("ALONGSIDE_DATABASE_URL", PG_URL)
    return PG_URL


def locked(url: str, table: str = "case"):
    """Another session holding a table, as a stuck migration or backup would."""
    connection = store.engine_for(url).connect()
    transaction = connection.begin()
    connection.execute(sa.text(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE'))
    return connection, transaction


@pytest.mark.parametrize("table", ["case", "task"])
def test_a_tick_blocked_past_its_flow_timeout_times_out_and_the_next_runs(
    pg: str, table: str
) -> None:
    """Blocked on the case table, the tick waits before any batch; on the task table, inside
    a batch in flight: on PostgreSQL batches plan in threads (`sweep.planners`), and a
    timed-out tick (and its concurrency slot) must not wait for one until the statement
    timeout (120 s)."""
    with store.session_scope(pg) as session:  # one case due for planning
        service.import_staff(session, STAFF_YAML, at("2026-01-01T00:00"), operator())
        service.open_case(session, shipped_catalog(), "KNT-0001", "adult-cjs", "nav@example.org",
                          {"referral": "2027-01-04T09:00"}, {"age": "34"}, at("2027-01-04T06:55"),
                          operator())  # fmt: skip
        session.execute(sa.update(store.Case).values(replan_at=store.EPOCH))
    connection, transaction = locked(pg, table)
    try:
        state, took = tick(flows.tick_flow.with_options(timeout_seconds=3))
    finally:
        transaction.rollback()
        connection.close()
    assert state.is_failed() and state.name == "TimedOut", (state.name, state.message)
    assert took < 15
    after, _ = tick(now=at("2027-01-06T12:15"))
    assert after.is_completed(), after.message


def test_a_tick_blocked_past_the_statement_timeout_fails(
    pg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALONGSIDE_DB_STATEMENT_TIMEOUT", "2")
    connection, transaction = locked(pg)
    try:
        state, took = tick()
    finally:
        transaction.rollback()
        connection.close()
    assert state.is_failed()
    assert state.message.endswith("failed with OperationalError (see the local log)")
    assert took < 15
