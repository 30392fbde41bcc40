"""Dispatch against a real SMTP server on loopback (aiosmtpd) and the file transport.

Every fault test ends the same way: once the server behaves and dispatch runs again (at a
`now` past the backoff; nothing sleeps), each queued message has arrived exactly once,
counted by Message-ID at the server, or is `failed` for a permanent refusal.
"""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_binary_file
from email.policy import default as default_policy

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from alongside.outbox import app as outbox_app
from engine.core.errors import UserError
from engine.core.messages import (
    EscalatedItem,
    EscalationPayload,
    Message,
    ReminderPayload,
    task_item,
)
from engine.outbox import queue
from engine.settings import Settings
from engine.store import AuditEntry, OutboxMessage, session_scope
from notifications.dispatch import LEASE, MAX_ATTEMPTS, _Run, backoff, dispatch, requeue
from notifications.render import render_outgoing
from notifications.testing import DROP, Recorder, free_port, smtp_server
from notifications.transports import SmtpChannel

T0 = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
ENV = (
    "ALONGSIDE_DATABASE_URL",
    "ALONGSIDE_TRANSPORT",
    "ALONGSIDE_SMTP_HOST",
    "ALONGSIDE_SMTP_PORT",
    "ALONGSIDE_SMTP_TLS",
    "ALONGSIDE_SMTP_USERNAME",
    "ALONGSIDE_SMTP_PASSWORD",
    "ALONGSIDE_SMTP_CONCURRENCY",
    "ALONGSIDE_MAIL_FROM",
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path))
    monkeypatch.setenv("ALONGSIDE_SMTP_TIMEOUT", "5")
    return tmp_path


@pytest.fixture
def url(home):
    return f"sqlite:///{home}/a.db"


@pytest.fixture
def recorder():
    return Recorder()


def use_smtp(monkeypatch, port: int, concurrency: int = 2) -> None:
    monkeypatch.setenv("ALONGSIDE_TRANSPORT", "smtp")
    monkeypatch.setenv("ALONGSIDE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ALONGSIDE_SMTP_PORT", str(port))
    monkeypatch.setenv("ALONGSIDE_SMTP_CONCURRENCY", str(concurrency))


@pytest.fixture
def smtp(recorder, monkeypatch, home):
    with smtp_server(recorder) as port:
        use_smtp(monkeypatch, port)
        yield port


def reminder(task_id: int, case: str = "KNT-0042") -> ReminderPayload:
    item = task_item(
        case=case,
        task_id=task_id,
        title=f"Task number {task_id}",
        stage="First month",
        category="accommodation",
        due=datetime(2027, 1, 6, 23, 59, 59, tzinfo=UTC),
        precision="day",
    )
    return ReminderPayload(**item, sequence=0, timezone="Europe/London")


def put(url: str, n: int, *, to: str = "nav@example.org", start: int = 1, **options) -> None:
    messages = [
        Message(f"reminder:{i}:0", "reminder", to, "KNT-0042", reminder(i), **options)
        for i in range(start, start + n)
    ]
    with session_scope(url) as session:
        queue(session, messages, T0)


def outbox(url: str) -> list[OutboxMessage]:
    with session_scope(url) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def statuses(url: str) -> Counter:
    return Counter(row.status for row in outbox(url))


def assert_each_delivered_once(url: str, recorder: Recorder, *, except_failed: bool = False):
    rows = outbox(url)
    ids = recorder.message_ids()
    expected = {r.message_id for r in rows if r.status == "sent"}
    assert set(ids) == expected
    assert all(count == 1 for count in ids.values()), ids
    allowed = {"sent", "failed"} if except_failed else {"sent"}
    assert {r.status for r in rows} <= allowed


# --- delivery ---------------------------------------------------------------------------


def test_delivers_every_kind_over_smtp_and_marks_sent(url, smtp, recorder):
    put(url, 3)
    item = {k: v for k, v in reminder(9).items() if k not in ("sequence", "timezone")}
    escalated = EscalatedItem(**item, level=1, navigator="nav@example.org")
    escalation = EscalationPayload(timezone="Europe/London", items=[escalated])
    with session_scope(url) as session:
        queue(session, [Message("esc:9:1", "escalation", "lead@example.org", None, escalation)], T0)

    result = dispatch(url, T0, Settings())

    assert (result.sent, result.retrying, result.failed) == (4, 0, 0)
    assert sorted(r for _, rcpts in recorder.envelopes for r in rcpts) == [
        "lead@example.org",
        "nav@example.org",
        "nav@example.org",
        "nav@example.org",
    ]
    by_id = {str(m["Message-ID"]): m for m in recorder.messages}
    for row in outbox(url):
        assert row.status == "sent" and row.sent_at == T0 and row.attempts == 1
        assert row.next_attempt_at is None
        message = by_id[row.message_id]
        assert message["To"] == row.recipient
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        if row.kind == "reminder":
            task = row.payload["task_id"]
            assert message["Subject"] == (
                f"[Alongside] Reminder: KNT-0042 — Task number {task} due Wed 6 Jan"
            )
            assert "by end of Wed 6 Jan 2027" in text and "by end of Wed 6 Jan 2027" in html
            assert f"http://127.0.0.1:8000/tasks/{task}" in text
            assert not list(message.iter_attachments())  # calendars come in `calendar` kind
        else:
            assert message["Subject"].startswith("[Alongside] Escalation: KNT-0042")
            assert "escalation step 1" in text
            assert not list(message.iter_attachments())
    assert_each_delivered_once(url, recorder)


def test_connections_are_reused_and_bounded(url, smtp, recorder):
    put(url, 40)
    assert dispatch(url, T0, Settings()).sent == 40
    assert 1 <= len(recorder.peers) <= Settings().smtp_concurrency == 2


def test_sent_messages_and_held_messages_are_left_alone(url, smtp, recorder):
    put(url, 2)
    put(url, 1, start=10, deliver_at=T0 + timedelta(hours=2))  # held until 08:00 local, say
    assert dispatch(url, T0, Settings()).sent == 2
    assert dispatch(url, T0, Settings()).sent == 0
    assert dispatch(url, T0 + timedelta(hours=1, minutes=59), Settings()).sent == 0
    assert dispatch(url, T0 + timedelta(hours=2), Settings()).sent == 1
    assert_each_delivered_once(url, recorder)


def test_limit_caps_one_run(url, smtp, recorder):
    put(url, 5)
    assert dispatch(url, T0, Settings(), limit=2).sent == 2
    assert statuses(url) == {"sent": 2, "queued": 3}
    assert dispatch(url, T0, Settings()).sent == 3
    assert_each_delivered_once(url, recorder)


def test_backoff_doubles_to_a_cap():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert backoff(7) == backoff(500) == timedelta(hours=1)


# --- faults -----------------------------------------------------------------------------


def test_server_down_then_recovers(url, home, recorder, monkeypatch):
    port = free_port()  # nothing listens here yet: connection refused
    use_smtp(monkeypatch, port)
    put(url, 6)

    result = dispatch(url, T0, Settings())

    assert (result.sent, result.retrying, result.failed) == (0, 6, 0)
    for row in outbox(url):
        assert row.status == "queued" and row.attempts == 1
        assert row.next_attempt_at == T0 + backoff(1)
        assert "cannot connect" in row.last_error
    with smtp_server(recorder, port=port):
        assert dispatch(url, T0 + timedelta(seconds=30), Settings()).sent == 0  # still backing off
        assert dispatch(url, T0 + backoff(1), Settings()).sent == 6
    assert_each_delivered_once(url, recorder)


@pytest.mark.parametrize(
    "reply", ["421 4.3.2 Service shutting down", "451 4.3.0 Temporary local problem"]
)
def test_temporary_replies_are_retried_after_backoff(url, smtp, recorder, reply):
    put(url, 6)
    recorder.faults.extend([None, reply, reply])

    result = dispatch(url, T0, Settings())

    assert (result.sent, result.retrying, result.failed) == (4, 2, 0)
    waiting = [r for r in outbox(url) if r.status == "queued"]
    assert [r.last_error[:3] for r in waiting] == [reply[:3]] * 2
    assert all(r.next_attempt_at == T0 + timedelta(minutes=1) for r in waiting)
    assert dispatch(url, T0 + timedelta(minutes=1), Settings()).sent == 2
    assert_each_delivered_once(url, recorder)


def test_permanent_refusal_fails_after_bounded_attempts_with_audit(url, smtp, recorder):
    put(url, 3)
    put(url, 1, to="gone@example.org", start=50)
    recorder.refuse["gone@example.org"] = "550 5.1.1 No such user"

    first = dispatch(url, T0, Settings())
    assert (first.sent, first.retrying, first.failed) == (3, 1, 0)
    moment = T0
    for attempt in range(2, MAX_ATTEMPTS + 1):
        moment += backoff(attempt - 1)
        result = dispatch(url, moment, Settings())
        assert result.failed == (1 if attempt == MAX_ATTEMPTS else 0)
    (failed,) = [r for r in outbox(url) if r.recipient == "gone@example.org"]
    assert failed.status == "failed" and failed.attempts == MAX_ATTEMPTS
    assert failed.last_error.startswith("550")
    assert failed.next_attempt_at is None
    assert dispatch(url, moment + timedelta(days=1), Settings()).sent == 0
    assert_each_delivered_once(url, recorder, except_failed=True)
    with session_scope(url) as session:
        (entry,) = session.exec(select(AuditEntry)).all()
    assert (entry.actor, entry.action, entry.case_ref) == ("engine", "outbox.failed", "KNT-0042")
    assert entry.detail == {"outbox_id": failed.id, "kind": "reminder", "attempts": MAX_ATTEMPTS}

    # A person fixes the address book and re-queues it: same row, same Message-ID.
    recorder.refuse.clear()
    later = moment + timedelta(days=1)
    requeue(url, failed.id, later, actor="ops")
    assert dispatch(url, later, Settings()).sent == 1
    assert_each_delivered_once(url, recorder)


def test_permanent_reply_to_data_is_permanent_too(url, smtp, recorder):
    put(url, 1)
    recorder.faults.extend(["554 5.6.0 Message rejected"] * MAX_ATTEMPTS)
    moment = T0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        dispatch(url, moment, Settings())
        moment += backoff(attempt)
    assert statuses(url) == {"failed": 1}
    assert recorder.messages == []


def test_dropped_connection_mid_batch_reconnects_and_resends(url, home, recorder, monkeypatch):
    with smtp_server(recorder) as port:
        use_smtp(monkeypatch, port, concurrency=1)
        put(url, 6)
        recorder.faults.extend([None, None, DROP])
        result = dispatch(url, T0, Settings())
    assert (result.sent, result.retrying) == (6, 0)
    assert len(recorder.peers) == 2  # the first connection, then one reconnection
    assert_each_delivered_once(url, recorder)


def test_connection_dropped_again_after_reconnecting_is_retried_later(
    url, home, recorder, monkeypatch
):
    with smtp_server(recorder) as port:
        use_smtp(monkeypatch, port, concurrency=1)
        put(url, 4)
        recorder.faults.extend([None, DROP, DROP])
        result = dispatch(url, T0, Settings())
        assert (result.sent, result.retrying) == (3, 1)
        assert dispatch(url, T0 + timedelta(minutes=1), Settings()).sent == 1
    assert_each_delivered_once(url, recorder)


def test_refused_login_is_a_user_error_and_loses_nothing(url, home, recorder, monkeypatch):
    def refuse_everyone(server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        return AuthResult(success=False, handled=False)

    with smtp_server(recorder, authenticator=refuse_everyone, auth_require_tls=False) as port:
        use_smtp(monkeypatch, port)
        monkeypatch.setenv("ALONGSIDE_SMTP_USERNAME", "alongside")
        monkeypatch.setenv("ALONGSIDE_SMTP_PASSWORD", "wrong")
        put(url, 3)
        with pytest.raises(UserError, match="refused the login"):
            dispatch(url, T0, Settings())
    assert all(r.status == "queued" and r.attempts == 0 for r in outbox(url))
    assert recorder.messages == []


def test_accepted_login_delivers(url, home, recorder, monkeypatch):
    def accept_alongside(server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        ok = auth_data.login == b"alongside" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)

    with smtp_server(recorder, authenticator=accept_alongside, auth_require_tls=False) as port:
        use_smtp(monkeypatch, port)
        monkeypatch.setenv("ALONGSIDE_SMTP_USERNAME", "alongside")
        monkeypatch.setenv("ALONGSIDE_SMTP_PASSWORD", "s3cret")
        put(url, 2)
        assert dispatch(url, T0, Settings()).sent == 2
    assert_each_delivered_once(url, recorder)


def test_a_claim_is_never_worked_on_past_half_its_lease(url, smtp, recorder, monkeypatch):
    import notifications.dispatch as dispatch_module

    put(url, 3)
    monkeypatch.setattr(dispatch_module, "LEASE", timedelta(0))  # out of time at once
    assert dispatch(url, T0, Settings()).sent == 0
    assert all(r.status == "queued" and r.attempts == 0 for r in outbox(url))
    monkeypatch.setattr(dispatch_module, "LEASE", LEASE)
    assert dispatch(url, T0, Settings()).sent == 3
    assert_each_delivered_once(url, recorder)


def test_a_message_that_cannot_be_rendered_fails_without_stopping_the_rest(url, smtp, recorder):
    put(url, 2)
    with session_scope(url) as session:
        queue(session, [Message("broken", "reminder", "nav@example.org", "KNT-0042", {})], T0)
    moment = T0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        dispatch(url, moment, Settings())
        moment += backoff(attempt)
    assert statuses(url) == {"sent": 2, "failed": 1}
    (broken,) = [r for r in outbox(url) if r.status == "failed"]
    assert broken.last_error.startswith("KeyError")
    assert_each_delivered_once(url, recorder, except_failed=True)


# --- crashes ----------------------------------------------------------------------------


def test_crash_after_claiming_loses_nothing(url, smtp, recorder):
    put(url, 3)
    crashed = _Run(url, T0, Settings())
    assert len(crashed.claim(10)) == 3  # ... and the dispatcher dies here
    crashed.connection.close()
    assert statuses(url) == {"sending": 3}
    assert dispatch(url, T0 + timedelta(minutes=1), Settings()).sent == 0  # its lease still holds
    assert dispatch(url, T0 + LEASE, Settings()).sent == 3
    assert_each_delivered_once(url, recorder)


def test_crash_between_acceptance_and_marking_repeats_one_message_with_same_id(url, smtp, recorder):
    put(url, 3)
    settings = Settings()
    crashed = _Run(url, T0, settings)
    first, *_ = crashed.claim(10)

    async def send_without_marking():
        channel = SmtpChannel(settings)
        await channel.send(render_outgoing(first, settings, T0))
        await channel.close()

    asyncio.run(send_without_marking())
    crashed.connection.close()

    assert dispatch(url, T0 + LEASE, Settings()).sent == 3
    counts = recorder.message_ids()
    repeated = {mid for mid, n in counts.items() if n > 1}
    assert repeated == {outbox(url)[0].message_id}
    assert counts[outbox(url)[0].message_id] == 2
    assert sorted(counts.values()) == [1, 1, 2]


# --- file transport ---------------------------------------------------------------------


def test_file_transport_writes_one_parsable_eml_per_message(url, home):
    put(url, 3)
    result = dispatch(url, T0, Settings())
    assert result.sent == 3
    directory = home / "outbox"
    files = sorted(directory.iterdir())
    assert [f.name for f in files] == [f"{r.id:08d}.eml" for r in outbox(url)]
    for path, row in zip(files, outbox(url), strict=True):
        with open(path, "rb") as handle:
            message = message_from_binary_file(handle, policy=default_policy)
        assert message["Message-ID"] == row.message_id
        assert message["To"] == "nav@example.org"
        assert "Reminder: KNT-0042" in message["Subject"]
        assert message.get_body(("plain",)).get_content().startswith("Reminder:")
        assert message.get_body(("html",)) is not None
    assert dispatch(url, T0, Settings()).sent == 0
    assert len(list(directory.iterdir())) == 3  # no temporary files left behind


def test_file_transport_resend_after_crash_overwrites_the_same_file(url, home):
    put(url, 2)
    crashed = _Run(url, T0, Settings())
    crashed.claim(10)
    crashed.connection.close()
    assert dispatch(url, T0 + LEASE, Settings()).sent == 2
    assert len(list((home / "outbox").iterdir())) == 2


def test_sync_dispatch_works_inside_a_running_event_loop(url, home):
    put(url, 1)

    async def from_async_code():
        return dispatch(url, T0, Settings())

    assert asyncio.run(from_async_code()).sent == 1


# --- the command line -------------------------------------------------------------------


def test_cli_dispatch_list_and_retry(url, home, monkeypatch):
    monkeypatch.setenv("ALONGSIDE_DATABASE_URL", url)
    put(url, 2)
    runner = CliRunner()

    listed = runner.invoke(outbox_app, ["list", "--status", "queued", "--json"])
    assert listed.exit_code == 0, listed.output
    assert len(__import__("json").loads(listed.output)) == 2

    sent = runner.invoke(outbox_app, ["dispatch", "--now", "2027-01-05T09:00", "--json"])
    assert sent.exit_code == 0, sent.output
    assert __import__("json").loads(sent.output) == {"sent": 2, "retrying": 0, "failed": 0}

    text = runner.invoke(outbox_app, ["list"])
    assert text.exit_code == 0 and text.output.count(" sent ") == 2

    unknown = runner.invoke(outbox_app, ["retry", "999"])
    assert isinstance(unknown.exception, UserError)
    assert "no outbox message with id 999" in str(unknown.exception)

    not_failed = runner.invoke(outbox_app, ["retry", str(outbox(url)[0].id)])
    assert isinstance(not_failed.exception, UserError)

    bad = runner.invoke(outbox_app, ["list", "--status", "lost"])
    assert isinstance(bad.exception, UserError)


def test_cli_retry_requeues_a_failed_message_with_an_audit_entry(url, home, monkeypatch):
    monkeypatch.setenv("ALONGSIDE_DATABASE_URL", url)
    put(url, 1)
    with session_scope(url) as session:
        row = session.exec(select(OutboxMessage)).one()
        row.status, row.attempts, row.last_error = "failed", 3, "550 No such user"
        session.add(row)
    result = CliRunner().invoke(outbox_app, ["retry", str(row.id)])
    assert result.exit_code == 0, result.output
    (again,) = outbox(url)
    assert (again.status, again.attempts) == ("queued", 0)
    with session_scope(url) as session:
        (entry,) = session.exec(select(AuditEntry)).all()
    assert entry.action == "outbox.retry" and entry.detail["previous_attempts"] == 3
