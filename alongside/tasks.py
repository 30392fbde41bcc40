"""`alongside task list|done|waive|reopen`."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside import output
from alongside.context import current
from alongside.output import AllOption, JsonOption, LimitOption, NowOption

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
    limit: LimitOption = output.DEFAULT_LIMIT,
    everything: AllOption = False,
    as_json: JsonOption = False,
) -> None:
    """List tasks by case, navigator or status (the first 100 unless --limit or --all)."""
    from engine import queries

    run = current(ctx)
    with run.unit_of_work() as session:
        rows = queries.tasks(
            session,
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
        output.print_tasks(rows, run.settings.zone, with_case=True)
    output.note_cut(rows, shown)


@app.command("show")
def show(ctx: typer.Context, task_id: TaskId, as_json: JsonOption = False) -> None:
    """One task, with its note or waive reason (shown only here and in `case show`)."""
    from engine import queries

    run = current(ctx)
    with run.unit_of_work() as session:
        row = queries.task_detail(session, task_id)
    if as_json:
        output.emit_json(row)
        return
    output.print_tasks([row], run.settings.zone, with_case=True)
    for label in ("note", "reason"):
        if row[label]:
            typer.echo(f"{label}: {output.plain(row[label])}")


@app.command("done")
def done(
    ctx: typer.Context,
    task_id: TaskId,
    at: Annotated[str | None, typer.Option("--at", help="When it was done (default: now).")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    now: NowOption = None,
) -> None:
    """Mark a task done."""
    from engine import service

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
    from engine import service

    current(ctx).act(service.waive_task, task_id, reason, now=now)
    typer.echo(f"task {task_id} waived")


@app.command("reopen")
def reopen(ctx: typer.Context, task_id: TaskId, now: NowOption = None) -> None:
    """Reopen a done or waived task."""
    from engine import service

    current(ctx).act(service.reopen_task, task_id, now=now)
    typer.echo(f"task {task_id} reopened")
