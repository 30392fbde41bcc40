"""`alongside report outcomes|duties|contact`: the programme's measures, counts only."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from alongside.context import current
from alongside.output import JsonOption, NowOption, emit_json, out, print_rows
from engine.core.errors import UserError
from engine.core.reporting import (
    DUTIES,
    OUTCOMES,
    contact_csv,
    duties_csv,
    duty_rows,
    outcome_rows,
    outcomes_csv,
    period,
)

app = typer.Typer(no_args_is_help=True, help="Reports for programme leads: counts only.")

FromOption = Annotated[str, typer.Option("--from", metavar="DATE", help="First day (YYYY-MM-DD).")]
ToOption = Annotated[str, typer.Option("--to", metavar="DATE", help="Last day, included.")]
OrganisationOption = Annotated[
    str | None, typer.Option("--organisation", metavar="ID", help="Only this organisation.")
]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV, one row per organisation.")]
ContactCsvOption = Annotated[
    bool, typer.Option("--csv", help="Print CSV: one row of counts and shares.")
]


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
        sys.stdout.write(outcomes_csv(report))
    else:
        print_rows(
            outcome_rows(report),
            ["organisation", *OUTCOMES],
            title=f"Outcomes {report['from']} to {report['to']}",
        )


@app.command("duties")
def duties(
    ctx: typer.Context,
    first: FromOption,
    last: ToOption,
    organisation: OrganisationOption = None,
    now: NowOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Duties due in the period, per tag and per obligation: done on time, done late,
    waived, still open, overdue; the on-time rate and the median days late."""
    from engine import reports

    _format(as_json, as_csv)
    when = period(first, last)
    run = current(ctx)
    moment = run.instant(now)
    with run.unit_of_work() as session:
        report = reports.duties(
            session, run.catalog, when, moment, run.actor(session), organisation
        )
    if as_json:
        emit_json(report)
    elif as_csv:
        sys.stdout.write(duties_csv(report))
    else:
        print_rows(
            duty_rows(report),
            ["kind", "name", *DUTIES],
            title=f"Duties due {report['from']} to {report['to']}",
        )


@app.command("contact")
def contact(
    ctx: typer.Context,
    first: FromOption,
    last: ToOption,
    organisation: OrganisationOption = None,
    as_json: JsonOption = False,
    as_csv: ContactCsvOption = False,
) -> None:
    """Of the cases open at the period's end: the share reached in the last 14 and 30
    days, and the distribution of each case's longest silent gap."""
    from engine import reports

    _format(as_json, as_csv)
    when = period(first, last)
    run = current(ctx)
    with run.unit_of_work() as session:
        report = reports.contact(session, run.catalog, when, run.actor(session), organisation)
    if as_json:
        emit_json(report)
        return
    if as_csv:
        sys.stdout.write(contact_csv(report))
        return
    gap = report["longest_silent_gap"]
    out.print(
        f"Contact at the end of {report['from']} to {report['to']}: "
        f"{report['open_cases']} open cases"
    )
    out.print(
        f"reached in the last 14 days: {report['reached_14_days']}, "
        f"in the last 30 days: {report['reached_30_days']}"
    )
    print_rows(
        [{"days": band, "cases": n} for band, n in gap["bands"].items()],
        ["days", "cases"],
        title="Longest silent gap per case",
    )
    out.print(f"median {gap['median_days']} days, longest {gap['longest_days']} days")
