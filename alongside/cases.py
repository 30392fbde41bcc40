"""`alongside case open|event|fact|assign|rename|move|close|show|list`."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside import output
from alongside.context import assignments, current, pairs
from alongside.output import (
    JsonOption,
    NowOption,
    emit_json,
    out,
    print_history,
    print_rows,
    print_tasks,
)
from engine import queries, service
from engine.core.errors import UserError

app = typer.Typer(no_args_is_help=True, help="Cases: open, record, assign, close, show.")

Ref = Annotated[str, typer.Argument(help="The case reference, e.g. KNT-0042.")]
EventsOption = Annotated[list[str] | None, typer.Option("--event", help="NAME=WHEN.")]
FactsOption = Annotated[list[str] | None, typer.Option("--fact", help="NAME=VALUE.")]
ConfirmOption = Annotated[
    bool, typer.Option("--confirm", help="Yes, an event date more than three years ahead.")
]
# Optional to Typer, required by the use case: a missing reason is then the same one-line
# error (exit 1) as any other bad input, not a usage screen.
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit).")]


@app.command("open")
def open_case(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Pseudonymous case reference, e.g. KNT-0042.")],
    journey: Annotated[str, typer.Option("--journey", help="Journey id.")],
    navigator: Annotated[str, typer.Option("--navigator", help="Navigator's email.")],
    event: EventsOption = None,
    fact: FactsOption = None,
    confirm: ConfirmOption = False,
    now: NowOption = None,
) -> None:
    """Open a case on a journey; its start event is required."""
    events, facts = assignments(event, "event"), pairs(fact, "fact")
    current(ctx).act(
        service.open_case, ref, journey, navigator, events, facts, now=now, confirm=confirm
    )
    typer.echo(f"opened {ref} on {journey}")


@app.command("event")
def record_events(
    ctx: typer.Context,
    ref: Ref,
    events: Annotated[list[str] | None, typer.Argument(help="NAME=WHEN ...")] = None,
    remove: Annotated[
        str | None,
        typer.Option("--remove", metavar="NAME", help="Remove an event (NAME#N: one occurrence)."),
    ] = None,
    reason: ReasonOption = None,
    confirm: ConfirmOption = False,
    now: NowOption = None,
) -> None:
    """Record events, or remove one with a reason.

    The latest recording of an event wins; a repeating event's recording adds an
    occurrence (`arrest=WHEN`), `arrest#2=WHEN` corrects the second, and
    `--remove arrest#2` removes it."""
    if remove is not None:
        if events:
            raise UserError("give NAME=WHEN to record or --remove NAME, not both")
        current(ctx).act(service.remove_event, ref, remove, reason or "", now=now)
        typer.echo(f"removed {remove} from {ref}")
        return
    recorded = assignments(events, "event")
    current(ctx).act(service.record_events, ref, recorded, now=now, confirm=confirm)
    typer.echo(f"recorded {', '.join(name for name, _ in recorded)} on {ref}")


@app.command("fact")
def record_facts(
    ctx: typer.Context,
    ref: Ref,
    facts: Annotated[list[str], typer.Argument(help="NAME=VALUE ... (with --unset: NAME ...)")],
    unset: Annotated[bool, typer.Option("--unset", help="Forget these facts.")] = False,
    now: NowOption = None,
) -> None:
    """Set facts declared by the case's journey, or unset them."""
    if unset:
        current(ctx).act(service.unset_facts, ref, list(facts), now=now)
        typer.echo(f"unset {', '.join(facts)} on {ref}")
        return
    values = pairs(facts, "fact")
    current(ctx).act(service.record_facts, ref, values, now=now)
    typer.echo(f"set {', '.join(values)} on {ref}")


@app.command("assign")
def assign(
    ctx: typer.Context,
    refs: Annotated[list[str] | None, typer.Argument(help="Case references.")] = None,
    navigator: Annotated[
        str, typer.Option("--navigator", help="The new navigator's (or covering lead's) email.")
    ] = "",
    from_email: Annotated[
        str | None, typer.Option("--from", metavar="EMAIL", help="Every open case of EMAIL.")
    ] = None,
    reason: ReasonOption = None,
    now: NowOption = None,
) -> None:
    """Give cases to another navigator (or a team lead, to cover); both are told."""
    if not navigator:
        raise UserError("give the new navigator: --navigator EMAIL")
    moved = current(ctx).act(
        service.assign, list(refs or []), navigator, reason or "", now=now, from_email=from_email
    )
    typer.echo(f"{', '.join(moved)} assigned to {navigator}")


@app.command("rename")
def rename(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="The reference as it is now.")],
    new: Annotated[str, typer.Argument(help="The corrected reference.")],
    reason: ReasonOption = None,
    now: NowOption = None,
) -> None:
    """Correct a case reference; the audit is re-keyed and forgets the old one."""
    current(ctx).act(service.rename_case, old, new, reason or "", now=now)
    typer.echo(f"renamed to {new}")


@app.command("move")
def move(
    ctx: typer.Context,
    ref: Ref,
    journey: Annotated[str, typer.Option("--journey", help="The journey to move it to.")],
    reason: ReasonOption = None,
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a case to another journey, keeping its events and completed work; its open
    tasks the new journey does not plan are cancelled (audited)."""
    result = current(ctx).act(service.move_case, ref, journey, reason or "", now=now)
    if as_json:
        emit_json(result)
        return
    dropped = ", ".join(result["facts_dropped"])
    typer.echo(
        f"moved {ref} from {result['previous']} to {result['journey']}; "
        f"{result['cancelled']} open tasks cancelled"
        + (f"; facts not carried over: {dropped}" if dropped else "")
    )


@app.command("close")
def close(
    ctx: typer.Context,
    ref: str,
    reason: ReasonOption = None,
    now: NowOption = None,
) -> None:
    """Close a case; its open tasks are cancelled."""
    cancelled = current(ctx).act(service.close_case, ref, reason or "", now=now)
    typer.echo(f"closed {ref}; {cancelled} open tasks cancelled")


@app.command("show")
def show(ctx: typer.Context, ref: str, as_json: JsonOption = False) -> None:
    """A case: journey, navigator, facts, events, tasks with their notes and history.
    Every read is written to the audit log."""
    run = current(ctx)
    data = run.act(service.view_case, ref)
    if as_json:
        emit_json(data)
        return
    version = f"{data['journey']} v{data['journey_version']}"
    out.print(f"[bold]{output.cell(data['ref'])}[/bold] {version} ({data['status']})")
    out.print(f"navigator {data['navigator']}, organisation {data['organisation']}")
    facts = ", ".join(f"{k}={v}" for k, v in data["facts"].items()) or "none"
    out.print("facts: " + output.cell(facts))
    for name, value in data["events"].items():
        out.print(f"event {name}: {value}")
    if data.get("closed_reason"):
        out.print(f"closed: {output.cell(data['closed_reason'])}")
    print_tasks(data["tasks"], run.settings.zone, with_case=False)
    for task in data["tasks"]:
        print_history(task, run.settings.zone)


@app.command("list")
def list_cases(
    ctx: typer.Context,
    navigator: Annotated[str | None, typer.Option("--navigator")] = None,
    org: Annotated[str | None, typer.Option("--org")] = None,
    limit: output.LimitOption = output.DEFAULT_LIMIT,
    everything: output.AllOption = False,
    as_json: JsonOption = False,
) -> None:
    """List the cases you may see, optionally by navigator or organisation."""
    run = current(ctx)
    with run.unit_of_work() as session:
        rows = queries.cases(
            session,
            run.actor(session),
            navigator,
            org,
            limit=(shown := output.page(limit, everything)),
        )
    if as_json:
        output.emit_json_rows(rows)
    else:
        print_rows(rows, ["ref", "journey", "status", "organisation", "navigator", "open_tasks"])
    output.note_cut(rows, shown)
