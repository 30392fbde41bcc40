"""Shared fixtures: a fresh home and database per test, on SQLite and on PostgreSQL.

PostgreSQL tests run when ALONGSIDE_TEST_DATABASE_URL names a database (`.ci/run` creates
one on the machine's server); the schema is migrated once and emptied between tests.
Prefect is kept from starting an ephemeral server by accident: only the tests that ask for
the `prefect_api` fixture get a real (test-harness) API.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.core.actors import operator

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="alongside-prefect-"))
os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "journeys"
# The shipped pathway journeys (all but triage), in the order the guide lists them.
SHIPPED_IDS = (
    "adult-cjs",
    "adult-declined-nrm",
    "child-cjs",
    "safe-return-romania",
    "adult-scotland",
    "adult-northern-ireland",
)
PG_URL = os.environ.get("ALONGSIDE_TEST_DATABASE_URL")


def shipped_catalog():
    """The shipped journeys, as the `home` fixture configures them."""
    from engine.catalog import Catalog

    return Catalog(SHIPPED)


STAFF_YAML = """
organisations:
  - {id: kent, name: Kent Police, calendar: england-and-wales, timezone: Europe/London}
  - {id: ro, name: Romania team, calendar: romania, timezone: Europe/Bucharest}
staff:
  - {email: lead@example.org, name: Lee, role: team_lead, organisation: kent}
  - {email: nav@example.org, name: Ana, role: navigator, organisation: kent, lead: lead@example.org}
  - {email: nav2@example.org, name: Bo, role: navigator, organisation: kent, lead: lead@example.org}
  - {email: prog@example.org, name: Pat, role: programme_lead, organisation: kent}
  - {email: ro-lead@example.org, name: Ilie, role: team_lead, organisation: ro}
  - {email: ro-nav@example.org, name: Ioana, role: navigator, organisation: ro,
     lead: ro-lead@example.org}
"""


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run `alongside ARGS` in this process: (exit code, stdout, stderr)."""
    from alongside.app import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def only_journey(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str):
    """A journeys folder holding this one journey, which the setting then names: the
    shipped journeys are out of the way, and the CLI sees what the test's catalog sees.
    The home is the test's own too (as the `home` fixture makes it), never the checkout's."""
    from engine.catalog import Catalog

    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / name).write_text(text)
    monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ALONGSIDE_JOURNEYS_DIR", str(folder))
    return Catalog(folder)


def problems(text: str, file: str) -> list[str]:
    """The validation problems of journey `text` as `file`, each as printed; the text must
    have some."""
    from engine.core.loader import JourneyError, parse_journey

    with pytest.raises(JourneyError) as raised:
        parse_journey(text, file)
    return [str(p) for p in raised.value.problems]


def simulated(capsys: pytest.CaptureFixture, journey: str, *args: str) -> dict[str, str]:
    """`alongside journeys simulate JOURNEY ARGS --json`, which must succeed: each planned
    obligation's local due date (`due_local`)."""
    import json

    code, out, err = cli(capsys, "journeys", "simulate", journey, *args, "--json")
    assert (code, err) == (0, "")
    return {row["obligation"]: row["due_local"] for row in json.loads(out)}


def at(text: str) -> datetime:
    """A UTC instant from ISO text, for readable tests."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _empty_postgres(url: str) -> None:
    import sqlalchemy as sa

    from engine import store

    store.upgrade(url)
    engine = store.engine_for(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "TRUNCATE web_session, signin_link, audit, outbox, task_history, "
                "acknowledgement, installation, task, "
                "investigation_event, investigation_case, investigation, case_move, "
                'case_event, "case", staff, organisation RESTART IDENTITY CASCADE'
            )
        )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ALONGSIDE_HOME using the shipped journeys and the file transport."""
    monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ALONGSIDE_JOURNEYS_DIR", str(SHIPPED))
    monkeypatch.setenv("ALONGSIDE_TRANSPORT", "file")
    monkeypatch.delenv("ALONGSIDE_DATABASE_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The database a test runs against: SQLite in the home, or the CI's PostgreSQL."""
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("ALONGSIDE_TEST_DATABASE_URL not set")
        _empty_postgres(PG_URL)
        monkeypatch.setenv("ALONGSIDE_DATABASE_URL", PG_URL)
        yield PG_URL
    else:
        yield f"sqlite:///{home / 'alongside.db'}"


@pytest.fixture
def staffed(db_url: str) -> str:
    """A database with the test organisations and staff imported."""
    from engine import service
    from engine.store import session_scope

    with session_scope(db_url) as session:
        service.import_staff(session, STAFF_YAML, at("2026-01-01T00:00"), operator())
    return db_url
