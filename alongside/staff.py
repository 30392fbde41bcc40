"""`alongside staff import|list`: organisations and the people who work on cases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alongside import output
from alongside.context import current
from alongside.output import AllOption, JsonOption, LimitOption
from engine.core.errors import UserError

app = typer.Typer(no_args_is_help=True, help="Organisations and staff.")


@app.command("import")
def import_staff(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="Staff directory YAML.")]
) -> None:
    """Create or update organisations and staff (re-importing updates)."""
    from engine import service

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {file}: {error}") from None
    run = current(ctx)
    with run.unit_of_work() as session:
        counts = service.import_staff(session, text, run.instant(None), service.actor())
    typer.echo(f"imported {counts['organisations']} organisations, {counts['staff']} staff")


@app.command("list")
def list_staff(
    ctx: typer.Context,
    limit: LimitOption = output.DEFAULT_LIMIT,
    everything: AllOption = False,
    as_json: JsonOption = False,
) -> None:
    """List staff with their role, organisation and lead (the first 100 unless --all)."""
    from engine import queries

    with current(ctx).unit_of_work() as session:
        rows = queries.staff(session, limit=(shown := output.page(limit, everything)))
    if as_json:
        output.emit_json_rows(rows)
    else:
        output.print_rows(rows, ["email", "name", "role", "organisation", "lead"])
    output.note_cut(rows, shown)
