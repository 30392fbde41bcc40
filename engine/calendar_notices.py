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
from array import array
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from engine.batches import chunks
from engine.bulk import is_postgres
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


# Flagged tasks read, written and queued at a time. After a large plan (an import, the
# initial plan of a caseload) every task is flagged: the pass first reads only each flagged
# task's id and navigator, then the rest of the rows a few thousand at a time, whole
# navigators at once, so its memory follows one navigator's entries, not the caseload's.
CHUNK = 5_000


def queue_calendar(session: Session, catalog: Catalog, now: datetime) -> int:
    """Queue the calendar entries flagged tasks are owed; returns how many entries."""
    directory = Directory(session)
    owed, unowed = _flagged(session, directory)
    # The flag is only a hint: every flagged task is unflagged, the owed ones also sent.
    for ids in chunks(unowed, CHUNK):
        session.execute(
            sa.update(task_t).where(task_t.c.id.in_(ids)).values(calendar_pending=False)
        )
    if not owed:
        return 0
    installation = installation_id(session)
    journeys = Journeys(catalog)
    chunk: list[tuple[tuple[int, str], array]] = []
    for group in owed.items():
        chunk.append(group)
        if sum(len(ids) for _, ids in chunk) >= CHUNK:
            _queue_chunk(session, chunk, directory, journeys, installation, now)
            chunk = []
    if chunk:
        _queue_chunk(session, chunk, directory, journeys, installation, now)
    return sum(len(ids) for ids in owed.values())


def _flagged(session: Session, directory: Directory) -> tuple[dict[tuple[int, str], array], array]:
    """The flagged tasks' ids: the owed ones by (navigator, time zone), in the order of each
    group's first task (so messages are queued in task order), and the rest."""
    query = (
        sa.select(
            task_t.c.id,
            out_of_step().label("owed"),
            case_t.c.navigator_id,
            case_t.c.organisation_id,
        )
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(task_t.c.calendar_pending.is_(True))
        .order_by(task_t.c.id)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=task_t)
    owed: dict[tuple[int, str], array] = {}
    unowed = array("q")
    for task_id, is_owed, navigator_id, organisation_id in session.execute(query):
        if not is_owed:
            unowed.append(task_id)
            continue
        key = (navigator_id, directory.timezone(organisation_id))
        ids = owed.get(key)
        if ids is None:
            ids = owed[key] = array("q")
        ids.append(task_id)
    return owed, unowed


def _queue_chunk(
    session: Session,
    groups: list[tuple[tuple[int, str], array]],
    directory: Directory,
    journeys: Journeys,
    installation: str,
    now: datetime,
) -> None:
    """One message per group, its entries in task order, and the tasks marked as sent."""
    entries: dict[int, CalendarItem] = {}
    for ids in chunks([i for _, group in groups for i in group], CHUNK):
        for row in session.execute(_entries_query().where(task_t.c.id.in_(ids))):
            entries[row.id] = _entry(row, journeys, installation)
        session.execute(
            sa.update(task_t)
            .where(task_t.c.id.in_(ids))
            .values(
                calendar_pending=False,
                calendar_due=sa.case((task_t.c.status == "open", task_t.c.due)),
                calendar_seq=task_t.c.calendar_seq + 1,
            )
        )
    messages = [
        _message(directory.navigator_email(navigator_id), timezone, [entries[i] for i in ids])
        for (navigator_id, timezone), ids in groups
    ]
    queue(session, messages, now)


def _entries_query() -> sa.Select:
    return sa.select(
        task_t.c.id,
        task_t.c.obligation,
        task_t.c.stage,
        task_t.c.title,
        task_t.c.category,
        task_t.c.due,
        task_t.c.precision,
        task_t.c.status,
        task_t.c.calendar_seq,
        case_t.c.ref,
        case_t.c.journey_id,
    ).join(case_t, case_t.c.id == task_t.c.case_id)


def _entry(row: sa.Row, journeys: Journeys, installation: str) -> CalendarItem:
    """A task's calendar entry: a REQUEST while it is open, else a CANCEL."""
    stage, guidance = _journey_text(journeys, row.journey_id, row.stage, row.obligation)
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
    return CalendarItem(
        **item,
        uid=task_uid(row.id, installation),
        method="REQUEST" if row.status == "open" else "CANCEL",
        sequence=row.calendar_seq,
    )


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
