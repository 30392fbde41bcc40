"""`alongside db upgrade` and `alongside audit`: the database and its audit log."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside.context import current
from alongside.output import JsonOption, emit_json, print_rows

db_app = typer.Typer(no_args_is_help=True, help="The database.")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply schema migrations (the embedded SQLite default does this by itself).

    Also makes an existing home private again: directories 0700, files 0600.
    """
    from engine.files import make_private
    from engine.store import upgrade

    run = current(ctx)
    typer.echo(f"database at revision {upgrade(run.url)}")
    if fixed := make_private(run.settings.home):
        typer.echo(f"made {fixed} files and directories in {run.settings.home} private")


def audit(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option("--case")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 200,
    as_json: JsonOption = False,
) -> None:
    """Who changed what, when (newest first)."""
    from engine import queries

    run = current(ctx)
    with run.unit_of_work() as session:
        rows = queries.audit(session, run.actor(session), case, limit)
    if as_json:
        emit_json(rows)
    else:
        print_rows(rows, ["at", "actor", "case", "action", "detail"])
