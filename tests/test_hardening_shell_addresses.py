"""Issue 10, finding 3: addresses are addresses.

A staff address becomes a `To:` header and an SMTP recipient, so anything but one plain
ASCII address is refused at import (with the staff file's line) and wherever an address is
typed (`--navigator`); and rendering refuses a recipient that got into the outbox anyway,
so the message fails with a clear reason instead of going somewhere else.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.addresses import AddressError, check_address
from engine.core.messages import Message
from engine.outbox import queue
from engine.settings import Settings
from engine.store import AuditEntry, OutboxMessage, session_scope
from notifications.render import InvalidRecipient, render_outgoing
from notifications.testing import Recorder, smtp_server
from tests.conftest import STAFF_YAML
from tests.test_cli_cases import ALONGSIDE, run, state

NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
INJECTION = "inj1@example.org\r\nBcc: evil1@attacker.test"
DISPLAY_NAME = "Nav <evil3@attacker.test>"
INTERNATIONAL = "navé@exämple.org"
BAD = [
    INJECTION,
    DISPLAY_NAME,
    INTERNATIONAL,
    "Nav <evil3@example.org>",  # a display name on an ordinary domain, too
    "a@example.org, evil4@attacker.test",
    "a@example.org; evil5@attacker.test",
    "",
    " ",
    "inj2@example.org\nBcc: evil2@attacker.test",
    '"quoted local"@example.org',
    "no-at-sign.example.org",
]


def yaml_string(text: str) -> str:
    """`text` as a double-quoted YAML scalar (escapes for CR, LF and quotes)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "\\r").replace("\n", "\\n") + '"'


def one_line(result: subprocess.CompletedProcess) -> str:
    """The single stderr line of a refused command (and that it was refused cleanly)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return lines[0]


def _programme(tmp_path: Path) -> Path:
    staff = tmp_path / "staff.yaml"
    staff.write_text(STAFF_YAML)
    run("staff", "import", str(staff))
    run(
        "case", "open", "KNT-0001", "--journey", "adult-cjs", "--navigator", "nav@example.org",
        "--event", "referral=2027-01-04T09:00", "--now", "2027-01-04T09:05",
    )  # fmt: skip
    return staff


@pytest.fixture
def programme(db_url: str, tmp_path: Path) -> Path:
    """Staff and one case, on SQLite and on PostgreSQL."""
    return _programme(tmp_path)


@pytest.fixture
def sqlite_programme(home: Path, tmp_path: Path) -> Path:
    """The same on SQLite only: for the long lists of bad addresses (each is a process)."""
    return _programme(tmp_path)


@pytest.mark.parametrize("address", BAD)
def test_check_address_refuses_everything_but_one_plain_address(address: str) -> None:
    with pytest.raises(AddressError):
        check_address(address)


def test_check_address_keeps_a_plain_address_as_given() -> None:
    assert check_address("Nav.Two+kent@Example.org") == "Nav.Two+kent@Example.org"


@pytest.mark.parametrize("field", ["email", "lead"])
@pytest.mark.parametrize("address", BAD)
def test_staff_import_refuses_a_bad_address_with_its_line_and_changes_nothing(
    sqlite_programme: Path, home: Path, tmp_path: Path, address: str, field: str
) -> None:
    db_url = f"sqlite:///{home / 'alongside.db'}"
    before = state(db_url)
    person = {
        "email": "new@example.org",
        "name": "Nav",
        "role": "navigator",
        "organisation": "kent",
        "lead": "lead@example.org",
    }
    person[field] = address
    entry = "\n".join(
        f"    {key}: {yaml_string(value)}" if n else f"  - {key}: {yaml_string(value)}"
        for n, (key, value) in enumerate(person.items())
    )
    text = STAFF_YAML + entry + "\n"
    lines = text.splitlines()
    line = 1 + next(
        n for n, t in enumerate(lines) if t.endswith(f" {field}: {yaml_string(address)}")
    )
    staff = tmp_path / "bad.yaml"
    staff.write_text(text, encoding="utf-8")
    if field == "lead" and not address:  # an empty lead is no lead: nothing to refuse
        assert run("staff", "import", str(staff)).returncode == 0
        return
    message = one_line(run("staff", "import", str(staff), ok=False))
    assert message.startswith(f"error: {staff}:{line}:"), message
    reasons = (f"'{field}' is missing", "not a single plain email address")
    assert any(reason in message for reason in reasons), message
    assert "attacker" not in message and "\r" not in message
    assert state(db_url) == before


def test_an_internationalised_address_is_refused_at_import_with_a_plain_reason(
    programme: Path, db_url: str, tmp_path: Path
) -> None:
    before = state(db_url)
    staff = tmp_path / "idn.yaml"
    staff.write_text(
        STAFF_YAML
        + f"  - {{email: {INTERNATIONAL}, name: N, role: navigator, organisation: kent}}\n",
        encoding="utf-8",
    )
    message = one_line(run("staff", "import", str(staff), ok=False))
    line = len(STAFF_YAML.splitlines()) + 1
    assert message.startswith(f"error: {staff}:{line}:"), message
    assert message.endswith(
        "internationalised (non-ASCII) email addresses are not supported; "
        "use the person's ASCII address"
    ), message
    assert state(db_url) == before


def test_the_staff_list_shows_exactly_the_address_mail_goes_to(programme: Path) -> None:
    """`staff list` showing "Nav" while mail went to the attacker is no longer possible."""
    import json

    rows = json.loads(run("staff", "list", "--json").stdout)
    for row in rows:
        assert check_address(row["email"]) == row["email"]


def test_a_staff_file_listing_one_address_twice_is_refused_at_the_second(
    programme: Path, db_url: str, tmp_path: Path
) -> None:
    before = state(db_url)
    staff = tmp_path / "twice.yaml"
    staff.write_text(
        STAFF_YAML
        + "  - {email: nav@example.org, name: Other, role: navigator, organisation: kent}\n"
    )
    message = one_line(run("staff", "import", str(staff), ok=False))
    assert message.startswith(f"error: {staff}:{len(STAFF_YAML.splitlines()) + 1}:"), message
    assert "nav@example.org is listed twice" in message
    assert state(db_url) == before


def test_an_unknown_organisation_names_its_line(
    programme: Path, db_url: str, tmp_path: Path
) -> None:
    staff = tmp_path / "org.yaml"
    staff.write_text(
        STAFF_YAML + "  - email: x@example.org\n    name: X\n    role: navigator\n"
        "    organisation: nowhere\n"
    )
    message = one_line(run("staff", "import", str(staff), ok=False))
    assert message.startswith(f"error: {staff}:{len(STAFF_YAML.splitlines()) + 4}:"), message
    assert "unknown organisation 'nowhere'" in message


def test_the_issues_three_addresses_are_refused_at_import_on_either_database(
    programme: Path, db_url: str, tmp_path: Path
) -> None:
    before = state(db_url)
    for n, address in enumerate([INJECTION, DISPLAY_NAME, INTERNATIONAL]):
        staff = tmp_path / f"issue-{n}.yaml"
        entry = (
            f"  - {{email: {yaml_string(address)}, name: Nav, role: navigator, organisation: kent}}"
        )
        staff.write_text(STAFF_YAML + entry + "\n", encoding="utf-8")
        message = one_line(run("staff", "import", str(staff), ok=False))
        assert message.startswith(f"error: {staff}:{len(STAFF_YAML.splitlines()) + 1}:")
        assert "not a single plain email address" in message
    assert state(db_url) == before


@pytest.mark.parametrize("address", [INJECTION, DISPLAY_NAME, INTERNATIONAL])
@pytest.mark.parametrize("command", ["open", "assign", "case-list", "task-list"])
def test_navigator_options_take_one_plain_address(
    sqlite_programme: Path, home: Path, address: str, command: str
) -> None:
    db_url = f"sqlite:///{home / 'alongside.db'}"
    before = state(db_url)
    args = {
        "open": ["case", "open", "KNT-0002", "--journey", "adult-cjs", "--navigator", address,
                 "--event", "referral=2027-01-04T09:00"],
        "assign": ["case", "assign", "KNT-0001", "--navigator", address, "--reason", "cover"],
        "case-list": ["case", "list", "--navigator", address],
        "task-list": ["task", "list", "--navigator", address],
    }[command]  # fmt: skip
    message = one_line(run(*args, ok=False))
    assert message.startswith("error: --navigator ") and "is not a single email address" in message
    assert "\r" not in message and "\n" not in message
    assert state(db_url) == before


# --- defence in depth: rows that got into the outbox anyway -------------------------------


def reminder(recipient: str, n: int) -> Message:
    payload = {
        "case": "KNT-0001",
        "task_id": n,
        "title": "Registered with a GP",
        "stage": "First month",
        "category": "health",
        "due": "2027-01-18T23:59:59+00:00",
        "precision": "day",
        "sequence": 0,
        "timezone": "Europe/London",
    }
    return Message(f"reminder:{n}", "reminder", recipient, "KNT-0001", payload)


def test_rendering_refuses_a_recipient_that_is_not_one_plain_address(home: Path) -> None:
    url = f"sqlite:///{home / 'alongside.db'}"
    with session_scope(url) as session:
        queue(session, [reminder(address, n) for n, address in enumerate(BAD, 1)], NOW)
    with session_scope(url) as session:
        rows = session.execute(sa.select(OutboxMessage)).scalars().all()
    for row in rows:
        with pytest.raises(InvalidRecipient, match="recipient is not a single plain address"):
            render_outgoing(row, Settings(), NOW)


def test_a_subject_with_a_line_break_cannot_add_a_header(home: Path) -> None:
    url = f"sqlite:///{home / 'alongside.db'}"
    message = reminder("nav@example.org", 1)
    message.payload["title"] = "GP\r\nBcc: evil6@attacker.test"
    with session_scope(url) as session:
        queue(session, [message], NOW)
    with session_scope(url) as session:
        row = session.execute(sa.select(OutboxMessage)).scalars().one()
    data = render_outgoing(row, Settings(), NOW).data
    headers = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers and b"\nBcc:" not in headers


def test_dispatch_fails_bad_recipients_at_once_with_a_clear_reason_and_sends_the_rest(
    db_url: str, home: Path
) -> None:
    """Staff rows written before the import checked addresses (the issue's three), over SMTP.

    Nothing reaches the attacker, no `Bcc:` is sent, no traceback is printed, and each bad
    message is kept as `failed` with a reason a person can act on; the good one arrives.
    """
    with session_scope(db_url) as session:
        queue(
            session,
            [reminder(a, n) for n, a in enumerate([INJECTION, DISPLAY_NAME, INTERNATIONAL], 1)]
            + [reminder("nav@example.org", 4)],
            NOW,
        )
    recorder = Recorder()
    with smtp_server(recorder) as port:
        env = {
            **os.environ,
            "ALONGSIDE_TRANSPORT": "smtp",
            "ALONGSIDE_SMTP_HOST": "127.0.0.1",
            "ALONGSIDE_SMTP_PORT": str(port),
            "ALONGSIDE_SMTP_TIMEOUT": "5",
        }
        result = subprocess.run(
            [ALONGSIDE, "outbox", "dispatch", "--now", "2027-01-05T09:00", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert '"sent": 1' in result.stdout and '"failed": 3' in result.stdout
    assert recorder.envelopes == [(Settings().mail_from, ["nav@example.org"])]
    assert [m["To"] for m in recorder.messages] == ["nav@example.org"]
    assert all(m["Bcc"] is None for m in recorder.messages)
    with session_scope(db_url) as session:
        rows = {r.recipient: r for r in session.execute(sa.select(OutboxMessage)).scalars().all()}
        failures = session.execute(
            sa.select(AuditEntry.action).where(AuditEntry.action == "outbox.failed")
        ).all()
    for address in (INJECTION, DISPLAY_NAME, INTERNATIONAL):
        row = rows[address]
        assert row.status == "failed" and row.attempts == 1 and row.sent_at is None
        assert row.last_error.startswith("recipient is not a single plain address: ")
    assert rows["nav@example.org"].status == "sent"
    assert len(failures) == 3


def test_staff_rows_with_bad_addresses_never_reach_the_file_outbox(db_url: str, home: Path) -> None:
    """The same through the default file transport: no .eml for a bad recipient."""
    with session_scope(db_url) as session:
        queue(session, [reminder(INJECTION, 1), reminder(INTERNATIONAL, 2)], NOW)
    result = run("outbox", "dispatch", "--now", "2027-01-05T09:00")
    assert result.stderr == ""
    assert "failed 2" in result.stdout
    outbox = home / "outbox"
    assert not outbox.exists() or not list(outbox.glob("*.eml"))
