"""Issue 10, finding 4: no database text on any screen.

A database error's text holds the statement and its parameters (a case's facts as JSON);
a settings error's text holds the rejected value (a password). The CLI and Prefect show a
domain message ("case 'KNT-0042' already exists"), or the error's kind, and never that text.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import service
from engine.core.actors import operator
from engine.failures import EXIT_INTERNAL, EXIT_UNAVAILABLE, explain
from engine.files import private_dir
from engine.settings import Settings
from engine.store import engine_for, session_scope
from notifications.testing import free_port
from tests.conftest import PG_URL, STAFF_YAML, at
from tests.test_cli_cases import ALONGSIDE, run, state

SECRET = "ZZNATIONALITYSECRET"
JOURNEY = """\
journey: race-test
title: Race test
calendar: england-and-wales
timezone: Europe/London
start: referral
facts:
  nationality: {type: text}
events: [referral]
stages:
  - id: first-month
    title: First month
    obligations:
      - id: gp-registration
        title: Registered with a GP
        category: health
        due: 14 days after referral
"""
OPEN = (
    "case", "open", "KNT-0042", "--journey", "race-test", "--navigator", "nav@example.org",
    "--event", "referral=2027-01-04T09:00", "--fact", f"nationality={SECRET}",
    "--now", "2027-01-04T09:05",
)  # fmt: skip


@pytest.fixture
def journeys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped journeys' place taken by one with a text fact, for a visible secret."""
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "race-test.yaml").write_text(JOURNEY)
    monkeypatch.setenv("ALONGSIDE_JOURNEYS_DIR", str(folder))
    return folder


@pytest.fixture
def pg_staffed(home: Path, journeys: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if not PG_URL:
        pytest.skip("ALONGSIDE_TEST_DATABASE_URL not set")
    from tests.conftest import _empty_postgres

    _empty_postgres(PG_URL)
    monkeypatch.setenv("ALONGSIDE_DATABASE_URL", PG_URL)
    with session_scope(PG_URL) as session:
        service.import_staff(session, STAFF_YAML, at("2026-01-01T00:00"), operator())
    return PG_URL


def lock_waiters(url: str) -> int:
    """Sessions of this database waiting for a lock (the loser's INSERT on the index)."""
    with engine_for(url).connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


def test_the_loser_of_a_case_open_race_on_postgres_prints_one_line_without_facts(
    pg_staffed: str,
) -> None:
    """The exact race: the winner has inserted but not committed when the loser checks.

    The loser's check finds nothing, its INSERT waits on the unique index, then fails with
    an IntegrityError whose text holds the facts; it must print the domain message only.
    """
    url = pg_staffed
    inserted, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def winner() -> None:
        try:
            with session_scope(url) as session:
                service.open_case(session, Settings().catalog, "KNT-0042", "race-test",
                    "nav2@example.org",
                    {"referral": "2027-01-04T09:00"}, {"nationality": "other"},
                    at("2027-01-04T09:05"), operator(),
                )  # fmt: skip
                inserted.set()
                release.wait(60)
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)
            inserted.set()

    thread = threading.Thread(target=winner)
    thread.start()
    assert inserted.wait(60) and not failures
    loser = subprocess.Popen(
        [ALONGSIDE, *OPEN], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while lock_waiters(url) < 1:  # the loser is now blocked on the winner's row
        assert loser.poll() is None, loser.communicate()
        assert time.monotonic() < deadline, "the loser never reached its INSERT"
        time.sleep(0.05)
    release.set()
    thread.join(60)
    assert not failures
    stdout, stderr = loser.communicate(timeout=120)
    assert loser.returncode == 1, (stdout, stderr)
    assert stderr == "error: case 'KNT-0042' already exists\n"
    assert SECRET not in stdout + stderr
    with session_scope(url) as session:
        refs = session.execute(sa.text('SELECT ref, navigator_id FROM "case"')).all()
    assert len(refs) == 1  # the winner's case, untouched


def test_concurrent_case_opens_on_postgres_one_wins_the_rest_print_one_line(
    pg_staffed: str,
) -> None:
    """Four processes at once, however they interleave: one case, three one-line refusals."""
    processes = [
        subprocess.Popen(
            [ALONGSIDE, *OPEN], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    assert sorted(code for code, _, _ in results) == [0, 1, 1, 1], results
    for code, stdout, stderr in results:
        assert SECRET not in stdout + stderr
        if code:
            assert stderr == "error: case 'KNT-0042' already exists\n"
    with session_scope(pg_staffed) as session:
        assert session.execute(sa.text('SELECT count(*) FROM "case"')).scalar_one() == 1


def test_an_unreachable_database_is_one_line_naming_host_and_port_exit_69(home: Path) -> None:
    port = free_port()
    url = f"postgresql+psycopg://alongside:pw-ZZSECRET@127.0.0.1:{port}/alongside"
    env = {**os.environ, "ALONGSIDE_DATABASE_URL": url}
    for args in (("case", "list"), ("tick", "--now", "2027-01-05"), ("db", "upgrade")):
        result = subprocess.run(
            [ALONGSIDE, *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert result.returncode == EXIT_UNAVAILABLE == 69, result.stderr
        assert result.stderr == (
            f"error: cannot reach the database at 127.0.0.1:{port}: connection refused\n"
        )


@pytest.mark.parametrize(
    ("name", "value", "setting"),
    [
        ("ALONGSIDE_SMTP_PORT", "abc", "ALONGSIDE_SMTP_PORT"),
        ("ALONGSIDE_SMTP_TIMEOUT", "soon-ZZSECRET", "ALONGSIDE_SMTP_TIMEOUT"),
        ("ALONGSIDE_TRANSPORT", "pigeon-ZZSECRET", "ALONGSIDE_TRANSPORT"),
        (
            "ALONGSIDE_MAIL_FROM",
            "a@example.org\r\nBcc: ZZSECRET@example.org",
            "ALONGSIDE_MAIL_FROM",
        ),
        ("ALONGSIDE_MAIL_FROM", "Nav <ZZSECRET@example.org>, b@example.org", "ALONGSIDE_MAIL_FROM"),
    ],
)
def test_a_bad_setting_in_the_environment_is_named_never_shown(
    home: Path, name: str, value: str, setting: str
) -> None:
    env = {**os.environ, name: value}
    for args in (("outbox", "dispatch"), ("case", "list")):
        result = subprocess.run(
            [ALONGSIDE, *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: bad setting {setting} ")
        assert value not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "toml",
    [
        "smtp_password = 12345678987654321",
        'smtp_password = {secret = "ZZSECRET-pass"}',
        "smtp_password = [12345678987654321]",
        "smtp_username = 12345678987654321",
    ],
)
def test_a_numeric_or_complex_secret_in_alongside_toml_is_named_never_shown(
    home: Path, toml: str
) -> None:
    private_dir(home)  # a loose home would add its warning line
    (home / "alongside.toml").write_text(toml + "\n")
    (home / "alongside.toml").chmod(0o600)
    result = run("outbox", "dispatch", ok=False)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    setting = toml.split(" ")[0]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: bad setting ALONGSIDE_{setting.upper()} ({setting} ")
    assert "12345678987654321" not in result.stderr and "ZZSECRET" not in result.stderr


def test_explain_never_shows_a_database_errors_statement_or_parameters() -> None:
    secret = "Zuzanna-Kowalska-1987"
    integrity = sa.exc.IntegrityError(
        "INSERT INTO case (facts) VALUES (?)", {"facts": secret}, Exception("UNIQUE failed")
    )
    assert explain(integrity) == ("error: database error: IntegrityError (Exception)", 1)
    statement = sa.exc.StatementError("bad value", "UPDATE task SET note=?", [secret], None)
    line, status = explain(statement)
    assert secret not in line and status == 1 and line == "error: database error: StatementError"
    # A database error wrapped by other code is still found, and still not shown.
    try:
        try:
            raise integrity
        except sa.exc.IntegrityError as inner:
            raise RuntimeError(f"wrapped: {inner}") from inner
    except RuntimeError as outer:
        line, _ = explain(outer)
    assert secret not in line and "IntegrityError" in line
    # A bug is its type only: its text could hold anything.
    assert explain(KeyError(secret)) == (
        "internal error: KeyError (ALONGSIDE_DEBUG=1 shows more)",
        EXIT_INTERNAL,
    )


def test_a_real_connection_failure_is_explained_by_host_and_reason() -> None:
    port = free_port()
    url = f"postgresql+psycopg://u:pw-ZZSECRET@127.0.0.1:{port}/db"
    engine = sa.create_engine(url)
    with pytest.raises(sa.exc.OperationalError) as raised:
        engine.connect()
    line, status = explain(raised.value, url)
    assert (line, status) == (
        f"error: cannot reach the database at 127.0.0.1:{port}: connection refused",
        69,
    )


def test_prefect_steps_tell_a_database_error_by_its_safe_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flows import sweep as flows

    port = free_port()
    url = f"postgresql+psycopg://u:pw-ZZSECRET@127.0.0.1:{port}/db"

    def step() -> None:
        sa.create_engine(url).connect()

    with pytest.raises(flows.StepFailed) as raised:
        flows.private(step)()
    assert "ZZSECRET" not in str(raised.value)
    assert "cannot reach the database at" in str(raised.value)


def test_a_refused_case_open_changes_nothing(db_url: str, journeys: Path, tmp_path: Path) -> None:
    """The loser's message also when the check sees the winner: same line, nothing written."""
    staff = tmp_path / "staff.yaml"
    staff.write_text(STAFF_YAML)
    run("staff", "import", str(staff))
    run(*OPEN)
    before = state(db_url)
    result = run(*OPEN, ok=False)
    assert result.returncode == 1 and result.stderr == "error: case 'KNT-0042' already exists\n"
    assert state(db_url) == before
