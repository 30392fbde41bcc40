"""`python -m flows run|demo`: the two commands without the main CLI (used by the tests).

`alongside run` and `alongside demo` are the same functions, registered in engine/cli.py.
"""

from __future__ import annotations

import sys

import typer

from engine.errors import UserError
from flows.cli import demo, run

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.command("run")(run)
app.command("demo")(demo)


def main() -> None:
    try:
        app()
    except UserError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
