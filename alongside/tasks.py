"""`alongside task list|show|done|waive|reopen|ack`."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside import output
from alongside.context import current
from alongside.output import JsonOption, NowOption, emit_json, out, print_history, print_tasks
from engine import queries, service
from engine.acknowledgements import acknowledge_task

app = typer.Typer(no_args_is_help=True, help="Tasks: list, show, complete, waive, reopen.")

TaskId = Annotated[int, typer.Argument(metavar="ID")]


@app.command("list")
def list_tasks(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option("--case")] = None,
    navigator: Annotated[str | None, typer.Option("--navigator")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Open and past due.")] = False,
    now: NowOption = None,
    limit: output.LimitOption = output.DEFAULT_LIMIT,
    everything: output.AllOption = False,
    as_json: JsonOption = False,
) -> None:
    """List tasks by case, navigator or status (the first 100 unless --limit or --all)."""
    run = current(ctx)
    with run.unit_of_work() as session:
        rows = queries.tasks(
            session,
            run.actor(session),
            run.instant(now),
            case=case,
            navigator=navigator,
            status=status,
            overdue=overdue,
            limit=(shown := output.page(limit, everything)),
        )
    if as_json:
        output.emit_json_rows(rows)
    else:
        print_tasks(rows, run.settings.zone, with_case=True)
    output.note_cut(rows, shown)


@app.command("show")
def show(ctx: typer.Context, task_id: TaskId, as_json: JsonOption = False) -> None:
    """One task: its due date, state, the journey's guidance for it, its note, and who
    closed or reopened it, when and why. Every read is written to the audit log."""
    run = current(ctx)
    data = run.act(service.view_task, task_id)
    if as_json:
        emit_json(data)
        return
    print_tasks([data], run.settings.zone, with_case=True)
    if data["guidance"]:
        out.print(f"guidance: {output.cell(data['guidance'])}")
    if data["note"]:
        out.print(f"note: {output.cell(data['note'])}")
    if data["reason"]:
        out.print(f"reason: {output.cell(data['reason'])}")
    print_history(data, run.settings.zone)


@app.command("done")
def done(
    ctx: typer.Context,
    task_id: TaskId,
    at: Annotated[str | None, typer.Option("--at", help="When it was done (default: now).")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    outcome: Annotated[
        str | None,
        typer.Option(
            "--outcome",
            metavar="reached|not_reached",
            help="A contact task: was the survivor reached (default: reached)?",
        ),
    ] = None,
    now: NowOption = None,
) -> None:
    """Mark a task done (--at: when, if earlier; never in the future); a contact task
    with its outcome."""
    run = current(ctx)
    done_at = run.instant(at) if at else None
    task = run.act(service.complete_task, task_id, done_at, note, now=now, outcome=outcome)
    said = f" ({task.outcome.replace('_', ' ')})" if task.outcome else ""
    typer.echo(f"task {task_id} done{said}")


@app.command("waive")
def waive(
    ctx: typer.Context,
    task_id: TaskId,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (required).")] = None,
    now: NowOption = None,
) -> None:
    """Waive a task, with the reason."""
    current(ctx).act(service.waive_task, task_id, reason or "", now=now)
    typer.echo(f"task {task_id} waived")


@app.command("reopen")
def reopen(ctx: typer.Context, task_id: TaskId, now: NowOption = None) -> None:
    """Reopen a done or waived task (its history is kept)."""
    current(ctx).act(service.reopen_task, task_id, now=now)
    typer.echo(f"task {task_id} reopened")


@app.command("ack")
def ack(ctx: typer.Context, task_id: TaskId, now: NowOption = None) -> None:
    """Acknowledge a task's escalation: no further steps of it come to you."""
    current(ctx).act(acknowledge_task, task_id, now=now)
    typer.echo(f"task {task_id} acknowledged")
