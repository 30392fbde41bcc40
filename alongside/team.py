"""`alongside team show`: how each navigator's caseload stands, for a team lead."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside.context import current
from alongside.output import JsonOption, NowOption, emit_json, print_rows

app = typer.Typer(no_args_is_help=True, help="Teams: who is carrying what.")


@app.command("show")
def show(
    ctx: typer.Context,
    lead: Annotated[
        str | None, typer.Option("--lead", metavar="EMAIL", help="Only this lead's team.")
    ] = None,
    days: Annotated[
        int, typer.Option("--days", min=1, help="A case is quiet after this many days.")
    ] = 14,
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per navigator: open, overdue and escalated tasks, and cases with no contact in DAYS."""
    from engine import queries

    run = current(ctx)
    moment = run.instant(now)
    with run.unit_of_work() as session:
        rows = queries.team(session, run.actor(session), moment, lead, days, refs=True)
    if as_json:
        emit_json(rows)
        return
    shown = [{**r, "quiet_cases": ", ".join(r["quiet_cases"]) or "none"} for r in rows]
    print_rows(
        shown,
        ["navigator", "active", "open", "overdue", "escalated", "quiet_cases"],
        title=f"Open work per navigator; quiet_cases: no done contact task in {days} days",
    )
