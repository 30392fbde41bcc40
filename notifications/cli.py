"""`alongside outbox dispatch|list|retry` and `alongside digest`.

The main CLI imports this module at start, so only typer is imported at module level;
the database, SMTP and template machinery load when a command runs.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import typer

outbox_app = typer.Typer(no_args_is_help=True, help="See and deliver queued notifications.")

STATUSES = ("queued", "sending", "sent", "failed")


def _now(text: str | None) -> datetime:
    """`--now` as typed (a date means 00:00 London), or the clock."""
    from zoneinfo import ZoneInfo

    from engine.clock import utcnow
    from engine.values import parse_instant

    return parse_instant(text, ZoneInfo("Europe/London")) if text else utcnow()


def _emit_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _summary(result: Any) -> str:
    return f"sent {result.sent}, retrying {result.retrying}, failed {result.failed}"


@outbox_app.command("dispatch")
def dispatch_command(
    now: str | None = typer.Option(None, "--now", help="Dispatch as at WHEN (default: now)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Deliver the queued messages that are due."""
    from engine.settings import Settings
    from notifications.dispatch import dispatch

    settings = Settings()
    result = dispatch(settings.url, _now(now), settings=settings)
    if as_json:
        _emit_json(result.as_dict())
    else:
        typer.echo(_summary(result))


@outbox_app.command("list")
def list_command(
    status: str | None = typer.Option(None, "--status", help="queued, sending, sent or failed."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List outbox messages (newest first), optionally only those with one status."""
    from sqlmodel import select

    from engine.errors import UserError
    from engine.settings import Settings
    from engine.store import OutboxMessage, session_scope

    if status is not None and status not in STATUSES:
        raise UserError(f"unknown status '{status}': expected one of {', '.join(STATUSES)}")
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    with session_scope(Settings().url) as session:
        rows = [
            {
                "id": m.id,
                "kind": m.kind,
                "status": m.status,
                "recipient": m.recipient,
                "case": m.case_ref,
                "attempts": m.attempts,
                "created_at": m.created_at.isoformat(),
                "next_attempt_at": m.next_attempt_at.isoformat() if m.next_attempt_at else None,
                "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                "message_id": m.message_id,
                "last_error": m.last_error,
            }
            for m in session.exec(query)
        ]
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        typer.echo("no messages" + (f" with status {status}" if status else ""))
        return
    for row in rows:
        line = (
            f"{row['id']:>6}  {row['status']:<7}  {row['kind']:<10}  {row['case'] or '-':<10}  "
            f"{row['recipient']}  attempts {row['attempts']}"
        )
        if row["status"] == "queued":
            line += f"  next {row['next_attempt_at']}"
        if row["last_error"]:
            line += f"  error: {row['last_error']}"
        typer.echo(line)


@outbox_app.command("retry")
def retry_command(
    message_id: int = typer.Argument(..., metavar="ID", help="The outbox id (see `outbox list`)."),
) -> None:
    """Put a failed message back in the queue, due now, with its attempts reset."""
    from engine.clock import utcnow
    from engine.service import actor
    from engine.settings import Settings
    from notifications.dispatch import requeue

    requeue(Settings().url, message_id, utcnow(), actor=actor())
    typer.echo(f"message {message_id} queued again")


def digest(
    now: str | None = typer.Option(None, "--now", help="As at WHEN (default: now)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Queue today's digests (once per person per day), then deliver what is due."""
    from engine.settings import Settings
    from notifications.digest import queue_digests
    from notifications.dispatch import dispatch

    settings = Settings()
    moment = _now(now)
    queued = queue_digests(settings.url, moment)
    result = dispatch(settings.url, moment, settings=settings)
    if as_json:
        _emit_json({"queued": queued, **result.as_dict()})
    else:
        typer.echo(f"queued {queued} digests; {_summary(result)}")
