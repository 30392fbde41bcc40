"""`alongside journeys validate|schema|simulate|show`: write, check and try out journeys."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from alongside.context import assignments, current, pairs
from alongside.output import JsonOption, NowOption, emit_json, out
from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.core.journey import Journey

app = typer.Typer(no_args_is_help=True, help="Write, check and try out journeys.")


@app.command("validate")
def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Journey files (default: all).")
    ] = None,
) -> None:
    """Check journeys; print one line per valid file, or every problem as FILE:LINE:COL."""
    from engine.catalog import load_journey
    from engine.core.loader import JourneyError, journey_warnings

    files = paths or current(ctx).catalog.files()
    if not files:
        raise UserError("no journey files to validate")
    failed = False
    for path in files:
        try:
            journey = load_journey(path)
        except JourneyError as error:
            failed = True
            for problem in error.problems:
                typer.echo(str(problem))
            continue
        for warning in journey_warnings(Path(path).read_text(encoding="utf-8"), str(path)):
            typer.echo(str(warning))
        count = sum(len(s.obligations) for s in journey.stages)
        typer.echo(
            f"{path}: ok: {journey.journey} v{journey.version}, "
            f"{len(journey.stages)} stages, {count} obligations"
        )
    if failed:
        raise typer.Exit(1)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the journey language."""
    from engine.core.loader import json_schema

    sys.stdout.write(json_schema())


@app.command("simulate")
def simulate(
    ctx: typer.Context,
    journey: Annotated[str, typer.Argument(help="Journey id or path to a YAML file.")],
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="NAME=WHEN (ISO); a repeating event once per occurrence."),
    ] = None,
    fact: Annotated[list[str] | None, typer.Option("--fact", help="NAME=VALUE.")] = None,
    now: Annotated[str | None, typer.Option(help="Plan as at WHEN (default: now).")] = None,
    mermaid: Annotated[
        bool, typer.Option("--mermaid", help="Print the plan as a Mermaid Gantt chart.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show the dated plan a journey gives for the events and facts you name."""
    from engine.core.outline import plan_gantt
    from engine.core.planner import collect, plan
    from engine.core.values import parse_event_key, parse_event_time, parse_fact, parse_instant

    definition = current(ctx).catalog.resolve(journey)
    recorded = []
    given: dict[str, int] = {}  # a repeating event's occurrences so far
    for key, value in assignments(event, "event"):
        name, number = parse_event_key(definition, key)
        if name in definition.repeating and number is None:
            number = given.get(name, 0) + 1
        given[name] = max(given.get(name, 0), number or 0)
        recorded.append((name, number, parse_event_time(value, definition.tz)))
    events, occurrences = collect(recorded)
    facts = {
        name: parse_fact(definition, name, value) for name, value in pairs(fact, "fact").items()
    }
    moment = current(ctx).instant(None) if now is None else parse_instant(now, definition.tz)
    result = plan(definition, facts, events, {}, moment, occurrences)
    rows = [
        {
            "obligation": t.obligation,
            "stage": t.stage,
            "title": t.title,
            "category": t.category,
            "occurrence": t.occurrence,
            "due": t.due.isoformat(),
            # in the zone the obligation counts in (its own, its stage's or the journey's)
            "due_local": t.due.astimezone(definition.clock(t.obligation).tz).isoformat(),
        }
        for t in result.tasks
    ]
    if as_json:
        emit_json(rows)
        return
    if mermaid:
        typer.echo(plan_gantt(definition, result.tasks, moment))
        return
    table = Table(
        title=f"{definition.journey} v{definition.version}: plan as at {moment:%Y-%m-%d %H:%M}Z"
    )
    for column in ("due (local)", "stage", "obligation", "#", "category", "title"):
        table.add_column(column)
    for row, task in zip(rows, result.tasks, strict=True):
        local = task.due.astimezone(definition.clock(task.obligation).tz)
        when = f"{local:%a %d %b %Y}" if task.precision == "day" else f"{local:%a %d %b %Y %H:%M}"
        table.add_row(
            when,
            row["stage"],
            row["obligation"],
            str(row["occurrence"]),
            row["category"],
            row["title"],
        )
    out.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    journey: Annotated[str, typer.Argument(help="Journey id or path to a YAML file.")],
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Print a Mermaid diagram.")] = False,
) -> None:
    """Outline a journey: stages, obligations, deadlines in words, escalation ladders."""
    from engine.core.outline import mermaid_diagram, outline

    definition = current(ctx).catalog.resolve(journey)
    typer.echo(mermaid_diagram(definition) if mermaid else outline(definition))


def _valid(path: Path) -> Journey:
    """The journey in `path`, or every problem printed as FILE:LINE:COL and exit 1."""
    from engine.catalog import load_journey
    from engine.core.loader import JourneyError

    try:
        return load_journey(path)
    except JourneyError as error:
        for problem in error.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None


@app.command("preview")
def preview(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The journey file to try.")],
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """What installing FILE would do to every open case on its journey; writes nothing."""
    from engine import installing

    journey = _valid(file)
    run = current(ctx)
    with run.unit_of_work() as session:
        impact = installing.preview(session, journey, run.instant(now))
        session.rollback()  # a preview changes nothing, whatever it read
    if as_json:
        emit_json(impact.as_dict())
        return
    totals = impact.totals()
    out.print(
        f"{journey.journey} v{journey.version}: {totals['cases_changed']} of "
        f"{totals['open_cases']} open cases change: {totals['created']} tasks created, "
        f"{totals['redated']} re-dated, {totals['cancelled']} cancelled"
    )
    for case in impact.cases:
        out.print(f"[bold]{case.case}[/bold]")
        for task in case.created:
            out.print(f"  + {task['title']}: due {task['due'][:16]}")
        for task in case.redated:
            out.print(f"  ~ {task['title']}: {task['old_due'][:16]} -> {task['new_due'][:16]}")
        for task in case.cancelled:
            out.print(f"  - {task['title']}: cancelled")


@app.command("install")
def install(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The journey file to install.")],
    now: NowOption = None,
) -> None:
    """Validate FILE, then replace the installation's journey with it (atomically, audited)."""
    from engine import installing

    journey = _valid(file)
    run = current(ctx)
    with run.unit_of_work() as session:
        previous = installing.install(
            session, run.catalog, file, journey, run.instant(now), run.actor(session).who
        )
    was = f" (was v{previous})" if previous else " (new)"
    typer.echo(
        f"installed {journey.journey} v{journey.version}{was} in {run.catalog.directory}; "
        "its open cases are re-planned at the next sweep"
    )
