"""Outbox dispatch throughput against a plain aiosmtplib loop, measured in the same run.

`measure_dispatch(n)` queues n reminders in a fresh SQLite database and times
`notifications.dispatch.dispatch` delivering them to a local aiosmtpd (claim, render,
send, mark each one sent). It then times the baseline: the same n messages, already
rendered and flattened to bytes, sent by `sendmail` in a loop over one aiosmtplib
connection with no database at all: the protocol's cost and nothing else. The server
runs in a separate process, as a real relay would, so client and server do not share
one interpreter.

    python -m bench.dispatch_bench 1000
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from engine.core.messages import ReminderPayload, task_item

NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
DUE = datetime(2027, 1, 6, 23, 59, 59, tzinfo=UTC)
SERVER = """
import sys
from notifications.testing import Recorder, smtp_server
with smtp_server(Recorder(parse=False)) as port:
    print(port, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


def _payload(i: int) -> ReminderPayload:
    item = task_item(
        case=f"KNT-{i:05d}",
        task_id=i,
        title="Safe accommodation arranged",
        stage="First month",
        category="accommodation",
        due=DUE,
        precision="day",
    )
    return ReminderPayload(**item, sequence=0, timezone="Europe/London")


def _queue(url: str, n: int) -> None:
    from engine.core.messages import Message
    from engine.outbox import queue
    from engine.store import session_scope

    messages = [
        Message(
            f"reminder:{i}:0", "reminder", f"nav{i % 50}@example.org", f"KNT-{i:05d}", _payload(i)
        )
        for i in range(n)
    ]
    with session_scope(url) as session:
        queue(session, messages, NOW)


async def _raw_loop(port: int, messages: list) -> float:
    """The baseline: already-flattened messages, one `sendmail` after another, one connection."""
    import aiosmtplib

    started = time.perf_counter()
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await smtp.connect()
    for message in messages:
        await smtp.sendmail(message.sender, [message.recipient], message.data)
    await smtp.quit()
    return time.perf_counter() - started


async def _send_message_loop(port: int, messages: list) -> float:
    """The everyday loop, for context: `send_message(EmailMessage)`, which flattens each."""
    import aiosmtplib

    started = time.perf_counter()
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await smtp.connect()
    for message in messages:
        await smtp.send_message(message)
    await smtp.quit()
    return time.perf_counter() - started


def _one_round(n: int, port: int, home: Path) -> tuple[float, ...]:
    """Wall and client CPU seconds of dispatch, then of the raw loop, then the wall seconds
    of the `send_message` loop, for n messages."""
    from sqlmodel import select

    from engine.settings import Settings
    from engine.store import OutboxMessage, session_scope
    from notifications.dispatch import dispatch
    from notifications.render import render, render_outgoing

    url = f"sqlite:///{home / 'bench.db'}"
    settings = Settings(home=home, transport="smtp", smtp_host="127.0.0.1", smtp_port=port)
    _queue(url, n)

    started, cpu = time.perf_counter(), time.process_time()
    result = dispatch(url, NOW, settings)
    dispatch_seconds, dispatch_cpu = time.perf_counter() - started, time.process_time() - cpu
    if result.sent != n:
        raise RuntimeError(f"dispatch sent {result.sent} of {n}: {result}")

    with session_scope(url) as session:
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    messages = [render_outgoing(row, settings, NOW) for row in rows]
    cpu = time.process_time()
    raw_seconds = asyncio.run(_raw_loop(port, messages))
    raw_cpu = time.process_time() - cpu
    objects = [render(row, settings, NOW) for row in rows]
    everyday_seconds = asyncio.run(_send_message_loop(port, objects))
    return dispatch_seconds, dispatch_cpu, raw_seconds, raw_cpu, everyday_seconds


def measure_dispatch(n: int, repeats: int = 3) -> dict:
    """Messages per second for dispatch and for a raw aiosmtplib loop, and their ratio.

    Each round measures both, one after the other, against the same server; the best
    round of each counts, which filters out noise from whatever else the machine runs.
    Client CPU per message is reported too: unlike wall time, it barely depends on load.
    """
    from engine.settings import Settings

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    rounds = []
    try:
        port = int(server.stdout.readline())
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as home:
                rounds.append(_one_round(n, port, Path(home)))
    finally:
        server.stdin.close()
        server.wait(timeout=30)

    dispatch_seconds = min(r[0] for r in rounds)
    raw_seconds = min(r[2] for r in rounds)
    dispatch_rate = n / dispatch_seconds
    raw_rate = n / raw_seconds
    return {
        "n": n,
        "rounds": repeats,
        "smtp_concurrency": Settings().smtp_concurrency,
        "dispatch_seconds": round(dispatch_seconds, 3),
        "raw_smtp_seconds": round(raw_seconds, 3),
        "dispatch_msgs_per_s": round(dispatch_rate, 1),
        "raw_smtp_msgs_per_s": round(raw_rate, 1),
        "dispatch_vs_raw_smtp": round(dispatch_rate / raw_rate, 3),
        "dispatch_client_cpu_ms_per_msg": round(min(r[1] for r in rounds) * 1000 / n, 3),
        "raw_client_cpu_ms_per_msg": round(min(r[3] for r in rounds) * 1000 / n, 3),
        "raw_smtp_send_message_msgs_per_s": round(n / min(r[4] for r in rounds), 1),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(json.dumps(measure_dispatch(n), indent=2))


if __name__ == "__main__":
    main()
