"""Database timeouts and outages at the command line: real servers, no mocks.

A refused port, a server that accepts and never answers (tests/blackhole.py), and on
PostgreSQL a statement held past statement_timeout: each is one line and exit 69, within
the configured timeout.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from alongside.app import EX_UNAVAILABLE, main
from engine import failures, store
from engine.settings import Settings
from notifications.testing import free_port
from tests.blackhole import silent_server
from tests.conftest import PG_URL


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, float]:
    began = time.monotonic()
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    return exited.value.code, capsys.readouterr().err, time.monotonic() - began


def test_a_refused_database_is_one_line_and_exit_69(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    monkeypatch.setenv(
        "ALONGSIDE_DATABASE_URL", f"postgresql+psycopg://alongside:s3cret@127.0.0.1:{port}/x"
    )
    code, err, _ = run_main(capsys, "case", "list")
    assert code == EX_UNAVAILABLE == 69
    assert err == f"error: cannot reach the database at 127.0.0.1:{port}: connection refused\n"
    assert "s3cret" not in err


def test_a_database_that_never_answers_times_out_on_connect(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALONGSIDE_DB_CONNECT_TIMEOUT", "2")
    with silent_server() as port:
        monkeypatch.setenv("ALONGSIDE_DATABASE_URL", f"postgresql+psycopg://u@127.0.0.1:{port}/x")
        code, err, took = run_main(capsys, "case", "list")
    assert code == 69
    assert err == f"error: cannot reach the database at 127.0.0.1:{port}: connection timed out\n"
    assert took < 15  # psycopg tries each address once within connect_timeout


def test_timeouts_reach_the_driver_from_the_settings() -> None:
    settings = Settings(
        database_url="postgresql+psycopg://u:p@db.internal/alongside",
        db_connect_timeout=3,
        db_statement_timeout=1.5,
    )
    url, connect_args = store.timeouts(settings.url)
    assert url == "postgresql+psycopg://u:p@db.internal/alongside"
    assert connect_args == {"connect_timeout": 3, "options": "-c statement_timeout=1500"}
    defaults = store.timeouts("postgresql+psycopg://u@db.internal/alongside")[1]
    assert defaults == {"connect_timeout": 10, "options": "-c statement_timeout=120000"}
    assert store.timeouts(Settings(home=Path("/h")).url) == (
        "sqlite:////h/alongside.db",
        {"timeout": store.BUSY_TIMEOUT},
    )
    busy = Settings(home=Path("/h"), db_busy_timeout=5).url
    assert store.timeouts(busy) == ("sqlite:////h/alongside.db", {"timeout": 5.0})


def test_the_sqlite_busy_timeout_is_applied(tmp_path: Path) -> None:
    url = store.with_timeouts(f"sqlite:///{tmp_path}/a.db", busy=2.5)
    with store.engine_for(url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500


@pytest.mark.skipif(not PG_URL, reason="ALONGSIDE_TEST_DATABASE_URL not set")
def test_a_statement_past_the_statement_timeout_is_cancelled_by_postgresql() -> None:
    store.upgrade(PG_URL)
    url = store.with_timeouts(PG_URL, statement=1)
    began = time.monotonic()
    with pytest.raises(sa.exc.OperationalError) as raised, store.session_scope(url) as session:
        session.execute(sa.text("SELECT pg_sleep(30)"))
    assert time.monotonic() - began < 10
    line, status = failures.database_message(raised.value, url)
    assert line == "the database at 127.0.0.1:5432 did not answer: statement timeout"
    assert status == failures.EXIT_UNAVAILABLE
