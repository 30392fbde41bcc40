"""Issue 10, finding 5: private files, whatever the umask.

The home is created 0700; the SQLite database, its -wal and -shm, every .eml, the log and
any export are 0600, set explicitly rather than left to the umask (tested with 0o022 and
0o000). An existing home with looser modes gets a one-line warning from any command, and
`alongside db upgrade` fixes it.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import files
from engine.store import engine_for
from tests.conftest import STAFF_YAML
from tests.test_cli_cases import ALONGSIDE

UMASKS = [0o022, 0o000]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def cli(*args: str, mask: int = 0o022) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ALONGSIDE, *args], capture_output=True, text=True, timeout=120, umask=mask
    )


@pytest.mark.parametrize("mask", UMASKS)
def test_a_new_home_its_database_and_every_message_are_private(
    home: Path, tmp_path: Path, mask: int
) -> None:
    staff = tmp_path / "staff.yaml"
    staff.write_text(STAFF_YAML)
    assert not home.exists()
    for args in (
        ("staff", "import", str(staff)),
        ("case", "open", "KNT-0001", "--journey", "adult-cjs", "--navigator", "nav@example.org",
         "--event", "referral=2027-01-04T09:00", "--now", "2027-01-04T09:05"),
        ("tick", "--now", "2027-01-06T12:00"),
    ):  # fmt: skip
        result = cli(*args, mask=mask)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # no warning: the home the CLI made is private
    assert mode(home) == 0o700
    assert mode(home / "alongside.db") == 0o600
    messages = sorted((home / "outbox").glob("*.eml"))
    assert messages, "the tick should have written messages"
    assert mode(home / "outbox") == 0o700
    assert {mode(m) for m in messages} == {0o600}
    for companion in ("alongside.db-wal", "alongside.db-shm"):
        if (home / companion).exists():
            assert mode(home / companion) == 0o600


@pytest.mark.parametrize("mask", UMASKS)
def test_a_home_made_by_seeding_its_journeys_is_private(
    home: Path, monkeypatch: pytest.MonkeyPatch, mask: int
) -> None:
    """The first thing a new home may get is its own copy of the shipped journeys (as in
    `make demo`); the folders that creates are 0700 like the rest."""
    monkeypatch.delenv("ALONGSIDE_JOURNEYS_DIR")
    assert not home.exists()
    first = cli("journeys", "validate", mask=mask)
    assert first.returncode == 0, first.stderr
    assert mode(home) == 0o700 and mode(home / "journeys") == 0o700
    again = cli("journeys", "validate", mask=mask)
    assert (again.returncode, again.stderr) == (0, "")  # no "readable by other users"


@pytest.mark.parametrize("mask", UMASKS)
def test_sqlite_wal_and_shm_are_private_while_the_database_is_open(
    tmp_path: Path, mask: int
) -> None:
    url = f"sqlite:///{tmp_path / f'h{mask}' / 'deep' / 'alongside.db'}"
    with umask(mask):
        engine = engine_for(url)
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT count(*) FROM staff")).scalar_one()
            folder = tmp_path / f"h{mask}" / "deep"
            assert mode(folder) == 0o700 and mode(folder.parent) == 0o700
            for name in ("alongside.db", "alongside.db-wal", "alongside.db-shm"):
                assert (folder / name).exists(), name
                assert mode(folder / name) == 0o600, name
    engine.dispose()


@pytest.mark.parametrize("mask", UMASKS)
def test_the_log_file_and_its_rotations_are_private(tmp_path: Path, mask: int) -> None:
    import prefect  # noqa: F401  (configure_logging uses Prefect's formatter)

    from flows.settings import configure_logging

    home = tmp_path / "home"
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        with umask(mask):
            path = configure_logging(home)
            logging.getLogger("alongside.test").warning("first line")
            handler = next(h for h in root.handlers if h not in before)
            assert mode(home) == 0o700 and mode(path.parent) == 0o700
            assert mode(path) == 0o600
            handler.doRollover()
            logging.getLogger("alongside.test").warning("after the rollover")
            assert mode(path) == 0o600
            assert mode(path.with_name(path.name + ".1")) == 0o600
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()


@pytest.mark.parametrize("mask", UMASKS)
def test_an_export_is_private(tmp_path: Path, mask: int) -> None:
    target = tmp_path / "home" / "exports" / "cases.csv"
    with umask(mask):
        files.write_private(target, b"ref\nKNT-0001\n")
    assert mode(target) == 0o600 and mode(target.parent) == 0o700
    assert mode(target.parent.parent) == 0o700
    target.chmod(0o644)
    with umask(mask):
        files.write_private(target, b"again\n")
    assert mode(target) == 0o600  # an existing file is made private, not just new ones


def loosen(home: Path) -> list[Path]:
    """An existing home as an older version (or a careless copy) left it: readable by all."""
    paths = [
        home / "alongside.db",
        home / "alongside.toml",
        home / "outbox" / "00000001.eml",
        home / "logs" / "alongside.log",
        home / "logs" / "alongside.log.1",
        home / "exports" / "cases.csv",
    ]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text("" if path.suffix in (".db", ".toml") else "x\n")
        path.chmod(0o644)
    for folder in (home, home / "outbox", home / "logs", home / "exports"):
        folder.chmod(0o755)
    return paths


def test_a_loose_home_gets_one_warning_line_and_db_upgrade_fixes_it(home: Path) -> None:
    result = cli("staff", "list")  # makes the database and its schema
    assert result.returncode == 0 and result.stderr == "", result.stderr
    paths = loosen(home)

    for args in (("staff", "list"), ("case", "list", "--json"), ("journeys", "validate")):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"warning: {home} is readable by other users (mode 0755)")
        assert "alongside db upgrade" in lines[0]
    assert mode(home) == 0o755  # only warned about: nothing else changes modes

    result = cli("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "private" in result.stdout
    for folder in (home, home / "outbox", home / "logs", home / "exports"):
        assert mode(folder) == 0o700, folder
    for path in paths:
        assert mode(path) == 0o600, path
    result = cli("staff", "list")
    assert result.returncode == 0 and result.stderr == ""


def test_a_loose_database_file_alone_is_warned_about(home: Path) -> None:
    assert cli("staff", "list").returncode == 0
    (home / "alongside.db").chmod(0o640)
    result = cli("staff", "list")
    assert result.stderr == (
        f"warning: {home / 'alongside.db'} is readable by other users (mode 0640): "
        "run `alongside db upgrade` to make the home private\n"
    )


def test_private_dir_leaves_an_existing_directory_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    files.private_dir(shared)
    assert mode(shared) == 0o755
    files.private_sqlite(shared / "alongside.db")
    assert mode(shared) == 0o755 and mode(shared / "alongside.db") == 0o600
