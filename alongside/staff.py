"""`alongside staff import|list`: organisations and the people who work on cases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alongside import output
from alongside.context import current
from alongside.output import JsonOption, print_rows
from engine import queries, service
from engine.core.errors import UserError

app = typer.Typer(no_args_is_help=True, help="Organisations and staff.")


@app.command("import")
def import_staff(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="Staff directory YAML.")]
) -> None:
    """Create or update organisations and staff (re-importing updates)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {file}: {error}") from None
    run = current(ctx)
    with run.unit_of_work() as session:
        counts = service.import_staff(
            session, text, run.instant(None), run.actor(session), str(file)
        )
    typer.echo(f"imported {counts['organisations']} organisations, {counts['staff']} staff")
    for email, refs in counts["to_reassign"].items():
        typer.echo(
            f"{email} is inactive and holds {len(refs)} open case(s) to reassign: "
            f"{', '.join(refs)} (alongside case assign --from {email} --navigator EMAIL "
            '--reason "...")'
        )


@app.command("list")
def list_staff(
    ctx: typer.Context,
    limit: output.LimitOption = output.DEFAULT_LIMIT,
    everything: output.AllOption = False,
    as_json: JsonOption = False,
) -> None:
    """List staff with their role, organisation and lead (the first 100 unless --all)."""
    run = current(ctx)
    with run.unit_of_work() as session:
        rows = queries.staff(
            session, run.actor(session), limit=(shown := output.page(limit, everything))
        )
    if as_json:
        output.emit_json_rows(rows)
    else:
        print_rows(rows, ["email", "name", "role", "organisation", "lead", "active", "left"])
    output.note_cut(rows, shown)
