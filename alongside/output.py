"""Printing for people (Rich tables) and for scripts (`--json`)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

out = Console(highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Act as at WHEN (ISO; local to Europe/London). Default: now."),
]


def emit_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_rows(rows: list[dict], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    out.print(table)


def print_tasks(rows: list[dict], zone: ZoneInfo, *, with_case: bool) -> None:
    """Tasks for people: local due dates, and titles rather than ids of obligations."""
    table = Table()
    for column in ("id", *(("case",) if with_case else ()), "due", "status", "esc", "task"):
        table.add_column(column, overflow="fold")
    for row in rows:
        due = datetime.fromisoformat(row["due"]).astimezone(zone)
        end_of_day = (due.hour, due.minute, due.second) == (23, 59, 59)
        when = f"{due:%a %d %b %Y}" + ("" if end_of_day else f" {due:%H:%M}")
        title = row["title"] + (f" (#{row['occurrence']})" if row["occurrence"] > 1 else "")
        level = str(row["escalation_level"] or "")
        cells = (str(row["id"]), *((row["case"],) if with_case else ()), when, row["status"])
        table.add_row(*cells, level, title)
    out.print(table)


def _local(text: str | None, zone: ZoneInfo) -> str:
    return f"{datetime.fromisoformat(text).astimezone(zone):%a %d %b %Y %H:%M}" if text else ""


def print_history(task: dict, zone: ZoneInfo) -> None:
    """A task's closures and reopenings (who, when, why), and its current note, if any."""
    for entry in task["history"]:
        why = entry["reason"] or entry["note"]
        out.print(
            f"task {task['id']}: {entry['action']} {_local(entry['at'], zone)} by {entry['by']}"
            + (f": {why}" if why else "")
        )
