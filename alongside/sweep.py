"""`alongside tick` and `alongside digest`: one sweep, or the day's digests, right now."""

from __future__ import annotations

from typing import Annotated

import typer

from alongside.context import current
from alongside.output import JsonOption, NowOption, emit_json


def tick_command(
    ctx: typer.Context,
    now: NowOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 500,
    as_json: JsonOption = False,
) -> None:
    """One sweep: re-plan what changed, queue due reminders and escalations, dispatch."""
    from engine.sweep import plan_and_alert
    from notifications.dispatch import dispatch

    run = current(ctx)
    moment = run.instant(now)
    counts = plan_and_alert(run.url, run.catalog, moment, batch_size, run.settings.hours)
    sent = dispatch(run.url, moment, run.settings)
    result = {**counts.as_dict(), **sent.as_dict()}
    if as_json:
        emit_json(result)
        return
    typer.echo(", ".join(f"{k} {v}" for k, v in result.items() if k != "errors"))
    for error in counts.errors:
        typer.echo(f"warning: {error}", err=True)


def digest_command(ctx: typer.Context, now: NowOption = None, as_json: JsonOption = False) -> None:
    """Queue today's digests (once per person per day), then deliver what is due."""
    from notifications.digest import queue_digests
    from notifications.dispatch import dispatch

    run = current(ctx)
    moment = run.instant(now)
    queued = queue_digests(run.url, run.catalog, moment)
    result = dispatch(run.url, moment, run.settings)
    if as_json:
        emit_json({"queued": queued, **result.as_dict()})
    else:
        typer.echo(f"queued {queued} digests; {result.summary()}")
