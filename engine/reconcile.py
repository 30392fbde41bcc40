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

from engine.bulk import insert_ignoring_conflicts, insert_rows, is_postgres, update_by_id
from engine.catalog import Catalog, Journeys
from engine.core.calendar import get_calendar
from engine.core.errors import UserError
from engine.core.escalation import rebased
from engine.core.journey import Journey
from engine.core.planner import PlannedTask, plan
from engine.core.values import EventTime
from engine.counts import Counts
from engine.directory import Directory
from engine.outbox import Message, queue
from engine.store import EPOCH, AuditEntry, Case, CaseEvent, Task

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


def mark_changed_journeys(session: Session, catalog: Catalog) -> int:
    """Cases planned on an older version of their journey need planning again."""
    marked = 0
    for path in catalog.files():
        try:
            journey = catalog.resolve(str(path))
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


@dataclass
class _Writes:
    """Everything one batch will write, gathered so each kind is one set-based statement."""

    inserts: list[dict] = field(default_factory=list)
    redates: list[dict] = field(default_factory=list)
    cancels: list[dict] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    audits: list[dict] = field(default_factory=list)
    notices: list[Message] = field(default_factory=list)

    def apply(self, session: Session, now: datetime) -> None:
        insert_ignoring_conflicts(
            session, task_t, self.inserts, ["case_id", "obligation", "occurrence"]
        )
        update_by_id(session, task_t, self.redates)
        update_by_id(session, task_t, self.cancels)
        update_by_id(session, case_t, self.cases)
        insert_rows(session, AuditEntry.__table__, self.audits)
        queue(session, self.notices, now)


def reconcile_cases(session: Session, catalog: Catalog, ids: list[int], now: datetime) -> Counts:
    """Plan the given cases (those still due under the lock) and apply the differences."""
    counts = Counts()
    writes = _Writes()
    directory = Directory(session)
    journeys = Journeys(catalog)
    for state in _load(session, ids, now):
        case = state.case
        try:
            journey = journeys[case.journey_id]
        except UserError as error:  # a broken journey file must not stop the whole sweep
            counts.errors.append(f"{case.ref}: {error}")
            retry = now + RETRY_BROKEN_CASE
            writes.cases.append(
                {"_id": case.id, "replan_at": retry, "journey_version": case.journey_version}
            )
            continue
        changes = _reconcile_case(state, journey, now, writes, directory)
        counts.cases += 1
        counts.created += len(changes["created"])
        counts.redated += len(changes["redated"])
        counts.cancelled += len(changes["cancelled"])
    writes.apply(session, now)
    return counts


def _reconcile_case(
    state: _CaseState, journey: Journey, now: datetime, writes: _Writes, directory: Directory
) -> dict[str, list[str]]:
    """Diff one case's plan against its tasks; gather the writes, its audit and its notice.

    Returns the task keys created (or reopened), re-dated and cancelled.
    """
    case = state.case
    result = plan(journey, case.facts or {}, state.events, state.closed, now)
    wanted = {t.key: t for t in result.tasks}
    changes: dict[str, list[str]] = {"created": [], "redated": [], "cancelled": []}
    moved: list[dict] = []
    for key, planned in wanted.items():
        row = state.tasks.get(key)
        label = f"{key[0]}#{key[1]}"
        if row is None:
            writes.inserts.append(_new_task(case.id, planned, journey, now))
            changes["created"].append(label)
        elif row.status in ("open", "cancelled") and _differs(row, planned):
            writes.redates.append(_redate(row, planned, journey, now))
            if row.status == "cancelled":  # the plan wants it again: reopened
                changes["created"].append(label)
            else:
                changes["redated"].append(label)
                if row.due != planned.due:
                    moved.append(_moved(row, planned, journey))
    for key, row in state.tasks.items():
        if row.status == "open" and key not in wanted:
            writes.cancels.append(_cancel(row, now))
            changes["cancelled"].append(f"{key[0]}#{key[1]}")
    writes.cases.append(
        {"_id": case.id, "replan_at": result.next_change, "journey_version": journey.version}
    )
    if any(changes.values()):
        detail = {k: v for k, v in changes.items() if v}
        writes.audits.append(
            {
                "at": now,
                "actor": "engine",
                "case_ref": case.ref,
                "action": "reconcile",
                "detail": detail,
            }
        )
    if moved:
        writes.notices.append(_replan_notice(case, moved, directory))
    return changes


def _replan_notice(case: sa.Row, moved: list[dict], directory: Directory) -> Message:
    """One combined notice to the navigator for every date a re-plan moved."""
    items = sorted(moved, key=lambda i: i["task_id"])
    payload = {
        "case": case.ref,
        "timezone": directory.timezone(case.organisation_id),
        "items": items,
    }
    recipient = directory.navigator_email(case.navigator_id)
    return Message(_replan_key(case.id, items), "replan", recipient, case.ref, payload)


def _planned_fields(planned: PlannedTask) -> dict[str, object]:
    """The columns a task takes from its plan (and that a re-plan may change)."""
    return {
        "stage": planned.stage,
        "title": planned.title,
        "category": planned.category,
        "due": planned.due,
        "precision": planned.precision,
    }


def _differs(row: sa.Row, planned: PlannedTask) -> bool:
    return row.status == "cancelled" or any(
        getattr(row, name) != value for name, value in _planned_fields(planned).items()
    )


def _new_task(case_id: int, planned: PlannedTask, journey: Journey, now: datetime) -> dict:
    return {
        "case_id": case_id,
        "obligation": planned.obligation,
        "occurrence": planned.occurrence,
        **_planned_fields(planned),
        "status": "open",
        "sequence": 0,
        **_alert_state(journey, planned, now),
    }


def _redate(row: sa.Row, planned: PlannedTask, journey: Journey, now: datetime) -> dict:
    """Re-date (or reopen) a task: a new due date bumps its calendar SEQUENCE and restarts
    its alerts; a change of title alone keeps both."""
    update = {
        "_id": row.id,
        **_planned_fields(planned),
        "status": "open",
        "reason": None,
        "closed_at": None,
        "sequence": row.sequence + (1 if row.due != planned.due else 0),
        **_alert_state(journey, planned, now),
    }
    if row.due == planned.due and row.status == "open":
        update.update(
            alerts_handled=row.alerts_handled,
            next_alert_at=row.next_alert_at,
            escalation_level=row.escalation_level,
        )
    return update


def _cancel(row: sa.Row, now: datetime) -> dict:
    return {
        "_id": row.id,
        "status": "cancelled",
        "reason": "no longer in the plan",
        "closed_at": now,
        "next_alert_at": None,
    }


def _moved(row: sa.Row, planned: PlannedTask, journey: Journey) -> dict:
    return {
        "task_id": row.id,
        "title": planned.title,
        "stage": journey.stage_title(planned.stage),
        "category": planned.category,
        "old_due": row.due.isoformat(),
        "new_due": planned.due.isoformat(),
        "precision": planned.precision,
        "sequence": row.sequence + 1,
    }
