"""What the demo did (tasks by state, overdue by organisation, messages by kind), and
where to look next."""

from __future__ import annotations

import sys
from datetime import time
from pathlib import Path

import sqlalchemy as sa

from flows.demo.simulation import Outcome, moment


def summarise(url: str, outcome: Outcome, outbox: Path) -> Outcome:
    """Fill in tasks by state, overdue by organisation and messages by kind."""
    from engine.store import Case, OutboxMessage, Task, session_scope

    end = moment(outcome.end, time(23, 59))
    with session_scope(url) as session:
        outcome.tasks = dict(
            session.execute(sa.select(Task.status, sa.func.count()).group_by(Task.status)).all()
        )
        outcome.overdue = dict(
            session.execute(
                sa.select(Case.organisation_id, sa.func.count())
                .join(Task, Task.case_id == Case.id)
                .where(Task.status == "open", Task.due < end)
                .group_by(Case.organisation_id)
                .order_by(Case.organisation_id)
            ).all()
        )
        outcome.messages = dict(
            session.execute(
                sa.select(OutboxMessage.kind, sa.func.count()).group_by(OutboxMessage.kind)
            ).all()
        )
        outcome.failed_messages = session.execute(
            sa.select(sa.func.count()).where(OutboxMessage.status == "failed")
        ).scalar_one()
    outcome.eml_files = sum(1 for _ in outbox.rglob("*.eml")) if outbox.is_dir() else 0
    return outcome


def report_lines(outcome: Outcome, home: Path, log: Path, prefect_home: Path | None) -> list[str]:
    """The closing summary: what happened, and where to look."""
    tasks = ", ".join(
        f"{state} {outcome.tasks.get(state, 0)}"
        for state in ("open", "done", "waived", "cancelled")
    )
    kinds = ("reminder", "overdue", "escalation", "replan", "calendar", "digest")
    messages = ", ".join(f"{k} {outcome.messages.get(k, 0)}" for k in kinds)
    overdue = ", ".join(f"{org} {n}" for org, n in outcome.overdue.items()) or "none"
    lines = [
        "",
        f"Done: {outcome.start:%a %d %b %Y} to {outcome.end:%a %d %b %Y} simulated in "
        f"{outcome.seconds:.0f} s: {outcome.ticks} tick flow runs through Prefect "
        f"({outcome.flow_seconds / max(outcome.ticks, 1):.2f} s a simulated day), "
        f"{outcome.digests} weekday digests.",
        f"  tasks     {tasks}",
        f"  overdue   {sum(outcome.overdue.values())} at the end: {overdue}",
        f"  messages  {sum(outcome.messages.values())}: {messages}"
        + (f" ({outcome.failed_messages} failed)" if outcome.failed_messages else ""),
        "",
        "Where to look:",
        f"  {home / 'outbox'}/  {outcome.eml_files} .eml files: open any in a mail client",
        f"  alongside --home {home} case list",
        f"  alongside --home {home} task list --overdue --now {outcome.end}T23:59",
        f"  alongside --home {home} audit --limit 20",
        f"  {log}  the log",
    ]
    if prefect_home is not None:
        lines += [
            "  the Prefect UI, with every flow run and its artifacts:",
            f"    PREFECT_HOME={prefect_home} {Path(sys.executable).parent / 'prefect'} "
            "server start",
            "    then open http://127.0.0.1:4200",
        ]
    else:
        lines.append("  the flow runs and their artifacts are in your Prefect server's UI")
    if outcome.failed_runs:
        lines += ["", f"{len(outcome.failed_runs)} flow runs failed: {outcome.failed_runs[:5]}"]
    return lines
