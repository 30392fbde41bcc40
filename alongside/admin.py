"""`alongside db upgrade` and `alongside audit`: the database and its audit log."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside.context import current
from alongside.output import JsonOption, emit_json, print_rows
from engine import queries
from engine.store import upgrade

db_app = typer.Typer(no_args_is_help=True, help="The database.")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply schema migrations (the embedded SQLite default does this by itself)."""
    typer.echo(f"database at revision {upgrade(current(ctx).url)}")


def audit(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option("--case")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 200,
    as_json: JsonOption = False,
) -> None:
    """Who changed what, when (newest first)."""
    run = current(ctx)
    with run.unit_of_work() as session:
        rows = queries.audit(session, run.actor(session), case, limit)
    if as_json:
        emit_json(rows)
    else:
        print_rows(rows, ["at", "actor", "case", "action", "detail"])
