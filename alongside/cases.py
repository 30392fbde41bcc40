"""`alongside case open|event|fact|assign|close|show|list`."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside import output
from alongside.context import current, pairs
from alongside.output import AllOption, JsonOption, LimitOption, NowOption

app = typer.Typer(no_args_is_help=True, help="Cases: open, record, assign, close, show.")

Ref = Annotated[str, typer.Argument(help="The case reference, e.g. KNT-0042.")]
EventsOption = Annotated[list[str] | None, typer.Option("--event", help="NAME=WHEN.")]
EventArgs = Annotated[list[str], typer.Argument(help="NAME=WHEN ...")]
FactArgs = Annotated[list[str], typer.Argument(help="NAME=VALUE ...")]
FactsOption = Annotated[list[str] | None, typer.Option("--fact", help="NAME=VALUE.")]


@app.command("open")
def open_case(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Pseudonymous case reference, e.g. KNT-0042.")],
    journey: Annotated[str, typer.Option("--journey", help="Journey id.")],
    navigator: Annotated[str, typer.Option("--navigator", help="Navigator's email.")],
    event: EventsOption = None,
    fact: FactsOption = None,
    now: NowOption = None,
) -> None:
    """Open a case on a journey; its start event is required."""
    from engine import service

    events, facts = pairs(event, "event"), pairs(fact, "fact")
    current(ctx).act(service.open_case, ref, journey, navigator, events, facts, now=now)
    typer.echo(f"opened {ref} on {journey}")


@app.command("event")
def record_events(ctx: typer.Context, ref: Ref, events: EventArgs, now: NowOption = None) -> None:
    """Record events (the latest recording of an event wins)."""
    from engine import service

    recorded = pairs(events, "event")
    current(ctx).act(service.record_events, ref, recorded, now=now)
    typer.echo(f"recorded {', '.join(recorded)} on {ref}")


@app.command("fact")
def record_facts(ctx: typer.Context, ref: Ref, facts: FactArgs, now: NowOption = None) -> None:
    """Set facts declared by the case's journey."""
    from engine import service

    values = pairs(facts, "fact")
    current(ctx).act(service.record_facts, ref, values, now=now)
    typer.echo(f"set {', '.join(values)} on {ref}")


@app.command("assign")
def assign(
    ctx: typer.Context,
    ref: str,
    navigator: Annotated[str, typer.Option("--navigator", help="Navigator's email.")],
    now: NowOption = None,
) -> None:
    """Give the case to another navigator."""
    from engine import service

    current(ctx).act(service.assign, ref, navigator, now=now)
    typer.echo(f"{ref} assigned to {navigator}")


@app.command("close")
def close(
    ctx: typer.Context,
    ref: str,
    reason: Annotated[str, typer.Option("--reason", help="Why the case is closed.")],
    now: NowOption = None,
) -> None:
    """Close a case; its open tasks are cancelled."""
    from engine import service

    cancelled = current(ctx).act(service.close_case, ref, reason, now=now)
    typer.echo(f"closed {ref}; {cancelled} open tasks cancelled")


@app.command("show")
def show(ctx: typer.Context, ref: str, as_json: JsonOption = False) -> None:
    """A case: journey, navigator, facts, events and tasks."""
    from engine import queries

    run = current(ctx)
    with run.unit_of_work() as session:
        data = queries.case_detail(session, ref)
    if as_json:
        output.emit_json(data)
        return
    version = f"{data['journey']} v{data['journey_version']}"
    output.out.print(f"[bold]{output.cell(data['ref'])}[/bold] {version} ({data['status']})")
    output.out.print(f"navigator {data['navigator']}, organisation {data['organisation']}")
    facts = ", ".join(f"{k}={v}" for k, v in data["facts"].items()) or "none"
    output.out.print("facts: " + output.cell(facts))
    for name, value in data["events"].items():
        output.out.print(f"event {name}: {value}")
    if data["closed_reason"]:
        typer.echo(f"closed: {output.plain(data['closed_reason'])}")
    output.print_tasks(data["tasks"], run.settings.zone, with_case=False)
    for task in data["tasks"]:
        for label in ("note", "reason"):
            if task[label] and task["status"] != "cancelled":
                typer.echo(f"task {task['id']} {label}: {output.plain(task[label])}")


@app.command("list")
def list_cases(
    ctx: typer.Context,
    navigator: Annotated[str | None, typer.Option("--navigator")] = None,
    org: Annotated[str | None, typer.Option("--org")] = None,
    limit: LimitOption = output.DEFAULT_LIMIT,
    everything: AllOption = False,
    as_json: JsonOption = False,
) -> None:
    """List cases, optionally by navigator or organisation (the first 100 unless --all)."""
    from engine import queries

    with current(ctx).unit_of_work() as session:
        rows = queries.cases(
            session, navigator, org, limit=(shown := output.page(limit, everything))
        )
    if as_json:
        output.emit_json_rows(rows)
    else:
        output.print_rows(
            rows, ["ref", "journey", "status", "organisation", "navigator", "open_tasks"]
        )
    output.note_cut(rows, shown)
