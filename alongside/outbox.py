"""`alongside outbox dispatch|list|retry`: see and deliver queued notifications."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside import output
from alongside.context import current
from alongside.output import JsonOption, NowOption, emit_json
from engine import queries
from engine.core.errors import UserError
from notifications.dispatch import dispatch, requeue

app = typer.Typer(no_args_is_help=True, help="See and deliver queued notifications.")


@app.command("dispatch")
def dispatch_command(
    ctx: typer.Context, now: NowOption = None, as_json: JsonOption = False
) -> None:
    """Deliver the queued messages that are due."""
    run = current(ctx)
    result = dispatch(run.url, run.instant(now), run.settings)
    if as_json:
        emit_json(result.as_dict())
    else:
        typer.echo(result.summary())


@app.command("list")
def list_command(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option("--status", help="queued, sending, sent or failed.")
    ] = None,
    limit: output.LimitOption = output.DEFAULT_LIMIT,
    everything: output.AllOption = False,
    as_json: JsonOption = False,
) -> None:
    """List outbox messages (newest first; the first 100 unless --all), optionally only
    those with one status."""
    run = current(ctx)
    with run.unit_of_work() as session:
        rows = queries.outbox(
            session, run.actor(session), status, limit=(shown := output.page(limit, everything))
        )
    if as_json:
        output.emit_json_rows(rows)
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
        typer.echo(output.plain(line))
    output.note_cut(rows, shown)


@app.command("retry")
def retry_command(
    ctx: typer.Context,
    message_id: Annotated[
        int, typer.Argument(metavar="ID", help="The outbox id (see `outbox list`).")
    ],
) -> None:
    """Put a failed message back in the queue, due now, with its attempts reset."""
    run = current(ctx)
    with run.unit_of_work() as session:
        actor = run.actor(session)
    if not actor.is_admin:  # others see only their own messages: retrying is not theirs
        raise UserError(f"no outbox message with id {message_id}")
    requeue(run.url, message_id, run.instant(None), actor=actor.who)
    typer.echo(f"message {message_id} queued again")
