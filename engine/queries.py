"""The read side: plain dictionaries for the CLI's tables and `--json` output."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from engine.addresses import AddressError, check_address
from engine.core.errors import UserError
from engine.store import AuditEntry, Case, CaseEvent, OutboxMessage, Staff, Task

case_t, task_t, staff_t = Case.__table__, Task.__table__, Staff.__table__


def _address_filter(email: str) -> str:
    """A `--navigator` filter is an address like any other: one plain address or an error."""
    try:
        return check_address(email)
    except AddressError as error:
        raise UserError(f"--navigator {email!r} is not a single email address: {error}") from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def staff(session: Session, limit: int | None = None) -> list[dict]:
    lead = staff_t.alias("lead")
    query = (
        sa.select(staff_t, lead.c.email.label("lead_email"))
        .outerjoin(lead, lead.c.id == staff_t.c.lead_id)
        .order_by(staff_t.c.organisation_id, staff_t.c.role, staff_t.c.email)
    )
    return [
        {
            "email": r.email,
            "name": r.name,
            "role": r.role,
            "organisation": r.organisation_id,
            "lead": r.lead_email,
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
        "status": r.status,
        "escalation_level": r.escalation_level,
        "closed_at": _iso(r.closed_at),
    }


def _task_with_text(r: sa.Row) -> dict:
    """A task row with its free text (note, waive reason): only where the case is shown."""
    return {**_task_row(r), "reason": r.reason, "note": r.note}


def tasks(
    session: Session,
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


def cases(
    session: Session, navigator: str | None, org: str | None, limit: int | None = None
) -> list[dict]:
    open_tasks = (
        sa.select(sa.func.count())
        .where(task_t.c.case_id == case_t.c.id, task_t.c.status == "open")
        .scalar_subquery()
    )
    query = (
        sa.select(case_t, staff_t.c.email, open_tasks.label("open_tasks"))
        .join(staff_t, staff_t.c.id == case_t.c.navigator_id)
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


def case_detail(session: Session, ref: str) -> dict:
    row = session.execute(
        sa.select(case_t, staff_t.c.email)
        .join(staff_t, staff_t.c.id == case_t.c.navigator_id)
        .where(case_t.c.ref == ref)
    ).first()
    if row is None:
        raise UserError(f"unknown case '{ref}'")
    history = session.execute(
        sa.select(CaseEvent.__table__).where(CaseEvent.case_id == row.id).order_by(CaseEvent.id)
    ).all()
    latest = {e.name: _iso(e.instant) for e in history}
    task_rows = session.execute(
        sa.select(task_t, case_t.c.ref)
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(task_t.c.case_id == row.id)
        .order_by(task_t.c.due, task_t.c.id)
    )
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
                "value": _iso(e.instant),
                "date_only": e.date_only,
                "recorded_at": _iso(e.recorded_at),
                "recorded_by": e.recorded_by,
            }
            for e in history
        ],
        "tasks": [_task_with_text(t) for t in task_rows],
    }


def task_detail(session: Session, task_id: int) -> dict:
    """One task with its note and reason, for `task show`."""
    row = session.execute(
        sa.select(task_t, case_t.c.ref)
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(task_t.c.id == task_id)
    ).first()
    if row is None:
        raise UserError(f"unknown task {task_id}")
    return _task_with_text(row)


def audit(session: Session, case: str | None, limit: int) -> list[dict]:
    table = AuditEntry.__table__
    query = sa.select(table).order_by(table.c.id.desc()).limit(limit)
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


MESSAGE_STATUSES = ("queued", "sending", "sent", "failed")


def outbox(session: Session, status: str | None, limit: int | None = None) -> list[dict]:
    """Outbox messages, newest first, optionally only those with one status."""
    if status is not None and status not in MESSAGE_STATUSES:
        expected = ", ".join(MESSAGE_STATUSES)
        raise UserError(f"unknown status '{status}': expected one of {expected}")
    table = OutboxMessage.__table__
    query = sa.select(table).order_by(table.c.id.desc())
    if status is not None:
        query = query.where(table.c.status == status)
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
