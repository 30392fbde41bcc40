"""`alongside investigation open|link|unlink|event|show|list`."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside import output
from alongside.context import current
from alongside.output import JsonOption, NowOption, emit_json, out, print_rows
from engine import investigations
from engine.core.investigations import EVENTS
from engine.core.values import split_assignment

app = typer.Typer(
    no_args_is_help=True,
    help="Investigations: link survivors' cases to one police operation, record its events.",
)

Ref = Annotated[str, typer.Argument(help="The investigation reference, e.g. OP-0001.")]
Cases = Annotated[list[str], typer.Argument(help="Case references, e.g. KNT-0042.")]


@app.command("open")
def open_investigation(
    ctx: typer.Context,
    ref: Ref,
    organisation: Annotated[str, typer.Option("--organisation", help="Organisation id.")],
    now: NowOption = None,
) -> None:
    """Open an investigation in an organisation (its reference follows the organisation's
    reference pattern)."""
    current(ctx).act(investigations.open_investigation, ref, organisation, now=now)
    typer.echo(f"opened investigation {ref} in {organisation}")


@app.command("link")
def link(ctx: typer.Context, ref: Ref, cases: Cases, now: NowOption = None) -> None:
    """Link cases; each receives the investigation's events so far and is planned at once."""
    result = current(ctx).act(investigations.link, ref, list(cases), now=now)
    linked = ", ".join(result["linked"]) or "nothing new (already linked)"
    typer.echo(f"linked to {ref}: {linked}")


@app.command("unlink")
def unlink(ctx: typer.Context, ref: Ref, cases: Cases, now: NowOption = None) -> None:
    """Unlink cases: later events no longer reach them; what they received stays."""
    result = current(ctx).act(investigations.unlink, ref, list(cases), now=now)
    typer.echo(f"unlinked from {ref}: {', '.join(result['unlinked'])}")


@app.command("event")
def record_event(
    ctx: typer.Context,
    ref: Ref,
    event: Annotated[
        str, typer.Argument(metavar="NAME=WHEN", help=f"One of: {', '.join(EVENTS)}.")
    ],
    count: Annotated[
        int | None,
        typer.Option("--count", help="How many suspects (arrest, charge, conviction)."),
    ] = None,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Yes, a date more than three years ahead.")
    ] = False,
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record an investigation event; every linked case whose journey declares it gets it
    too, and is planned at once. The same event again changes nothing."""
    name, when = split_assignment(event, "event")
    result = current(ctx).act(
        investigations.record_event, ref, name, when, count, now=now, confirm=confirm
    )
    if as_json:
        emit_json(result)
    elif not result["recorded"]:
        typer.echo(f"{name} on {result['at']} is already recorded on {ref}: nothing changed")
    else:
        reached = ", ".join(result["cases"]) or "no linked case declares it"
        typer.echo(f"recorded {name} on {ref}; on cases: {reached}")


@app.command("show")
def show(ctx: typer.Context, ref: Ref, as_json: JsonOption = False) -> None:
    """An investigation: its events with their counts, and the linked cases you may see."""
    data = current(ctx).act(investigations.view_investigation, ref)
    if as_json:
        emit_json(data)
        return
    out.print(f"[bold]{output.cell(data['ref'])}[/bold] ({data['organisation']})")
    print_rows(
        [{**e, "count": "" if e["count"] is None else e["count"]} for e in data["events"]],
        ["name", "at", "count"],
        title="Events",
    )
    shown = ", ".join(data["cases"]) or "none you may see"
    out.print(f"linked cases ({data['linked']}): {output.cell(shown)}")


@app.command("list")
def list_investigations(
    ctx: typer.Context,
    organisation: Annotated[str | None, typer.Option("--organisation")] = None,
    as_json: JsonOption = False,
) -> None:
    """The investigations you may see, with how many cases and events each has."""
    run = current(ctx)
    with run.unit_of_work() as session:
        rows = investigations.investigations(session, run.actor(session), organisation)
    if as_json:
        emit_json(rows)
    else:
        print_rows(rows, ["ref", "organisation", "linked", "events"])
