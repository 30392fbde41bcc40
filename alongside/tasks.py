"""`alongside task list|done|waive|reopen|ack`."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside.context import current
from alongside.output import JsonOption, NowOption, emit_json, print_tasks
from engine import queries, service
from engine.acknowledgements import acknowledge_task

app = typer.Typer(no_args_is_help=True, help="Tasks: list, complete, waive, reopen.")

TaskId = Annotated[int, typer.Argument(metavar="ID")]


@app.command("list")
def list_tasks(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option("--case")] = None,
    navigator: Annotated[str | None, typer.Option("--navigator")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Open and past due.")] = False,
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tasks by case, navigator or status."""
    run = current(ctx)
    with run.unit_of_work() as session:
        rows = queries.tasks(
            session,
            run.instant(now),
            case=case,
            navigator=navigator,
            status=status,
            overdue=overdue,
        )
    if as_json:
        emit_json(rows)
    else:
        print_tasks(rows, run.settings.zone, with_case=True)


@app.command("done")
def done(
    ctx: typer.Context,
    task_id: TaskId,
    at: Annotated[str | None, typer.Option("--at", help="When it was done (default: now).")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    now: NowOption = None,
) -> None:
    """Mark a task done."""
    run = current(ctx)
    with run.unit_of_work() as session:
        moment = run.instant(now)
        done_at = run.instant(at) if at else None
        service.complete_task(session, run.catalog, task_id, done_at, note, moment, service.actor())
    typer.echo(f"task {task_id} done")


@app.command("waive")
def waive(
    ctx: typer.Context,
    task_id: TaskId,
    reason: Annotated[str, typer.Option("--reason")],
    now: NowOption = None,
) -> None:
    """Waive a task, with the reason."""
    current(ctx).act(service.waive_task, task_id, reason, now=now)
    typer.echo(f"task {task_id} waived")


@app.command("reopen")
def reopen(ctx: typer.Context, task_id: TaskId, now: NowOption = None) -> None:
    """Reopen a done or waived task."""
    current(ctx).act(service.reopen_task, task_id, now=now)
    typer.echo(f"task {task_id} reopened")


@app.command("ack")
def ack(ctx: typer.Context, task_id: TaskId, now: NowOption = None) -> None:
    """Acknowledge a task's escalation: no further steps of it come to you."""
    current(ctx).act(acknowledge_task, task_id, now=now)
    typer.echo(f"task {task_id} acknowledged")
