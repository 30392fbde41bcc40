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

from alongside import (
    admin,
    cases,
    importing,
    investigations,
    journeys,
    ops,
    outbox,
    reports,
    staff,
    tasks,
    team,
)
from alongside.context import Invocation
from alongside.run import demo, run
from alongside.serve import serve
from alongside.startup import settled
from alongside.sweep import digest_command, tick_command
from engine.core.errors import UserError

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
app.add_typer(investigations.app, name="investigation")
app.add_typer(tasks.app, name="task")
app.add_typer(team.app, name="team")
app.add_typer(outbox.app, name="outbox")
app.add_typer(ops.app, name="ops")
app.add_typer(reports.app, name="report")
app.add_typer(importing.app, name="import")
app.command("tick")(tick_command)
app.command("digest")(digest_command)
app.command("audit")(admin.audit)
app.command("run")(run)
app.command("demo")(demo)
app.command("serve")(serve)


@app.callback()
def _options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Data directory (default $ALONGSIDE_HOME or ./.alongside)."),
    ] = None,
    acting_as: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="EMAIL",
            help="Act as this person, within their scope (default: the home's operator).",
        ),
    ] = None,
) -> None:
    global _invocation
    ctx.obj = _invocation = Invocation(home, acting_as)
    from engine.files import warning
    from engine.settings import home_dir

    if (loose := warning(home or home_dir())) is not None:
        typer.echo(loose, err=True)


_invocation: Invocation | None = None  # the running command's, to name its database in errors


def _database_url() -> str | None:
    """The database the failed command used, if its settings could be read at all."""
    try:
        return _invocation.url if _invocation is not None else None
    except Exception:  # the settings themselves are what failed
        return None


GLOBAL_OPTIONS = ("--home", "--as")


def _home_first(argv: list[str]) -> list[str]:
    """Accept `--home DIR` and `--as EMAIL` anywhere (`alongside case list --home x`), as
    every command should: they are moved in front of the command."""
    front: list[str] = []
    rest = list(argv)
    for option in GLOBAL_OPTIONS:
        for i, arg in enumerate(rest):
            if arg == option and i + 1 < len(rest):
                front += [option, rest[i + 1]]
                del rest[i : i + 2]
                break
            if arg.startswith(f"{option}="):
                front.append(arg)
                del rest[i]
                break
    return [*front, *rest]


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning every error into one line and an exit status.

    A user error is its own message (exit 1). Anything else goes through
    `engine.failures.explain`, which never shows an error's text: a database error's text
    holds the statement and its parameters (a case's facts), a settings error's the value
    (a password). A database that cannot be reached exits 69, a bug 70.
    """
    try:
        with settled():
            app(args=_home_first(sys.argv[1:] if argv is None else argv), prog_name="alongside")
    except UserError as error:  # several lines only for a file with several problems
        for line in str(error).splitlines() or [""]:
            typer.echo(f"error: {line}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        if os.environ.get("ALONGSIDE_DEBUG"):
            raise
        from engine.failures import explain

        line, status = explain(error, _database_url())
        typer.echo(line, err=True)
        sys.exit(status)
