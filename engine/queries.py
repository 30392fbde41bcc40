"""The read side: plain dictionaries for the CLI's tables and `--json` output."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from engine.access import case_filter
from engine.addresses import AddressError, check_address
from engine.catalog import Catalog
from engine.core.actors import Actor, CaseScope, can_see
from engine.core.errors import UserError
from engine.core.values import EventTime
from engine.store import (
    AuditEntry,
    Case,
    CaseEvent,
    OutboxMessage,
    Staff,
    Task,
    TaskHistory,
    out_of_touch,
)

case_t, task_t, staff_t = Case.__table__, Task.__table__, Staff.__table__
history_t = TaskHistory.__table__


def _address_filter(email: str) -> str:
    """A `--navigator` filter is an address like any other: one plain address or an error."""
    try:
        return check_address(email)
    except AddressError as error:
        raise UserError(f"--navigator {email!r} is not a single email address: {error}") from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def staff(session: Session, actor: Actor, limit: int | None = None) -> list[dict]:
    """Staff with their lead: everyone for an admin, else those of the actor's organisations."""
    lead = staff_t.alias("lead")
    query = (
        sa.select(staff_t, lead.c.email.label("lead_email"))
        .outerjoin(lead, lead.c.id == staff_t.c.lead_id)
        .order_by(staff_t.c.organisation_id, staff_t.c.role, staff_t.c.email)
    )
    if not actor.is_admin:
        query = query.where(staff_t.c.organisation_id.in_(sorted(actor.organisations)))
    return [
        {
            "email": r.email,
            "name": r.name,
            "role": r.role,
            "organisation": r.organisation_id,
            "lead": r.lead_email,
            "active": r.active,
            "left": r.left_on.isoformat() if r.left_on else None,
        }
        for r in session.execute(query.limit(limit))
    ]


def _task_row(r: sa.Row) -> dict:
    return {
        "id": r.id,
        "case": r.ref,
        "obligation": r.obligation,
        "stage": r.stage,
        "title": r.title,
        "category": r.category,
        "occurrence": r.occurrence,
        "due": _iso(r.due),
        "precision": r.precision,
        "status": r.status,
        "outcome": r.outcome,
        "escalation_level": r.escalation_level,
        "closed_at": _iso(r.closed_at),
    }


def tasks(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    case: str | None = None,
    navigator: str | None = None,
    status: str | None = None,
    overdue: bool = False,
    limit: int | None = None,
) -> list[dict]:
    query = (
        sa.select(task_t, case_t.c.ref)
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(case_filter(actor, case_t))
        .order_by(task_t.c.due, task_t.c.id)
    )
    if case:
        query = query.where(case_t.c.ref == case)
    if navigator:
        query = query.join(staff_t, staff_t.c.id == case_t.c.navigator_id).where(
            staff_t.c.email == _address_filter(navigator)
        )
    if status:
        if status not in ("open", "done", "waived", "cancelled"):
            raise UserError(f"unknown status '{status}' (open, done, waived, cancelled)")
        query = query.where(task_t.c.status == status)
    if overdue:
        query = query.where(task_t.c.status == "open", task_t.c.due < now)
    return [_task_row(r) for r in session.execute(query.limit(limit))]


def _open_of(actor: Actor, navigator: str) -> sa.Select:
    """The open tasks of the cases `navigator` holds that `actor` may see."""
    return (
        sa.select()
        .select_from(task_t)
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .join(staff_t, staff_t.c.id == case_t.c.navigator_id)
        .where(
            case_filter(actor, case_t),
            staff_t.c.email == _address_filter(navigator),
            task_t.c.status == "open",
        )
    )


def work(
    session: Session,
    actor: Actor,
    navigator: str,
    bounds: list[datetime],
    *,
    quiet_before: datetime,
    category: str | None = None,
    case: str | None = None,
    bucket: int | None = None,
    offset: int = 0,
    limit: int = 20,
) -> dict:
    """A page of one person's open tasks, the soonest first, in the buckets that `bounds`
    (rising instants) cut them into, reading the whole row only of the tasks shown.

    Returns `tasks`: of each bucket (or only `bucket`), its tasks `offset` to
    `offset + limit`, with `bucket`; `sizes`: how many each bucket holds with the filters;
    `categories` and `refs`: those of all the person's open tasks, for the filters;
    `quiet`: those of `refs` without contact since `quiet_before` (`store.out_of_touch`,
    read from the case rows the pass joins anyway: no second query naming 200 cases).
    """
    in_bucket = sa.case(
        *[(task_t.c.due < bound, n) for n, bound in enumerate(bounds)], else_=len(bounds)
    )
    # One narrow pass over the person's open tasks, soonest first (no dates decoded: the
    # bucket is worked out in the database), then only the shown tasks' rows by id. Was a
    # grouped count and a row-numbered page, each reading all ~900 open tasks.
    every = session.execute(
        _open_of(actor, navigator)
        .add_columns(
            task_t.c.id,
            case_t.c.ref,
            task_t.c.category,
            in_bucket.label("bucket"),
            out_of_touch(quiet_before).label("quiet"),
        )
        .order_by(task_t.c.due, task_t.c.id)
    ).all()
    sizes = [0] * (len(bounds) + 1)
    shown: dict[int, int] = {}  # task id -> its bucket
    categories, refs, quiet = set(), set(), set()
    for task_id, ref, kind, n, out in every:
        categories.add(kind)
        refs.add(ref)
        if out:
            quiet.add(ref)
        if (category and kind != category) or (case and ref != case):
            continue
        sizes[n] += 1
        if (bucket is None or n == bucket) and offset < sizes[n] <= offset + limit:
            shown[task_id] = n
    rows = session.execute(_SHOWN_TASKS, {"ids": list(shown)}).all() if shown else []
    return {
        "tasks": [{**_task_row(r), "bucket": shown[r.id]} for r in rows],
        "sizes": sizes,
        "categories": sorted(categories),
        "refs": sorted(refs),
        "quiet": sorted(quiet),
    }


# Built once (My work asks it on every page): some tasks' rows by id, soonest first.
_SHOWN_TASKS = (
    sa.select(task_t, case_t.c.ref)
    .join(case_t, case_t.c.id == task_t.c.case_id)
    .where(task_t.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(task_t.c.due, task_t.c.id)
)


def cases(
    session: Session,
    actor: Actor,
    navigator: str | None,
    org: str | None,
    limit: int | None = None,
) -> list[dict]:
    open_tasks = (
        sa.select(sa.func.count())
        .where(task_t.c.case_id == case_t.c.id, task_t.c.status == "open")
        .scalar_subquery()
    )
    query = (
        sa.select(case_t, staff_t.c.email, open_tasks.label("open_tasks"))
        .join(staff_t, staff_t.c.id == case_t.c.navigator_id)
        .where(case_filter(actor, case_t))
        .order_by(case_t.c.ref)
    )
    if navigator:
        query = query.where(staff_t.c.email == _address_filter(navigator))
    if org:
        query = query.where(case_t.c.organisation_id == org)
    return [
        {
            "ref": r.ref,
            "journey": r.journey_id,
            "status": r.status,
            "organisation": r.organisation_id,
            "navigator": r.email,
            "open_tasks": r.open_tasks,
            "opened_at": _iso(r.opened_at),
        }
        for r in session.execute(query.limit(limit))
    ]


def _event_value(instant: datetime, date_only: bool, tz: ZoneInfo) -> str:
    """A date-only event as the local date it was given as (never the previous day at
    23:00 UTC); a date-time as its UTC instant."""
    return EventTime(instant, date_only).isoformat(tz)


def _event_key(event: sa.Row, repeating: frozenset[str]) -> str:
    """How a person names a recording: `charge`, or `arrest#2` for an occurrence."""
    return f"{event.name}#{event.occurrence or 1}" if event.name in repeating else event.name


def case_detail(session: Session, actor: Actor, ref: str, catalog: Catalog) -> dict:
    """Everything about one case the actor may see; out of scope reads as no such case.

    Callers showing it to a person go through `service.view_case`, which audits the read.
    """
    row = session.execute(
        sa.select(case_t, staff_t.c.email)
        .join(staff_t, staff_t.c.id == case_t.c.navigator_id)
        .where(case_t.c.ref == ref, case_filter(actor, case_t))
    ).first()
    if row is None:
        raise UserError(f"unknown case '{ref}'")
    journey = catalog.resolve(row.journey_id)
    tz = journey.tz
    history = session.execute(
        sa.select(CaseEvent.__table__).where(CaseEvent.case_id == row.id).order_by(CaseEvent.id)
    ).all()
    latest = {
        _event_key(e, journey.repeating): _event_value(e.instant, e.date_only, tz)
        for e in history
        if e.removed_at is None
    }
    task_rows = session.execute(
        sa.select(task_t, case_t.c.ref)
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(task_t.c.case_id == row.id)
        .order_by(task_t.c.due, task_t.c.id)
    ).all()
    closures = _histories(session, [t.id for t in task_rows])
    return {
        "ref": row.ref,
        "journey": row.journey_id,
        "journey_version": row.journey_version,
        "status": row.status,
        "closed_reason": row.closed_reason,
        "organisation": row.organisation_id,
        "navigator": row.email,
        "facts": row.facts,
        "events": latest,
        "event_history": [
            {
                "name": e.name,
                "occurrence": (e.occurrence or 1) if e.name in journey.repeating else None,
                "value": _event_value(e.instant, e.date_only, tz),
                "date_only": e.date_only,
                "recorded_at": _iso(e.recorded_at),
                "recorded_by": e.recorded_by,
                "removed_at": _iso(e.removed_at),
            }
            for e in history
        ],
        "tasks": [
            {**_task_row(t), "note": t.note, "reason": t.reason, "history": closures.get(t.id, [])}
            for t in task_rows
        ],
    }


def _histories(session: Session, task_ids: list[int]) -> dict[int, list[dict]]:
    """Each task's closures and reopenings, oldest first: who, when, why."""
    found: dict[int, list[dict]] = {}
    if not task_ids:
        return found
    rows = session.execute(
        sa.select(history_t).where(history_t.c.task_id.in_(task_ids)).order_by(history_t.c.id)
    )
    for r in rows:
        found.setdefault(r.task_id, []).append(
            {
                "action": r.action,
                "at": _iso(r.at),
                "recorded_at": _iso(r.recorded_at),
                "by": r.by,
                "note": r.note,
                "reason": r.reason,
                "outcome": r.outcome,
            }
        )
    return found


def task_detail(session: Session, actor: Actor, task_id: int) -> dict:
    """One task with its note, reason and history; out of scope reads as no such task.

    Callers showing it to a person go through `service.view_task`, which audits the read.
    """
    row = session.execute(
        sa.select(task_t, case_t.c.ref, case_t.c.journey_id)
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(task_t.c.id == task_id, case_filter(actor, case_t))
    ).first()
    if row is None:
        raise UserError(f"unknown task {task_id}")
    return {
        **_task_row(row),
        "journey": row.journey_id,
        "note": row.note,
        "reason": row.reason,
        "history": _histories(session, [task_id]).get(task_id, []),
    }


QUIET_DAYS = 14  # a case with no contact done for this long is flagged on the web pages


def _contacts(case_id: sa.ColumnElement[int]) -> tuple[sa.ColumnElement[bool], ...]:
    """The case's contact tasks done with the survivor reached (an attempt marked
    `not_reached` is no contact), in the terms of the task index (category, status,
    case_id, closed_at)."""
    return (
        task_t.c.category == "contact",
        task_t.c.status == "done",
        task_t.c.case_id == case_id,
        sa.or_(task_t.c.outcome.is_(None), task_t.c.outcome != "not_reached"),
    )


def last_contact(case_id: sa.ColumnElement[int]) -> sa.ScalarSelect:
    """When contact was last done on the case (`_contacts`), or NULL if never: what
    `Case.last_contact_at` holds, read back from the tasks (`service` after a contact task
    closes or reopens, migration 0013 and the benchmark for every case)."""
    return sa.select(sa.func.max(task_t.c.closed_at)).where(*_contacts(case_id)).scalar_subquery()


# Built once (the case, team and task pages ask it): the quiet cases among some references.
_QUIET_AMONG = sa.select(case_t.c.ref).where(
    case_t.c.ref.in_(sa.bindparam("refs", expanding=True)), out_of_touch(sa.bindparam("cutoff"))
)


def quiet_cases(
    session: Session, refs: list[str], now: datetime, days: int = QUIET_DAYS
) -> set[str]:
    """Of the cases `refs`, those with no contact task done in `days` days (counted from
    opening if never)."""
    if not refs:
        return set()
    cutoff = now - timedelta(days=days)
    return set(session.scalars(_QUIET_AMONG, {"refs": list(refs), "cutoff": cutoff}))


def team(
    session: Session,
    actor: Actor,
    now: datetime,
    lead: str | None,
    days: int,
    *,
    refs: bool = False,
) -> list[dict]:
    """Per navigator (or covering lead) in scope: open, overdue and escalated tasks, and
    `quiet`, how many cases have no done contact task in `days` days (since opening, if
    never); with `refs`, `quiet_cases` lists them (the command line does, the web page
    counts them: a count is read from the case index alone, a list from every case row)."""
    cutoff = now - timedelta(days=days)
    holders = sa.select(staff_t).where(staff_t.c.role.in_(("navigator", "team_lead")))
    if lead is not None:
        lead_row = session.execute(sa.select(staff_t.c.id).where(staff_t.c.email == lead)).first()
        if lead_row is None:
            raise UserError(f"unknown team lead '{lead}'")
        holders = holders.where(
            sa.or_(staff_t.c.lead_id == lead_row.id, staff_t.c.id == lead_row.id)
        )
    in_scope = (case_t.c.status == "open", case_filter(actor, case_t))
    visible = sa.select(case_t.c.id, case_t.c.navigator_id).where(*in_scope).subquery()
    # Every holder of an open case in scope, with their open tasks' counts (none: zeros),
    # from two indexes alone (`ix_case_navigator_status`, `ix_task_case_status_due`: a
    # task's case_id stands for the task, as its id is not in PostgreSQL's index).
    task = task_t.c.case_id
    counts = {
        r.navigator_id: r
        for r in session.execute(
            sa.select(
                visible.c.navigator_id,
                sa.func.count(task).label("open"),
                sa.func.count(task).filter(task_t.c.due < now).label("overdue"),
                sa.func.count(task).filter(task_t.c.escalation_level > 0).label("escalated"),
            )
            .outerjoin(task_t, sa.and_(task_t.c.case_id == visible.c.id, task_t.c.status == "open"))
            .group_by(visible.c.navigator_id)
        )
    }
    quiet_ones = (*in_scope, out_of_touch(cutoff))
    if refs:
        listed = _quiet_refs(session, quiet_ones)
        quiet = {holder: len(found) for holder, found in listed.items()}
    else:
        listed = {}
        quiet = dict(  # from `ix_case_navigator_status` alone: no case row read
            session.execute(
                sa.select(case_t.c.navigator_id, sa.func.count())
                .where(*quiet_ones)
                .group_by(case_t.c.navigator_id)
            ).all()
        )
    rows = []
    for person in session.execute(holders.order_by(staff_t.c.email)):
        mine = counts.get(person.id)
        if mine is None and not can_see(actor, CaseScope(person.id, person.organisation_id)):
            continue  # someone else's team
        rows.append(
            {
                "navigator": person.email,
                "active": person.active,
                "open": mine.open if mine else 0,
                "overdue": mine.overdue if mine else 0,
                "escalated": mine.escalated if mine else 0,
                "quiet": quiet.get(person.id, 0),
                **({"quiet_cases": listed.get(person.id, [])} if refs else {}),
            }
        )
    return rows


def _quiet_refs(
    session: Session, where: tuple[sa.ColumnElement[bool], ...]
) -> dict[int, list[str]]:
    """The references of the cases `where` picks, by holder, in order."""
    found: dict[int, list[str]] = {}
    # sorted here: an ORDER BY ref lets SQLite walk every case in ref order instead
    for ref, holder in session.execute(
        sa.select(case_t.c.ref, case_t.c.navigator_id).where(*where)
    ):
        found.setdefault(holder, []).append(ref)
    for refs in found.values():
        refs.sort()
    return found


def audit(
    session: Session,
    actor: Actor,
    case: str | None,
    limit: int,
    actions: Collection[str] | None = None,
) -> list[dict]:
    """Audit entries, newest first: all of them for an admin, else only those about cases
    the actor may see; only those of `actions`, if given (a case's timeline, which would
    otherwise read back every time someone looked at the case)."""
    table = AuditEntry.__table__
    query = sa.select(table).order_by(table.c.id.desc()).limit(limit)
    if actions is not None:
        query = query.where(table.c.action.in_(sorted(actions)))
    if not actor.is_admin:
        query = query.join(case_t, case_t.c.ref == table.c.case_ref).where(
            case_filter(actor, case_t)
        )
    if case:
        query = query.where(table.c.case_ref == case)
    return [
        {
            "at": _iso(r.at),
            "actor": r.actor,
            "case": r.case_ref,
            "action": r.action,
            "detail": r.detail,
        }
        for r in session.execute(query)
    ]


def messages_by_key(session: Session, keys: list[str]) -> dict[str, dict]:
    """The outbox messages with these keys: status, when sent, and the recipient's role
    (never the body, which may list other cases)."""
    if not keys:
        return {}
    table = OutboxMessage.__table__
    rows = session.execute(
        sa.select(table.c.key, table.c.status, table.c.sent_at, staff_t.c.role)
        .outerjoin(staff_t, staff_t.c.email == table.c.recipient)
        .where(table.c.key.in_(sorted(set(keys))))
    )
    return {r.key: {"status": r.status, "sent_at": r.sent_at, "role": r.role} for r in rows}


MESSAGE_STATUSES = ("queued", "sending", "sent", "failed")


def outbox(
    session: Session, actor: Actor, status: str | None, limit: int | None = None
) -> list[dict]:
    """Outbox messages, newest first, optionally only those with one status: every message
    for an admin, else only the actor's own."""
    if status is not None and status not in MESSAGE_STATUSES:
        expected = ", ".join(MESSAGE_STATUSES)
        raise UserError(f"unknown status '{status}': expected one of {expected}")
    table = OutboxMessage.__table__
    query = sa.select(table).order_by(table.c.id.desc())
    if status is not None:
        query = query.where(table.c.status == status)
    if not actor.is_admin:
        query = query.where(table.c.recipient == actor.who)
    return [
        {
            "id": m.id,
            "kind": m.kind,
            "status": m.status,
            "recipient": m.recipient,
            "case": m.case_ref,
            "attempts": m.attempts,
            "created_at": m.created_at.isoformat(),
            "next_attempt_at": _iso(m.next_attempt_at),
            "sent_at": _iso(m.sent_at),
            "message_id": m.message_id,
            "last_error": m.last_error,
        }
        for m in session.execute(query.limit(limit))
    ]


def organisations(session: Session, actor: Actor, now: datetime) -> list[dict]:
    """Each organisation with cases in the actor's scope: its open cases, and its overdue
    open tasks by category (counts only)."""
    in_scope = sa.and_(case_t.c.status == "open", case_filter(actor, case_t))
    found: dict[str, dict] = {}
    for r in session.execute(
        sa.select(case_t.c.organisation_id, sa.func.count().label("n"))
        .where(in_scope)
        .group_by(case_t.c.organisation_id)
    ):
        found[r.organisation_id] = {"organisation": r.organisation_id, "open_cases": r.n}
    for r in session.execute(
        sa.select(case_t.c.organisation_id, task_t.c.category, sa.func.count().label("n"))
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(in_scope, task_t.c.status == "open", task_t.c.due < now)
        .group_by(case_t.c.organisation_id, task_t.c.category)
    ):
        row = found.setdefault(r.organisation_id, {"organisation": r.organisation_id})
        row.setdefault("overdue", {})[r.category] = r.n
    return [
        {
            "organisation": org,
            "open_cases": row.get("open_cases", 0),
            "overdue": dict(sorted(row.get("overdue", {}).items())),
        }
        for org, row in sorted(found.items())
    ]
