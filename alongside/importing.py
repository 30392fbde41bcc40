"""`alongside import cases|investigation-events FILE.csv [--dry-run]`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from alongside.context import current
from alongside.output import JsonOption, NowOption, emit_json
from engine.core.errors import UserError

app = typer.Typer(no_args_is_help=True, help="Import cases and investigation events from CSV.")

FileArgument = Annotated[Path, typer.Argument(metavar="FILE.csv", help="A CSV file.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Check every row and report; import nothing.")
]


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UserError(f"{path}: cannot read file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}:1: not UTF-8 text (save the spreadsheet as CSV UTF-8)") from None


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None] | None]:
    """A Rich progress bar on stderr when it is a terminal; nothing in a pipe or a log."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("planning cases", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


@app.command("cases")
def cases(
    ctx: typer.Context,
    file: FileArgument,
    dry_run: DryRunOption = False,
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open every case of a CSV file (reference, journey, navigator, investigation,
    event:NAME..., fact:NAME...), or none if any row has a problem."""
    from engine.importing import import_cases

    text = _text(file)
    with _progress() as progress:
        result = current(ctx).act(
            import_cases, text, str(file), now=now, dry_run=dry_run, progress=progress
        )
    if as_json:
        emit_json(result)
    else:
        verb = "would import" if dry_run else "imported"
        typer.echo(f"{file}: {verb} {result['cases']} cases")


@app.command("investigation-events")
def investigation_events(
    ctx: typer.Context,
    file: FileArgument,
    dry_run: DryRunOption = False,
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record every investigation event of a CSV file (investigation, organisation, event,
    at, count), opening unknown investigations; or none if any row has a problem."""
    from engine.importing import import_investigation_events

    text = _text(file)
    result = current(ctx).act(
        import_investigation_events, text, str(file), now=now, dry_run=dry_run
    )
    if as_json:
        emit_json(result)
    else:
        verb = "would record" if dry_run else "recorded"
        skipped = f" ({result['skipped']} already recorded)" if result["skipped"] else ""
        typer.echo(f"{file}: {verb} {result['events']} investigation events{skipped}")
