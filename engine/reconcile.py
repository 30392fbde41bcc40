"""Reconcile: load a batch of cases, plan and diff each (pure), write every change at once.

The rules live in the core (`engine.core.planner`, `engine.core.diff`); this module only
reads rows, calls them, and writes the result of a whole batch with one set-based statement
per kind of change, in one transaction, with one combined re-plan notice per case. Rows are
locked (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) and re-checked
under the lock, so two sweeps never plan the same case at once and a repeated sweep finds
nothing to do. Every task it creates, re-dates or cancels is marked for the calendar pass
(`engine.calendar_notices`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from engine.bulk import insert_ignoring_conflicts, insert_rows, is_postgres, update_by_id
from engine.catalog import Catalog, Journeys
from engine.core.calendar import get_calendar
from engine.core.diff import Changes, ExistingTask, diff, starting_alerts
from engine.core.errors import UserError
from engine.core.escalation import working_hours
from engine.core.journey import Journey
from engine.core.lifecycle import HISTORY
from engine.core.messages import (
    Message,
    ReplanItem,
    ReplanPayload,
    UnreachedPayload,
    email_choice,
    task_item,
)
from engine.core.planner import Completion, Plan, PlannedTask, Unreached, collect, plan
from engine.core.values import EventTime
from engine.counts import Counts
from engine.directory import Directory
from engine.outbox import queue
from engine.store import EPOCH, AuditEntry, Case, CaseEvent, Task

RETRY_BROKEN_CASE = timedelta(minutes=15)
log = logging.getLogger("alongside.reconcile")

case_t = Case.__table__
task_t = Task.__table__
event_t = CaseEvent.__table__


def cases_due(session: Session, now: datetime) -> list[int]:
    """Ids of open cases whose plan may have changed, in id order.

    One range of the index on `replan_at`, sorted here. Asked a batch at a time with
    `ORDER BY id LIMIT n`, SQLite (whose statistics cannot tell that most cases have no
    `replan_at`) walked the whole case table in id order instead: 100 ms a sweep at
    100,000 cases with nothing due. A case the list names that another worker has planned
    meanwhile is skipped when its batch is loaded (`_load` asks again).
    """
    return sorted(session.execute(due_query(now)).scalars())


def due_query(now: datetime) -> sa.Select:
    """The open cases due for planning at `now`: a range of the index on `replan_at`."""
    return sa.select(case_t.c.id).where(case_t.c.replan_at <= now)


def mark_changed_journeys(session: Session, catalog: Catalog) -> int:
    """Cases planned on an older version of their journey need planning again.

    Every sweep asks this, so it must cost nothing when no journey changed: an open case on
    another version sorts just before or just after the installed version in the index on
    (journey_id, status, journey_version), so two index seeks answer for each journey, and
    the UPDATE runs only for a journey that has such cases.
    """
    marked = 0
    for path in catalog.files():
        try:
            journey = catalog.resolve(str(path))
        except UserError:
            continue
        if not session.execute(on_other_versions(journey)).scalar():
            continue
        marked += session.execute(
            sa.update(case_t)
            .where(
                sa.or_(*_other_versions(journey)),
                sa.or_(case_t.c.replan_at.is_(None), case_t.c.replan_at > EPOCH),
            )
            .values(replan_at=EPOCH)
        ).rowcount
    return marked


def on_other_versions(journey: Journey) -> sa.Select:
    """Whether any open case on the journey was planned on another version of it: whether
    the lowest or the highest version among its open cases differs from its own, each
    one seek to an end of the index on (journey_id, status, journey_version).

    Why not `EXISTS` over the two ranges: PostgreSQL, whose statistics cannot tell that
    every open case is on the installed version, expected thousands of rows in a range
    and walked the whole table to find one (30-60 ms a journey at 100,000 cases); a
    minimum or maximum over an index prefix it always answers from the index.
    """
    open_on_journey = (case_t.c.journey_id == journey.journey, case_t.c.status == "open")
    version = case_t.c.journey_version
    lowest = sa.select(sa.func.min(version)).where(*open_on_journey).scalar_subquery()
    highest = sa.select(sa.func.max(version)).where(*open_on_journey).scalar_subquery()
    return sa.select(sa.or_(lowest < journey.version, highest > journey.version))


def _other_versions(journey: Journey) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """Open cases on the journey planned on a version sorting before, and after, its own:
    two ranges of the index (`!=` is no range, so neither database would seek on it)."""
    open_on_journey = sa.and_(case_t.c.journey_id == journey.journey, case_t.c.status == "open")
    return (
        sa.and_(open_on_journey, case_t.c.journey_version < journey.version),
        sa.and_(open_on_journey, case_t.c.journey_version > journey.version),
    )


@dataclass
class _CaseState:
    case: sa.Row
    recorded: list[tuple[str, int | None, EventTime]] = field(default_factory=list)
    tasks: dict[tuple[str, int], ExistingTask] = field(default_factory=dict)
    closed: dict[str, list[Completion]] = field(default_factory=lambda: defaultdict(list))


_TASK_FIELDS = tuple(ExistingTask.__slots__)


def _load(session: Session, ids: list[int], now: datetime) -> list[_CaseState]:
    """The cases still due for planning under the lock, with their events and tasks."""
    query = _cases_query(ids).where(case_t.c.replan_at <= now)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return _with_events_and_tasks(session, query)


def load_open_cases(session: Session, ids: list[int]) -> list[_CaseState]:
    """Open cases as they stand, without locking them: for reading (the impact preview)."""
    return _with_events_and_tasks(session, _cases_query(ids))


def _cases_query(ids: list[int]) -> sa.Select:
    return sa.select(
        case_t.c.id,
        case_t.c.ref,
        case_t.c.journey_id,
        case_t.c.journey_version,
        case_t.c.organisation_id,
        case_t.c.navigator_id,
        case_t.c.facts,
    ).where(case_t.c.id.in_(ids), case_t.c.status == "open")


def _with_events_and_tasks(session: Session, query: sa.Select) -> list[_CaseState]:
    """The cases of `query` with their live events and all their tasks, in three queries.

    A batch is some 500 cases and 10,000 rows; each row is read by position from one
    `fetchall`: by-name access on a row (a `getattr` per column) and a fetch per row
    were an eighth of the preview's loading at 10,000 cases.
    """
    states = {row.id: _CaseState(row) for row in session.execute(query)}
    if not states:
        return []
    wanted = list(states)
    events = session.execute(
        sa.select(
            event_t.c.case_id,
            event_t.c.name,
            event_t.c.occurrence,
            event_t.c.instant,
            event_t.c.date_only,
        )
        .where(event_t.c.case_id.in_(wanted), event_t.c.removed_at.is_(None))
        .order_by(event_t.c.id)
    ).all()
    for case_id, name, occurrence, instant, date_only in events:  # the latest recording wins
        states[case_id].recorded.append((name, occurrence, EventTime(instant, date_only)))
    tasks = session.execute(
        sa.select(
            task_t.c.case_id,
            task_t.c.closed_at,
            task_t.c.outcome,
            *(task_t.c[f] for f in _TASK_FIELDS),
        )
        .where(task_t.c.case_id.in_(wanted))
        .order_by(task_t.c.occurrence)
    ).all()
    for row in tasks:
        state = states[row[0]]
        task = ExistingTask(*row[3:])
        state.tasks[task.obligation, task.occurrence] = task
        if task.status in HISTORY:
            state.closed[task.obligation].append(Completion(row[1], row[2] != "not_reached"))
    return list(states.values())


@dataclass
class _Writes:
    """Everything one batch will write, gathered so each kind is one set-based statement."""

    inserts: list[dict] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    audits: list[dict] = field(default_factory=list)
    notices: list[Message] = field(default_factory=list)

    def apply(self, session: Session, now: datetime) -> None:
        insert_ignoring_conflicts(
            session, task_t, self.inserts, ["case_id", "obligation", "occurrence"]
        )
        update_by_id(session, task_t, self.updates)
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
            result, changes = plan_and_diff(state, journey, now)
        except Exception as error:  # one case that cannot be planned must not stop the sweep
            counts.errors.append(f"{case.ref}: {_why(error)}")
            retry = now + RETRY_BROKEN_CASE
            writes.cases.append(
                {"_id": case.id, "replan_at": retry, "journey_version": case.journey_version}
            )
            continue
        labels = changes.labels()
        _gather(writes, state, journey, changes, labels, directory, now)
        writes.notices += _unreached_notices(state, journey, result.unreached, directory, now)
        writes.cases.append(
            {"_id": case.id, "replan_at": result.next_change, "journey_version": journey.version}
        )
        counts.cases += 1
        counts.created += len(labels["created"])
        counts.redated += len(labels["redated"])
        counts.cancelled += len(labels["cancelled"])
    writes.apply(session, now)
    return counts


def _why(error: Exception) -> str:
    """What the sweep reports for a case it could not plan: a domain error's own words (a
    reference and a journey's names at most), otherwise only the error's type, because an
    unexpected error's text may carry a case's data; the whole error goes to the log."""
    if isinstance(error, UserError):
        return str(error)
    log.error("planning failed", exc_info=error)
    return f"planning failed with {type(error).__name__}"


def plan_and_diff(state: _CaseState, journey: Journey, now: datetime) -> tuple[Plan, Changes]:
    """A case's plan on `journey` at `now`, and what it would change (pure, given the rows)."""
    events, occurrences = collect(state.recorded)
    result = plan(journey, state.case.facts or {}, events, state.closed, now, occurrences)
    return result, diff(result.tasks, state.tasks, now, starting_alerts(journey, now))


def _gather(
    writes: _Writes,
    state: _CaseState,
    journey: Journey,
    changes: Changes,
    labels: dict[str, list[str]],
    directory: Directory,
    now: datetime,
) -> None:
    """One case's changes as rows of the batch's writes, with its audit and its notice."""
    case = state.case
    for _, row in changes.created:  # each row is a new dict of the diff's own
        row["case_id"] = case.id
        writes.inserts.append(row)
    writes.updates += [{"_id": r.before.id, **r.update} for r in changes.redated]
    writes.updates += [{"_id": task.id, **row} for task, row in changes.cancelled]
    if changes:
        detail = {kind: keys for kind, keys in labels.items() if keys}
        writes.audits.append(
            {
                "at": now,
                "actor": "engine",
                "case_ref": case.ref,
                "action": "reconcile",
                "detail": detail,
            }
        )
    moved = [_moved(r.before, r.planned, journey) for r in changes.redated if r.moved]
    if not moved:
        return
    prefs = directory.staff[case.navigator_id].email_prefs
    if email_choice(prefs, "tasks") == "each":  # else: the digest and calendar say it
        writes.notices.append(_replan_notice(case, moved, directory))


def _unreached_notices(
    state: _CaseState,
    journey: Journey,
    runs: Iterable[Unreached],
    directory: Directory,
    now: datetime,
) -> list[Message]:
    """For each run of failed contact attempts long enough to escalate, one message to each
    person its `escalate_after_failures` names, in their working hours. The key is the run's
    first occurrence, so a run is told once however long it grows."""
    case = state.case
    messages = []
    for run in runs:
        stage, ob = journey.obligations[run.obligation]
        last = state.tasks[(run.obligation, run.last)]
        item = task_item(
            case=case.ref,
            task_id=last.id,
            title=last.title,
            stage=stage.title,
            category=last.category,
            due=last.due,
            precision=last.precision,
            guidance=ob.description,
        )
        navigator = directory.navigator_email(case.navigator_id)
        for role in ob.escalate_after_failures.notify:
            for person in directory.recipients(role, case.navigator_id, case.organisation_id):
                tz, calendar = directory.works_in(person)
                start = working_hours(now, tz, get_calendar(calendar))
                payload = UnreachedPayload(
                    **item, failures=run.count, navigator=navigator, timezone=tz
                )
                key = f"unreached:{case.id}:{run.obligation}:{run.first}:{person}"
                held = start if start > now else None
                messages.append(Message(key, "unreached", person, case.ref, payload, held))
    return messages


def _replan_notice(case: sa.Row, moved: Iterable[ReplanItem], directory: Directory) -> Message:
    """One combined notice to the navigator for every date a re-plan moved."""
    items = sorted(moved, key=lambda i: i["task_id"])
    payload = ReplanPayload(
        case=case.ref, timezone=directory.timezone(case.organisation_id), items=items
    )
    recipient = directory.navigator_email(case.navigator_id)
    return Message(_replan_key(case.id, items), "replan", recipient, case.ref, payload)


def _replan_key(case_id: int, items: list[ReplanItem]) -> str:
    digest = hashlib.sha256(
        ",".join(f"{i['task_id']}:{i['sequence']}" for i in items).encode()
    ).hexdigest()
    return f"replan:{case_id}:{digest[:20]}"


def _moved(before: ExistingTask, planned: PlannedTask, journey: Journey) -> ReplanItem:
    return ReplanItem(
        task_id=before.id,
        title=planned.title,
        stage=journey.stage_title(planned.stage),
        category=planned.category,
        old_due=before.due.isoformat(),
        new_due=planned.due.isoformat(),
        precision=planned.precision,
        sequence=before.sequence + 1,
    )
