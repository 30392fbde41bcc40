"""Calendar entries for every dated task: a REQUEST when planned or re-dated, a CANCEL when
the task is done, waived or cancelled (docs/notifications.md, "Calendar entries").

State, not events: each task keeps the due date its calendar entry shows (`calendar_due`,
NULL when no entry is live) and how many entries it has sent (`calendar_seq`, the next
SEQUENCE). Every change of a task's status or due (the plan, a person closing or reopening
it, the case closing) sets its indexed `calendar_pending` flag, through the core's
`lifecycle` and `diff`. The alert pass then calls `queue_calendar`, which reads only the
flagged tasks, compares, and queues what is out of step as one `calendar` message per
navigator per sweep (not one per command: a navigator closing ten tasks gets one email),
in the same transaction as the new state, so a repeated sweep queues nothing and a crash
loses nothing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from engine.bulk import is_postgres, update_by_id
from engine.catalog import Catalog, Journeys
from engine.core.errors import UserError
from engine.core.messages import CalendarItem, CalendarPayload, Message, task_item
from engine.directory import Directory
from engine.installation import installation_id, task_uid
from engine.outbox import queue
from engine.store import Case, Task

task_t = Task.__table__
case_t = Case.__table__


def out_of_step() -> sa.ColumnElement[bool]:
    """Tasks whose calendar entry no longer matches them: open and not shown (or shown on
    another date), or closed and still shown."""
    return sa.or_(
        sa.and_(
            task_t.c.status == "open",
            sa.or_(task_t.c.calendar_due.is_(None), task_t.c.calendar_due != task_t.c.due),
        ),
        sa.and_(task_t.c.status != "open", task_t.c.calendar_due.is_not(None)),
    )


def queue_calendar(session: Session, catalog: Catalog, now: datetime) -> int:
    """Queue the calendar entries flagged tasks are owed; returns how many entries."""
    query = (
        sa.select(
            task_t.c.id,
            task_t.c.obligation,
            task_t.c.stage,
            task_t.c.title,
            task_t.c.category,
            task_t.c.due,
            task_t.c.precision,
            task_t.c.status,
            task_t.c.calendar_seq,
            out_of_step().label("owed"),
            case_t.c.ref,
            case_t.c.journey_id,
            case_t.c.navigator_id,
            case_t.c.organisation_id,
        )
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(task_t.c.calendar_pending.is_(True))
        .order_by(task_t.c.id)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=task_t)
    flagged = session.execute(query).all()
    if not flagged:
        return 0
    # The flag is only a hint: every flagged task is unflagged, the owed ones also sent.
    unflag = [{"_id": row.id, "calendar_pending": False} for row in flagged if not row.owed]
    rows = [row for row in flagged if row.owed]
    if not rows:
        update_by_id(session, task_t, unflag)
        return 0
    installation = installation_id(session)
    directory = Directory(session)
    journeys = Journeys(catalog)
    by_navigator: dict[tuple[str, str], list[CalendarItem]] = defaultdict(list)
    updates = []
    for row in rows:
        stage, guidance = _journey_text(journeys, row.journey_id, row.stage, row.obligation)
        live = row.status == "open"
        item = task_item(
            case=row.ref,
            task_id=row.id,
            title=row.title,
            stage=stage,
            category=row.category,
            due=row.due,
            precision=row.precision,
            guidance=guidance,
        )
        entry = CalendarItem(
            **item,
            uid=task_uid(row.id, installation),
            method="REQUEST" if live else "CANCEL",
            sequence=row.calendar_seq,
        )
        recipient = directory.navigator_email(row.navigator_id)
        by_navigator[(recipient, directory.timezone(row.organisation_id))].append(entry)
        updates.append(
            {
                "_id": row.id,
                "calendar_pending": False,
                "calendar_due": row.due if live else None,
                "calendar_seq": row.calendar_seq + 1,
            }
        )
    messages = [
        _message(recipient, timezone, items)
        for (recipient, timezone), items in by_navigator.items()
    ]
    update_by_id(session, task_t, updates + unflag)
    queue(session, messages, now)
    return len(rows)


def _journey_text(
    journeys: Journeys, journey_id: str, stage: str, obligation: str
) -> tuple[str, str | None]:
    """The stage's title and the obligation's guidance, as the journey words them."""
    try:
        journey = journeys[journey_id]
    except UserError:  # the journey file is gone: the ids still mean something
        return stage, None
    _, ob = journey.obligations.get(obligation, (None, None))
    return journey.stage_title(stage), ob.description if ob else None


def _message(recipient: str, timezone: str, items: list[CalendarItem]) -> Message:
    pairs = ",".join(f"{i['task_id']}:{i['sequence']}" for i in items)
    digest = hashlib.sha256(pairs.encode()).hexdigest()[:20]
    refs = {i["case"] for i in items}
    payload = CalendarPayload(timezone=timezone, items=items)
    return Message(
        f"calendar:{recipient}:{digest}",
        "calendar",
        recipient,
        refs.pop() if len(refs) == 1 else None,
        payload,
    )
