"""Printing for people (Rich tables) and for scripts (`--json`)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from notifications.render import seen_precision

out = Console(highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Act as at WHEN (ISO; local to Europe/London). Default: now."),
]


LimitOption = Annotated[
    int, typer.Option("--limit", min=1, help="Show at most this many (default 100).")
]
AllOption = Annotated[bool, typer.Option("--all", help="Show every one: no limit.")]
DEFAULT_LIMIT = 100


def page(limit: int, everything: bool) -> int | None:
    """How many rows a listing reads: `--limit` (default 100), or all of them."""
    return None if everything else limit


def note_cut(rows: list, limit: int | None) -> None:
    """Say on stderr that a listing stopped at its limit, so a person knows there is more."""
    if limit is not None and len(rows) >= limit:
        typer.echo(f"showing the first {limit}; --limit N or --all for more", err=True)


def emit_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def emit_json_rows(rows: list[dict]) -> None:
    """A JSON array written a row at a time, so `--all` over a large listing starts at once
    and never builds the whole document in memory."""
    sys.stdout.write("[")
    for number, row in enumerate(rows):
        sys.stdout.write(("," if number else "") + "\n  " + json.dumps(row, default=str))
    sys.stdout.write("\n]\n" if rows else "]\n")


def print_rows(rows: list[dict], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else cell(str(row.get(c))) for c in columns))
    out.print(table)


def print_tasks(rows: list[dict], zone: ZoneInfo, *, with_case: bool) -> None:
    """Tasks for people: local due dates, and titles rather than ids of obligations."""
    table = Table()
    for column in ("id", *(("case",) if with_case else ()), "due", "status", "esc", "task"):
        table.add_column(column, overflow="fold")
    for row in rows:
        due = datetime.fromisoformat(row["due"]).astimezone(zone)
        by_day = seen_precision(due, row["precision"], zone) == "day"
        when = f"{due:%a %d %b %Y}" + ("" if by_day else f" {due:%H:%M}")
        title = row["title"] + (f" (#{row['occurrence']})" if row["occurrence"] > 1 else "")
        level = str(row["escalation_level"] or "")
        status = row["status"] + (" (not reached)" if row.get("outcome") == "not_reached" else "")
        cells = (str(row["id"]), *((cell(row["case"]),) if with_case else ()), when, status)
        table.add_row(*cells, level, cell(title))
    out.print(table)


def plain(text: str) -> str:
    """Text for a terminal: control characters (escape sequences) shown, not obeyed."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def cell(text: str) -> str:
    """Text for a Rich table: printable, and its `[...]` shown rather than read as markup.
    Titles, references and notes all pass through here."""
    return escape(plain(text))


def _local(text: str | None, zone: ZoneInfo) -> str:
    return f"{datetime.fromisoformat(text).astimezone(zone):%a %d %b %Y %H:%M}" if text else ""


def print_history(task: dict, zone: ZoneInfo) -> None:
    """A task's closures and reopenings (who, when, why), and its current note, if any."""
    for entry in task["history"]:
        why = entry["reason"] or entry["note"]
        outcome = f" ({entry['outcome'].replace('_', ' ')})" if entry.get("outcome") else ""
        out.print(
            f"task {task['id']}: {entry['action']}{outcome} {_local(entry['at'], zone)} "
            f"by {entry['by']}" + (f": {cell(why)}" if why else "")
        )
