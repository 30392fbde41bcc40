"""What a tick did, per organisation: the figures behind its Prefect artifacts.

Plain SQL on the engine's tables, no Prefect, so it is tested like any other code. Each
figure is read from what the sweep itself wrote at its instant `now` (the reconcile audit
entries, the escalation messages it queued, the messages it dispatched), through indexed
columns or the batch's own ids, so the report costs what the tick changed, not the
caseload. The one exception is "overdue now", a count over open tasks.

Nothing here reads a fact or an event, and no artifact names a task or an obligation (the
title of an obligation that exists only when a condition holds would give that condition
away): rows carry organisation ids, task categories, counts, staff addresses, and case
references only where an operator must act (messages that failed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from engine.store import AuditEntry, Case, Organisation, OutboxMessage, Staff, Task

ByOrg = dict[str, Counter]

case_t, task_t, outbox_t = Case.__table__, Task.__table__, OutboxMessage.__table__
audit_t, staff_t = AuditEntry.__table__, Staff.__table__

# The alert columns first: on a narrow screen they are the ones still in view.
COLUMNS = (
    "messages_failed",
    "overdue_now",
    "escalations_sent",
    "messages_sent",
    "tasks_created",
    "tasks_redated",
    "tasks_cancelled",
)
TREND_TICKS = 12  # how many ticks the trend table remembers
SPARK = "▁▂▃▄▅▆▇█"
NO_ORGANISATION = "(none)"  # a message to an address no longer in the staff directory
CHUNK = 1000  # ids per IN (...) list


def merge(*parts: Mapping[str, Counter]) -> ByOrg:
    """Add up per-organisation counters."""
    total: ByOrg = {}
    for part in parts:
        for org, counter in part.items():
            total.setdefault(org, Counter()).update(counter)
    return total


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def reconciled(session: Session, ids: list[int], now: datetime) -> ByOrg:
    """Tasks created, re-dated and cancelled by reconciling these cases at `now`.

    Read from the audit entries reconcile writes in the same transaction as the changes,
    found through the batch's case ids, so they always agree with the tasks.
    """
    result: ByOrg = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            sa.select(audit_t.c.detail, case_t.c.organisation_id)
            .join(case_t, case_t.c.ref == audit_t.c.case_ref)
            .where(
                case_t.c.id.in_(chunk),
                audit_t.c.at == now,
                audit_t.c.actor == "engine",
                audit_t.c.action == "reconcile",
            )
        )
        for detail, org in rows:
            counter = result.setdefault(org, Counter())
            for change in ("created", "redated", "cancelled"):
                counter[f"tasks_{change}"] += len(detail.get(change, ()))
    return result


def escalated(session: Session, now: datetime) -> ByOrg:
    """Task escalation steps the alert pass queued at `now`, by the case's organisation.

    Escalation and overdue messages combine several tasks; each (task, level) counts once.
    Run it before dispatch: it finds the messages by their due instant, which is `now`.
    """
    rows = session.execute(
        sa.select(outbox_t.c.payload).where(
            outbox_t.c.next_attempt_at == now,
            outbox_t.c.created_at == now,
            outbox_t.c.kind.in_(("escalation", "overdue")),
        )
    )
    steps = {
        (item["task_id"], item.get("level")): item["case"]
        for (payload,) in rows
        for item in payload.get("items", ())
    }
    org_of = _organisations_of(session, set(steps.values()))
    result: ByOrg = {}
    for ref in steps.values():
        result.setdefault(org_of.get(ref, NO_ORGANISATION), Counter())["escalations_sent"] += 1
    return result


def _organisations_of(session: Session, refs: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    ordered = sorted(refs)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        rows = session.execute(
            sa.select(case_t.c.ref, case_t.c.organisation_id).where(case_t.c.ref.in_(chunk))
        )
        found.update({ref: org for ref, org in rows})
    return found


def due_messages(session: Session, now: datetime) -> list[int]:
    """Ids of the messages a dispatch at `now` will try: taken just before it runs."""
    query = (
        sa.select(outbox_t.c.id)
        .where(outbox_t.c.status.in_(("queued", "sending")), outbox_t.c.next_attempt_at <= now)
        .order_by(outbox_t.c.id)
    )
    return list(session.execute(query).scalars())


@dataclass
class Delivery:
    """How the messages a dispatch tried ended, per recipient's organisation."""

    by_org: ByOrg = field(default_factory=dict)
    failed: list[dict] = field(default_factory=list)
    retrying: int = 0


def delivered(session: Session, ids: list[int]) -> Delivery:
    """Outcome of the messages `due_messages` named (read back after dispatch)."""
    delivery = Delivery()
    for chunk in _chunks(ids):
        rows = session.execute(
            sa.select(
                outbox_t.c.id,
                outbox_t.c.status,
                outbox_t.c.kind,
                outbox_t.c.recipient,
                outbox_t.c.case_ref,
                outbox_t.c.attempts,
                outbox_t.c.last_error,
                staff_t.c.organisation_id,
            )
            .outerjoin(staff_t, staff_t.c.email == outbox_t.c.recipient)
            .where(outbox_t.c.id.in_(chunk))
        )
        for row in rows:
            org = row.organisation_id or NO_ORGANISATION
            if row.status == "sent":
                delivery.by_org.setdefault(org, Counter())["messages_sent"] += 1
            elif row.status == "failed":
                delivery.by_org.setdefault(org, Counter())["messages_failed"] += 1
                delivery.failed.append(
                    {
                        "id": row.id,
                        "kind": row.kind,
                        "recipient": row.recipient,
                        "case": row.case_ref,
                        "attempts": row.attempts,
                        "error": (row.last_error or "")[:160],
                    }
                )
            else:
                delivery.retrying += 1
    return delivery


def overdue(session: Session, now: datetime) -> ByOrg:
    """Open tasks past due at `now`, per organisation."""
    rows = session.execute(
        sa.select(case_t.c.organisation_id, sa.func.count())
        .select_from(task_t.join(case_t, case_t.c.id == task_t.c.case_id))
        .where(task_t.c.status == "open", task_t.c.due < now)
        .group_by(case_t.c.organisation_id)
    )
    return {org: Counter(overdue_now=n) for org, n in rows}


def oldest_overdue(session: Session, now: datetime, limit: int = 10) -> list[dict]:
    """The longest-overdue open tasks: organisation, category, due, escalation level.

    No case reference and no title: an operator acts on these through the organisation's
    team lead, who sees the case in the digest.
    """
    rows = session.execute(
        sa.select(
            case_t.c.organisation_id,
            task_t.c.category,
            task_t.c.due,
            task_t.c.escalation_level,
        )
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(task_t.c.status == "open", task_t.c.due < now)
        .order_by(task_t.c.due, task_t.c.id)
        .limit(limit)
    )
    return [
        {
            "organisation": r.organisation_id,
            "category": r.category,
            "due": r.due,
            "overdue_for": _span(now - r.due),
            "escalation_level": r.escalation_level,
        }
        for r in rows
    ]


def _span(late: timedelta) -> str:
    if late >= timedelta(days=2):
        return f"{late.days} days"
    return f"{int(late.total_seconds() // 3600)} hours"


def failed_total(session: Session) -> int:
    """Every message in `failed`, whenever it failed: each needs a person to act."""
    return session.execute(
        sa.select(sa.func.count()).where(outbox_t.c.status == "failed")
    ).scalar_one()


def organisations(session: Session) -> list[str]:
    return list(session.execute(sa.select(Organisation.id).order_by(Organisation.id)).scalars())


def organisation_table(orgs: Iterable[str], by_org: Mapping[str, Counter]) -> list[dict]:
    """One row per organisation (every one, zeros included) and a total row."""
    names = list(orgs) + sorted(o for o in by_org if o not in set(orgs))
    rows = [
        {"organisation": org, **{c: by_org.get(org, Counter())[c] for c in COLUMNS}}
        for org in names
    ]
    rows.append({"organisation": "all", **{c: sum(r[c] for r in rows) for c in COLUMNS}})
    return rows


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[dict], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return lines


def summary_markdown(
    now: datetime,
    totals: Mapping[str, object],
    table: list[dict],
    delivery: Delivery,
    failed_before: int,
    oldest: list[dict],
    errors: list[str],
) -> str:
    """The tick's summary for the flow-run page: totals, failed messages, oldest overdue."""
    lines = [f"# Tick at {now:%Y-%m-%d %H:%M} UTC", ""]
    lines.append(", ".join(f"{name.replace('_', ' ')} {value}" for name, value in totals.items()))
    lines += ["", "## By organisation", "", *_table(table, ["organisation", *COLUMNS]), ""]
    lines.append("## Failed messages")
    lines.append("")
    if delivery.failed:
        lines.append("These gave up in this tick; `alongside outbox retry ID` queues one again.")
        lines.append("")
        columns = ["id", "kind", "recipient", "case", "attempts", "error"]
        lines += _table(delivery.failed[:50], columns)
        if len(delivery.failed) > 50:
            lines.append(f"... and {len(delivery.failed) - 50} more")
    else:
        lines.append("None in this tick.")
    if failed_before:
        lines += [
            "",
            f"{failed_before} failed messages in all are waiting for someone "
            "(`alongside outbox list --status failed`).",
        ]
    if delivery.retrying:
        lines += ["", f"{delivery.retrying} messages will be retried with back-off."]
    lines += ["", "## Oldest overdue tasks", ""]
    if oldest:
        rows = [{**r, "due (UTC)": f"{r['due']:%Y-%m-%d %H:%M}"} for r in oldest]
        columns = ["organisation", "category", "due (UTC)", "overdue_for", "escalation_level"]
        lines += _table(rows, columns)
    else:
        lines.append("Nothing is overdue.")
    if errors:
        lines += [
            "",
            "## Cases that could not be planned",
            "",
            f"{len(errors)} cases could not be planned (a journey file that no longer loads); "
            "their references are in the local log (`alongside.log`).",
        ]
    return "\n".join(lines) + "\n"


def trend_table(table: list[dict], previous: list[dict]) -> list[dict]:
    """Per organisation: overdue now, its change since the last tick, and the last ticks.

    `previous` is the last tick's trend table (read back from Prefect); `overdue_last_ticks`
    carries the history, oldest first, so each tick adds one figure.
    """
    before = {
        row.get("organisation"): _history(row.get("overdue_last_ticks"))
        for row in previous
        if isinstance(row, dict)
    }
    rows = []
    for row in table:
        org = row["organisation"]
        history = [*before.get(org, []), row["overdue_now"]][-TREND_TICKS:]
        change = history[-1] - history[-2] if len(history) > 1 else 0
        rows.append(
            {
                "organisation": org,
                "messages_failed": row["messages_failed"],
                "overdue_now": row["overdue_now"],
                "overdue_change": f"{change:+d}",
                "trend": _spark(history),
                "overdue_last_ticks": " ".join(str(n) for n in history),
            }
        )
    return rows


def _history(text: object) -> list[int]:
    if not isinstance(text, str):
        return []
    return [int(part) for part in text.split() if part.isdigit()]


def _spark(values: list[int]) -> str:
    low, high = min(values), max(values)
    span = high - low
    return "".join(SPARK[0 if span == 0 else (v - low) * (len(SPARK) - 1) // span] for v in values)
