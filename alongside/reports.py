"""`alongside report outcomes`: the programme's measures over a period, counts only."""

from __future__ import annotations

import csv
import sys
from typing import Annotated

import typer

from alongside.context import current
from alongside.output import JsonOption, emit_json, print_rows
from engine.core.errors import UserError
from engine.core.reporting import OUTCOMES, outcome_rows, period

app = typer.Typer(no_args_is_help=True, help="Reports for programme leads: counts only.")

FromOption = Annotated[str, typer.Option("--from", metavar="DATE", help="First day (YYYY-MM-DD).")]
ToOption = Annotated[str, typer.Option("--to", metavar="DATE", help="Last day, included.")]
OrganisationOption = Annotated[
    str | None, typer.Option("--organisation", metavar="ID", help="Only this organisation.")
]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV, one row per organisation.")]


def emit_csv(report: dict) -> None:
    """One row per organisation, then `all`; an empty cell where a rate has no base."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["organisation", "from", "to", *OUTCOMES])
    for row in outcome_rows(report):
        values = ["" if row[key] is None else row[key] for key in OUTCOMES]
        writer.writerow([row["organisation"], report["from"], report["to"], *values])


def _format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise UserError("give --json or --csv, not both")


@app.command("outcomes")
def outcomes(
    ctx: typer.Context,
    first: FromOption,
    last: ToOption,
    organisation: OrganisationOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Triaged, full support, investigations supported, arrests, charged, convicted and
    engagement, over the period, in total and per organisation (docs/reporting.md)."""
    from engine import reports

    _format(as_json, as_csv)
    when = period(first, last)
    run = current(ctx)
    with run.unit_of_work() as session:
        report = reports.outcomes(session, run.catalog, when, run.actor(session), organisation)
    if as_json:
        emit_json(report)
    elif as_csv:
        emit_csv(report)
    else:
        print_rows(
            outcome_rows(report),
            ["organisation", *OUTCOMES],
            title=f"Outcomes {report['from']} to {report['to']}",
        )
