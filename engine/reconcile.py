"""Reconcile: plan a batch of cases (pure) and apply the difference to their tasks.

One transaction per batch, set-based reads and writes. The rules (DESIGN.md): create what
is new; re-date open tasks whose anchor moved, with one combined notice per case; cancel
open tasks the plan no longer wants; never touch done or waived tasks; a cancelled task the
plan wants again is reopened. Rows are locked (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
`BEGIN IMMEDIATE` on SQLite) and re-checked under the lock, so two sweeps never plan the
same case at once and a repeated sweep finds nothing to do.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from engine import catalog
from engine.bulk import insert_ignoring_conflicts, insert_rows, is_postgres, update_by_id
from engine.calendar import get_calendar
from engine.counts import Counts
from engine.directory import Directory
from engine.errors import UserError
from engine.escalation import rebased
from engine.journey import Journey
from engine.outbox import Message, queue
from engine.planner import PlannedTask, plan
from engine.store import EPOCH, AuditEntry, Case, CaseEvent, Task
from engine.values import EventTime

RETRY_BROKEN_CASE = timedelta(minutes=15)

case_t = Case.__table__
task_t = Task.__table__
event_t = CaseEvent.__table__


def cases_due(session: Session, now: datetime, limit: int, after_id: int = 0) -> list[int]:
    """Ids of open cases whose plan may have changed, in id order (for keyset batching)."""
    query = (
        sa.select(case_t.c.id)
        .where(case_t.c.replan_at <= now, case_t.c.id > after_id)
        .order_by(case_t.c.id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def mark_changed_journeys(session: Session) -> int:
    """Cases planned on an older version of their journey need planning again."""
    marked = 0
    for path in catalog.journey_files():
        try:
            journey = catalog.load(path)
        except UserError:
            continue
        marked += session.execute(
            sa.update(case_t)
            .where(
                case_t.c.journey_id == journey.journey,
                case_t.c.status == "open",
                case_t.c.journey_version != journey.version,
                sa.or_(case_t.c.replan_at.is_(None), case_t.c.replan_at > EPOCH),
            )
            .values(replan_at=EPOCH)
        ).rowcount
    return marked


class Journeys:
    """The journeys of one batch, each resolved once: `catalog.resolve` reads the settings
    and stats the file, which costs more than planning a case."""

    def __init__(self) -> None:
        self._found: dict[str, Journey | UserError] = {}

    def __getitem__(self, name: str) -> Journey:
        if name not in self._found:
            try:
                self._found[name] = catalog.resolve(name)
            except UserError as error:
                self._found[name] = error
        found = self._found[name]
        if isinstance(found, UserError):
            raise found
        return found


@dataclass
class _CaseState:
    case: sa.Row
    events: dict[str, EventTime] = field(default_factory=dict)
    tasks: dict[tuple[str, int], sa.Row] = field(default_factory=dict)
    closed: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))


def _load(session: Session, ids: list[int], now: datetime) -> list[_CaseState]:
    query = sa.select(
        case_t.c.id,
        case_t.c.ref,
        case_t.c.journey_id,
        case_t.c.journey_version,
        case_t.c.organisation_id,
        case_t.c.navigator_id,
        case_t.c.facts,
    ).where(case_t.c.id.in_(ids), case_t.c.status == "open", case_t.c.replan_at <= now)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    states = {row.id: _CaseState(row) for row in session.execute(query)}
    if not states:
        return []
    wanted = list(states)
    events = session.execute(
        sa.select(event_t.c.case_id, event_t.c.name, event_t.c.instant, event_t.c.date_only)
        .where(event_t.c.case_id.in_(wanted))
        .order_by(event_t.c.id)
    )
    for row in events:  # ordered by id: the latest recording of a name wins
        states[row.case_id].events[row.name] = EventTime(row.instant, row.date_only)
    tasks = session.execute(
        sa.select(task_t).where(task_t.c.case_id.in_(wanted)).order_by(task_t.c.occurrence)
    )
    for row in tasks:
        state = states[row.case_id]
        state.tasks[(row.obligation, row.occurrence)] = row
        if row.status in ("done", "waived"):
            state.closed[row.obligation].append(row.closed_at)
    return list(states.values())


def _alert_state(journey: Journey, planned: PlannedTask, now: datetime) -> dict[str, object]:
    _, ob = journey.obligations[planned.obligation]
    handled, next_at = rebased(ob, planned.due, get_calendar(journey.calendar), journey.tz, now)
    return {"alerts_handled": handled, "next_alert_at": next_at, "escalation_level": 0}


def _replan_key(case_id: int, items: list[dict]) -> str:
    digest = hashlib.sha256(
        ",".join(f"{i['task_id']}:{i['sequence']}" for i in items).encode()
    ).hexdigest()
    return f"replan:{case_id}:{digest[:20]}"


def reconcile_cases(session: Session, ids: list[int], now: datetime) -> Counts:
    """Plan the given cases (those still due under the lock) and apply the differences."""
    counts = Counts()
    inserts: list[dict] = []
    redates: list[dict] = []
    cancels: list[dict] = []
    case_updates: list[dict] = []
    audits: list[dict] = []
    notices: list[Message] = []
    directory = Directory(session)
    journeys = Journeys()
    for state in _load(session, ids, now):
        case = state.case
        try:
            journey = journeys[case.journey_id]
        except UserError as error:
            counts.errors.append(f"{case.ref}: {error}")
            case_updates.append(
                {
                    "_id": case.id,
                    "replan_at": now + RETRY_BROKEN_CASE,
                    "journey_version": case.journey_version,
                }
            )
            continue
        result = plan(journey, case.facts or {}, state.events, state.closed, now)
        counts.cases += 1
        wanted = {t.key: t for t in result.tasks}
        changes: dict[str, list] = {"created": [], "redated": [], "cancelled": []}
        moved: list[dict] = []
        for key, planned in wanted.items():
            row = state.tasks.get(key)
            if row is None:
                inserts.append(_new_task(case.id, planned, journey, now))
                changes["created"].append(f"{key[0]}#{key[1]}")
            elif row.status in ("open", "cancelled") and _differs(row, planned):
                redates.append(_redate(row, planned, journey, now))
                if row.status == "open" and row.due != planned.due:
                    moved.append(_moved(row, planned, journey))
                changes["redated" if row.status == "open" else "created"].append(
                    f"{key[0]}#{key[1]}"
                )
        for key, row in state.tasks.items():
            if row.status == "open" and key not in wanted:
                cancels.append({"_id": row.id, "reason": "no longer in the plan"})
                changes["cancelled"].append(f"{key[0]}#{key[1]}")
        counts.created += len(changes["created"])
        counts.redated += len(changes["redated"])
        counts.cancelled += len(changes["cancelled"])
        case_updates.append(
            {"_id": case.id, "replan_at": result.next_change, "journey_version": journey.version}
        )
        if any(changes.values()):
            audits.append(
                {
                    "at": now,
                    "actor": "engine",
                    "case_ref": case.ref,
                    "action": "reconcile",
                    "detail": {k: v for k, v in changes.items() if v},
                }
            )
        if moved:
            recipient = directory.navigator_email(case.navigator_id)
            items = sorted(moved, key=lambda i: i["task_id"])
            payload = {
                "case": case.ref,
                "timezone": directory.timezone(case.organisation_id),
                "items": items,
            }
            notices.append(
                Message(_replan_key(case.id, items), "replan", recipient, case.ref, payload)
            )
    if inserts:
        insert_ignoring_conflicts(session, task_t, inserts, ["case_id", "obligation", "occurrence"])
    update_by_id(session, task_t, redates)
    if cancels:
        update_by_id(
            session,
            task_t,
            [
                {**c, "status": "cancelled", "next_alert_at": None, "closed_at": now}
                for c in cancels
            ],
        )
    update_by_id(session, case_t, case_updates)
    insert_rows(session, AuditEntry.__table__, audits)
    queue(session, notices, now)
    return counts


def _differs(row: sa.Row, planned: PlannedTask) -> bool:
    return row.status == "cancelled" or (
        row.due,
        row.title,
        row.stage,
        row.category,
        row.precision,
    ) != (
        planned.due,
        planned.title,
        planned.stage,
        planned.category,
        planned.precision,
    )


def _new_task(case_id: int, planned: PlannedTask, journey: Journey, now: datetime) -> dict:
    return {
        "case_id": case_id,
        "obligation": planned.obligation,
        "occurrence": planned.occurrence,
        "stage": planned.stage,
        "title": planned.title,
        "category": planned.category,
        "due": planned.due,
        "precision": planned.precision,
        "status": "open",
        "sequence": 0,
        **_alert_state(journey, planned, now),
    }


def _redate(row: sa.Row, planned: PlannedTask, journey: Journey, now: datetime) -> dict:
    update = {
        "_id": row.id,
        "stage": planned.stage,
        "title": planned.title,
        "category": planned.category,
        "due": planned.due,
        "precision": planned.precision,
        "status": "open",
        "reason": None,
        "closed_at": None,
        "sequence": row.sequence + (1 if row.due != planned.due else 0),
        **_alert_state(journey, planned, now),
    }
    if row.due == planned.due and row.status == "open":  # a title change keeps its alert state
        update.update(
            alerts_handled=row.alerts_handled,
            next_alert_at=row.next_alert_at,
            escalation_level=row.escalation_level,
        )
    return update


def _moved(row: sa.Row, planned: PlannedTask, journey: Journey) -> dict:
    stage = next(s for s in journey.stages if s.id == planned.stage)
    return {
        "task_id": row.id,
        "title": planned.title,
        "stage": stage.title,
        "category": planned.category,
        "old_due": row.due.isoformat(),
        "new_due": planned.due.isoformat(),
        "precision": planned.precision,
        "sequence": row.sequence + 1,
    }
