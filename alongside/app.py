"""The composition root: the `alongside` Typer app, assembled from one module per group.

`main` is the console script. It accepts `--home DIR` anywhere on the line, builds the
invocation's settings once (`context.Invocation`), and turns a `UserError` into one line on
stderr and exit 1, and a database it cannot reach into one line and exit 69
(EX_UNAVAILABLE); nothing a person types produces a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from alongside import admin, cases, journeys, ops, outbox, staff, tasks
from alongside.context import Invocation
from alongside.run import demo, run
from alongside.sweep import digest_command, tick_command
from engine.core.errors import UserError
from engine.store import unreachable

EX_UNAVAILABLE = 69  # sysexits.h: a service this command needs is unavailable
EX_SOFTWARE = 70

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Alongside: journeys, cases, tasks and the sweep for victim navigator programmes.",
)
app.add_typer(journeys.app, name="journeys")
app.add_typer(admin.db_app, name="db")
app.add_typer(staff.app, name="staff")
app.add_typer(cases.app, name="case")
app.add_typer(tasks.app, name="task")
app.add_typer(outbox.app, name="outbox")
app.add_typer(ops.app, name="ops")
app.command("tick")(tick_command)
app.command("digest")(digest_command)
app.command("audit")(admin.audit)
app.command("run")(run)
app.command("demo")(demo)


@app.callback()
def _options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Data directory (default $ALONGSIDE_HOME or ./.alongside)."),
    ] = None,
) -> None:
    if isinstance(ctx.obj, Invocation):  # the one `main` made, so it can name the database
        ctx.obj.home = home
    else:
        ctx.obj = Invocation(home)


def _home_first(argv: list[str]) -> list[str]:
    """Accept `--home DIR` anywhere (`alongside case list --home x`), as every command should."""
    for i, arg in enumerate(argv):
        if arg == "--home" and i + 1 < len(argv):
            return ["--home", argv[i + 1], *argv[:i], *argv[i + 2 :]]
        if arg.startswith("--home="):
            return [arg, *argv[:i], *argv[i + 1 :]]
    return argv


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line and exit 1."""
    invocation = Invocation()
    try:
        app(
            args=_home_first(sys.argv[1:] if argv is None else argv),
            prog_name="alongside",
            obj=invocation,
        )
    except UserError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # a bug: still one line, with a way to see the traceback
        line = _unreachable(error, invocation)
        if line is not None:
            typer.echo(f"error: {line}", err=True)
            sys.exit(EX_UNAVAILABLE)
        if os.environ.get("ALONGSIDE_DEBUG"):
            raise
        typer.echo(
            f"internal error: {type(error).__name__}: {error} (ALONGSIDE_DEBUG=1 shows more)",
            err=True,
        )
        sys.exit(EX_SOFTWARE)


def _unreachable(error: BaseException, invocation: Invocation) -> str | None:
    """One line for a database that cannot be reached, or None for any other error."""
    try:
        return unreachable(error, invocation.url)
    except Exception:  # the settings themselves do not load: not a database outage
        return None
