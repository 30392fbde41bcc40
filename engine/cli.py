"""The `alongside` command: a thin shell over the engine.

Every command turns its arguments into a call on the engine or the service layer and prints
the result, as a table for people or as JSON (`--json`) for scripts. A `UserError` becomes
one line on stderr and exit 1; nothing a person types produces a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from engine.errors import UserError

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Alongside: journeys, cases, tasks and the sweep for victim navigator programmes.",
)
journeys_app = typer.Typer(no_args_is_help=True, help="Write, check and try out journeys.")
app.add_typer(journeys_app, name="journeys")

out = Console(highlight=False, soft_wrap=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def emit_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@app.callback()
def _options(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Data directory (default $ALONGSIDE_HOME or ./.alongside)."),
    ] = None,
) -> None:
    if home is not None:
        os.environ["ALONGSIDE_HOME"] = str(home)
    from engine.files import warning
    from engine.settings import home_dir

    if (loose := warning(home_dir())) is not None:
        typer.echo(loose, err=True)


# --- journeys ---------------------------------------------------------------------------


@journeys_app.command("validate")
def journeys_validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Journey files (default: all).")
    ] = None,
) -> None:
    """Check journeys; print one line per valid file, or every problem as FILE:LINE:COL."""
    from engine import catalog
    from engine.loader import JourneyError, load_journey

    files = paths or catalog.journey_files()
    if not files:
        raise UserError("no journey files to validate")
    failed = False
    for path in files:
        try:
            journey = load_journey(path)
        except JourneyError as error:
            failed = True
            for problem in error.problems:
                typer.echo(str(problem))
            continue
        count = sum(len(s.obligations) for s in journey.stages)
        typer.echo(
            f"{path}: ok: {journey.journey} v{journey.version}, "
            f"{len(journey.stages)} stages, {count} obligations"
        )
    if failed:
        raise typer.Exit(1)


@journeys_app.command("schema")
def journeys_schema() -> None:
    """Print the JSON Schema of the journey language."""
    from engine.loader import json_schema

    sys.stdout.write(json_schema())


@journeys_app.command("simulate")
def journeys_simulate(
    journey: Annotated[str, typer.Argument(help="Journey id or path to a YAML file.")],
    event: Annotated[list[str] | None, typer.Option("--event", help="NAME=WHEN (ISO).")] = None,
    fact: Annotated[list[str] | None, typer.Option("--fact", help="NAME=VALUE.")] = None,
    now: Annotated[str | None, typer.Option(help="Plan as at WHEN (default: now).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the dated plan a journey gives for the events and facts you name."""
    from engine import catalog
    from engine.clock import utcnow
    from engine.planner import plan
    from engine.values import (
        check_event_name,
        parse_event_time,
        parse_fact,
        parse_instant,
        split_assignment,
    )

    definition = catalog.resolve(journey)
    events = {}
    for item in event or []:
        name, value = split_assignment(item, "event")
        check_event_name(definition, name)
        events[name] = parse_event_time(value, definition.tz)
    facts = {}
    for item in fact or []:
        name, value = split_assignment(item, "fact")
        facts[name] = parse_fact(definition, name, value)
    moment = parse_instant(now, definition.tz) if now else utcnow()
    result = plan(definition, facts, events, {}, moment)
    rows = [
        {
            "obligation": t.obligation,
            "stage": t.stage,
            "title": t.title,
            "category": t.category,
            "occurrence": t.occurrence,
            "due": t.due.isoformat(),
            "due_local": t.due.astimezone(definition.tz).isoformat(),
        }
        for t in result.tasks
    ]
    if as_json:
        emit_json(rows)
        return
    table = Table(
        title=f"{definition.journey} v{definition.version}: plan as at {moment:%Y-%m-%d %H:%M}Z"
    )
    for column in ("due (local)", "stage", "obligation", "#", "category", "title"):
        table.add_column(column)
    for row, task in zip(rows, result.tasks, strict=True):
        local = task.due.astimezone(definition.tz)
        when = f"{local:%a %d %b %Y}" if task.precision == "day" else f"{local:%a %d %b %Y %H:%M}"
        table.add_row(
            when,
            row["stage"],
            row["obligation"],
            str(row["occurrence"]),
            row["category"],
            row["title"],
        )
    out.print(table)


@journeys_app.command("show")
def journeys_show(
    journey: Annotated[str, typer.Argument(help="Journey id or path to a YAML file.")],
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Print a Mermaid diagram.")] = False,
) -> None:
    """Outline a journey: stages, obligations, deadlines in words, escalation ladders."""
    from engine import catalog
    from engine.outline import mermaid_diagram, outline

    definition = catalog.resolve(journey)
    typer.echo(mermaid_diagram(definition) if mermaid else outline(definition))


# --- shared helpers ---------------------------------------------------------------------

NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Act as at WHEN (ISO; local to Europe/London). Default: now."),
]
CLI_ZONE = "Europe/London"


def _instant(text: str | None) -> datetime:
    """`--now`/`--at` text as a UTC instant; the wall clock when not given."""
    from zoneinfo import ZoneInfo

    from engine.clock import utcnow
    from engine.values import parse_instant

    return parse_instant(text, ZoneInfo(CLI_ZONE)) if text else utcnow()


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    from engine.values import split_assignment

    pairs: dict[str, str] = {}
    for item in items or []:
        name, value = split_assignment(item, what)
        pairs[name] = value
    return pairs


def _url() -> str:
    from engine.settings import Settings

    return Settings().url


@contextmanager
def _unit_of_work():
    """A session on the configured database that commits only if the command succeeds."""
    from engine.store import session_scope

    with session_scope(_url()) as session:
        yield session


def _print_rows(rows: list[dict], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    out.print(table)


def _print_tasks(rows: list[dict], *, with_case: bool) -> None:
    """Tasks for people: local due dates, and titles rather than ids of obligations."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(CLI_ZONE)
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


# --- db, staff ----------------------------------------------------------------------------

db_app = typer.Typer(no_args_is_help=True, help="The database.")
staff_app = typer.Typer(no_args_is_help=True, help="Organisations and staff.")
case_app = typer.Typer(no_args_is_help=True, help="Cases: open, record, assign, close, show.")
task_app = typer.Typer(no_args_is_help=True, help="Tasks: list, complete, waive, reopen.")
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(case_app, name="case")
app.add_typer(task_app, name="task")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations (the embedded SQLite default does this by itself).

    Also makes an existing home private again: directories 0700, files 0600.
    """
    from engine.files import make_private
    from engine.settings import Settings
    from engine.store import upgrade

    typer.echo(f"database at revision {upgrade(_url())}")
    if fixed := make_private(Settings().home):
        typer.echo(f"made {fixed} files and directories in {Settings().home} private")


@staff_app.command("import")
def staff_import(file: Annotated[Path, typer.Argument(help="Staff directory YAML.")]) -> None:
    """Create or update organisations and staff (re-importing updates)."""
    from engine import service

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {file}: {error}") from None
    with _unit_of_work() as session:
        counts = service.import_staff(session, text, _instant(None), service.actor())
    typer.echo(f"imported {counts['organisations']} organisations, {counts['staff']} staff")


@staff_app.command("list")
def staff_list(as_json: JsonOption = False) -> None:
    """List staff with their role, organisation and lead."""
    from engine import queries

    with _unit_of_work() as session:
        rows = queries.staff(session)
    if as_json:
        emit_json(rows)
    else:
        _print_rows(rows, ["email", "name", "role", "organisation", "lead"])


# --- cases ----------------------------------------------------------------------------------


@case_app.command("open")
def case_open(
    ref: Annotated[str, typer.Argument(help="Pseudonymous case reference, e.g. KNT-0042.")],
    journey: Annotated[str, typer.Option("--journey", help="Journey id.")],
    navigator: Annotated[str, typer.Option("--navigator", help="Navigator's email.")],
    event: Annotated[list[str] | None, typer.Option("--event", help="NAME=WHEN.")] = None,
    fact: Annotated[list[str] | None, typer.Option("--fact", help="NAME=VALUE.")] = None,
    now: NowOption = None,
) -> None:
    """Open a case on a journey; its start event is required."""
    from engine import service

    with _unit_of_work() as session:
        service.open_case(
            session,
            ref,
            journey,
            navigator,
            _pairs(event, "event"),
            _pairs(fact, "fact"),
            _instant(now),
            service.actor(),
        )
    typer.echo(f"opened {ref} on {journey}")


@case_app.command("event")
def case_event(
    ref: str,
    events: Annotated[list[str], typer.Argument(help="NAME=WHEN ...")],
    now: NowOption = None,
) -> None:
    """Record events (the latest recording of an event wins)."""
    from engine import service

    with _unit_of_work() as session:
        service.record_events(session, ref, _pairs(events, "event"), _instant(now), service.actor())
    typer.echo(f"recorded {', '.join(_pairs(events, 'event'))} on {ref}")


@case_app.command("fact")
def case_fact(
    ref: str,
    facts: Annotated[list[str], typer.Argument(help="NAME=VALUE ...")],
    now: NowOption = None,
) -> None:
    """Set facts declared by the case's journey."""
    from engine import service

    with _unit_of_work() as session:
        service.record_facts(session, ref, _pairs(facts, "fact"), _instant(now), service.actor())
    typer.echo(f"set {', '.join(_pairs(facts, 'fact'))} on {ref}")


@case_app.command("assign")
def case_assign(
    ref: str,
    navigator: Annotated[str, typer.Option("--navigator", help="Navigator's email.")],
    now: NowOption = None,
) -> None:
    """Give the case to another navigator."""
    from engine import service

    with _unit_of_work() as session:
        service.assign(session, ref, navigator, _instant(now), service.actor())
    typer.echo(f"{ref} assigned to {navigator}")


@case_app.command("close")
def case_close(
    ref: str,
    reason: Annotated[str, typer.Option("--reason", help="Why the case is closed.")],
    now: NowOption = None,
) -> None:
    """Close a case; its open tasks are cancelled."""
    from engine import service

    with _unit_of_work() as session:
        cancelled = service.close_case(session, ref, reason, _instant(now), service.actor())
    typer.echo(f"closed {ref}; {cancelled} open tasks cancelled")


@case_app.command("show")
def case_show(ref: str, as_json: JsonOption = False) -> None:
    """A case: journey, navigator, facts, events and tasks."""
    from engine import queries

    with _unit_of_work() as session:
        data = queries.case_detail(session, ref)
    if as_json:
        emit_json(data)
        return
    version = f"{data['journey']} v{data['journey_version']}"
    out.print(f"[bold]{data['ref']}[/bold] {version} ({data['status']})")
    out.print(f"navigator {data['navigator']}, organisation {data['organisation']}")
    out.print("facts: " + (", ".join(f"{k}={v}" for k, v in data["facts"].items()) or "none"))
    for name, value in data["events"].items():
        out.print(f"event {name}: {value}")
    if data["closed_reason"]:
        typer.echo(f"closed: {_plain(data['closed_reason'])}")
    _print_tasks(data["tasks"], with_case=False)
    for task in data["tasks"]:
        for label in ("note", "reason"):
            if task[label] and task["status"] != "cancelled":
                typer.echo(f"task {task['id']} {label}: {_plain(task[label])}")


def _plain(text: str) -> str:
    """Free text for a terminal: control characters (escape sequences) shown, not obeyed."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


@case_app.command("list")
def case_list(
    navigator: Annotated[str | None, typer.Option("--navigator")] = None,
    org: Annotated[str | None, typer.Option("--org")] = None,
    as_json: JsonOption = False,
) -> None:
    """List cases, optionally by navigator or organisation."""
    from engine import queries

    with _unit_of_work() as session:
        rows = queries.cases(session, navigator, org)
    if as_json:
        emit_json(rows)
    else:
        _print_rows(rows, ["ref", "journey", "status", "organisation", "navigator", "open_tasks"])


# --- tasks ----------------------------------------------------------------------------------


@task_app.command("list")
def task_list(
    case: Annotated[str | None, typer.Option("--case")] = None,
    navigator: Annotated[str | None, typer.Option("--navigator")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Open and past due.")] = False,
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tasks by case, navigator or status."""
    from engine import queries

    with _unit_of_work() as session:
        rows = queries.tasks(
            session, _instant(now), case=case, navigator=navigator, status=status, overdue=overdue
        )
    if as_json:
        emit_json(rows)
    else:
        _print_tasks(rows, with_case=True)


@task_app.command("show")
def task_show(
    task_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonOption = False
) -> None:
    """One task, with its note or waive reason (shown only here and in `case show`)."""
    from engine import queries

    with _unit_of_work() as session:
        row = queries.task_detail(session, task_id)
    if as_json:
        emit_json(row)
        return
    _print_tasks([row], with_case=True)
    for label in ("note", "reason"):
        if row[label]:
            typer.echo(f"{label}: {_plain(row[label])}")


@task_app.command("done")
def task_done(
    task_id: Annotated[int, typer.Argument(metavar="ID")],
    at: Annotated[str | None, typer.Option("--at", help="When it was done (default: now).")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    now: NowOption = None,
) -> None:
    """Mark a task done."""
    from engine import service

    with _unit_of_work() as session:
        moment = _instant(now)
        service.complete_task(
            session, task_id, _instant(at) if at else None, note, moment, service.actor()
        )
    typer.echo(f"task {task_id} done")


@task_app.command("waive")
def task_waive(
    task_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason")],
    now: NowOption = None,
) -> None:
    """Waive a task, with the reason."""
    from engine import service

    with _unit_of_work() as session:
        service.waive_task(session, task_id, reason, _instant(now), service.actor())
    typer.echo(f"task {task_id} waived")


@task_app.command("reopen")
def task_reopen(
    task_id: Annotated[int, typer.Argument(metavar="ID")], now: NowOption = None
) -> None:
    """Reopen a done or waived task."""
    from engine import service

    with _unit_of_work() as session:
        service.reopen_task(session, task_id, _instant(now), service.actor())
    typer.echo(f"task {task_id} reopened")


# --- the sweep and the audit log ------------------------------------------------------------


@app.command("tick")
def tick(
    now: NowOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 500,
    as_json: JsonOption = False,
) -> None:
    """One sweep: re-plan what changed, queue due reminders and escalations, dispatch."""
    from engine import sweep
    from notifications.dispatch import dispatch

    moment = _instant(now)
    counts = sweep.tick(_url(), moment, batch_size)
    sent = dispatch(_url(), moment)
    result = {
        **counts.as_dict(),
        "sent": sent.sent,
        "retrying": sent.retrying,
        "failed": sent.failed,
    }
    if as_json:
        emit_json(result)
        return
    typer.echo(", ".join(f"{k} {v}" for k, v in result.items() if k != "errors"))
    for error in counts.errors:
        typer.echo(f"warning: {error}", err=True)


@app.command("audit")
def audit_log(
    case: Annotated[str | None, typer.Option("--case")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 200,
    as_json: JsonOption = False,
) -> None:
    """Who changed what, when (newest first)."""
    from engine import queries

    with _unit_of_work() as session:
        rows = queries.audit(session, case, limit)
    if as_json:
        emit_json(rows)
    else:
        _print_rows(rows, ["at", "actor", "case", "action", "detail"])


def _register_shell_commands() -> None:
    """Commands whose code lives with the shell they drive: notifications and flows."""
    from flows.cli import demo, run
    from notifications.cli import digest, outbox_app

    app.add_typer(outbox_app, name="outbox")
    app.command("digest")(digest)
    app.command("run")(run)
    app.command("demo")(demo)


_register_shell_commands()


def _home_first(argv: list[str]) -> list[str]:
    """Accept `--home DIR` anywhere (`alongside case list --home x`), as every command should."""
    for i, arg in enumerate(argv):
        if arg == "--home" and i + 1 < len(argv):
            return ["--home", argv[i + 1], *argv[:i], *argv[i + 2 :]]
        if arg.startswith("--home="):
            return [arg, *argv[:i], *argv[i + 1 :]]
    return argv


def main() -> None:
    """Entry point: run the app, turning every error into one line and an exit status.

    A user error is its own message (exit 1). Anything else goes through
    `engine.errors.explain`, which never shows an error's text: a database error's text
    holds the statement and its parameters (a case's facts), a settings error's the value
    (a password). A database that cannot be reached exits 69, a bug 70.
    """
    try:
        app(args=_home_first(sys.argv[1:]), prog_name="alongside")
    except UserError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        if os.environ.get("ALONGSIDE_DEBUG"):
            raise
        from engine.errors import explain

        line, status = explain(error)
        typer.echo(line, err=True)
        sys.exit(status)
