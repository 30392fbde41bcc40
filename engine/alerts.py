"""The alert pass: reminders and escalations that have fallen due, queued as messages.

Only tasks whose indexed `next_alert_at` has passed are read. Each task's state advances in
the same transaction that queues its messages, so a repeated pass queues nothing new. The
fatigue rules live here: one reminder per task per pass, and one escalation message per
recipient per pass, combining every task that escalated to them; reminders for whole-day
deadlines that fall due at night wait for the morning.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from functools import cache

import sqlalchemy as sa
from sqlmodel import Session

from engine.bulk import is_postgres, update_by_id
from engine.catalog import Catalog, Journeys
from engine.core.calendar import get_calendar
from engine.core.errors import UserError
from engine.core.escalation import daytime, decide, escalation_level, schedule
from engine.counts import Counts
from engine.directory import Directory
from engine.outbox import Message, queue
from engine.store import Case, Task

task_t = Task.__table__
case_t = Case.__table__


def _items_key(kind: str, recipient: str, items: list[dict]) -> str:
    pairs = ",".join(
        f"{i['task_id']}:{i['level']}" for i in sorted(items, key=lambda i: i["task_id"])
    )
    return f"{kind}:{recipient}:{hashlib.sha256(pairs.encode()).hexdigest()[:20]}"


def send_alerts(session: Session, catalog: Catalog, now: datetime) -> Counts:
    """Every alert due at `now`, queued in the caller's transaction."""
    query = (
        sa.select(
            task_t,
            case_t.c.ref,
            case_t.c.journey_id,
            case_t.c.navigator_id,
            case_t.c.organisation_id,
        )
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(task_t.c.next_alert_at <= now, task_t.c.status == "open")
        .order_by(task_t.c.next_alert_at, task_t.c.id)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=task_t)
    rows = session.execute(query).all()
    counts = Counts()
    directory = Directory(session)
    recipients = cache(directory.recipients)  # leads and programme leads, once per pass
    journeys = Journeys(catalog)
    updates: list[dict] = []
    messages: list[Message] = []
    combined: dict[tuple[str, str], list[dict]] = defaultdict(list)
    listed: set[tuple[str, str, int]] = set()
    for row in rows:
        try:
            journey = journeys[row.journey_id]
            _, ob = journey.obligations[row.obligation]
        except (UserError, KeyError):  # the obligation left the journey: the next plan cancels it
            updates.append({"_id": row.id, "next_alert_at": None})
            continue
        alerts = schedule(ob, row.due, get_calendar(journey.calendar), journey.tz)
        decision = decide(alerts, row.alerts_handled, now)
        updates.append(
            {
                "_id": row.id,
                "alerts_handled": decision.handled,
                "next_alert_at": decision.next_at,
                "escalation_level": max(
                    row.escalation_level, escalation_level(alerts, decision.handled)
                ),
            }
        )
        tz = directory.timezone(row.organisation_id)
        item = {
            "case": row.ref,
            "task_id": row.id,
            "title": row.title,
            "stage": journey.stage_title(row.stage),
            "category": row.category,
            "due": row.due.isoformat(),
            "precision": row.precision,
        }
        if decision.reminder is not None:
            counts.reminders += 1
            hold = daytime(now, tz) if row.precision == "day" else None
            recipient = directory.navigator_email(row.navigator_id)
            key = f"reminder:{row.id}:{row.sequence}:{decision.handled}"
            payload = {**item, "sequence": row.sequence, "timezone": tz}
            messages.append(Message(key, "reminder", recipient, row.ref, payload, hold))
        if decision.escalation is not None:
            counts.escalations += 1
            navigator = directory.navigator_email(row.navigator_id)
            for role in decision.escalation.roles:
                for recipient in recipients(role, row.navigator_id, row.organisation_id):
                    kind = "overdue" if recipient == navigator else "escalation"
                    if (kind, recipient, row.id) not in listed:  # two roles, one person
                        listed.add((kind, recipient, row.id))
                        entry = {**item, "level": decision.escalation.level, "navigator": navigator}
                        combined[(kind, recipient)].append(entry)
    organisation_of = (
        {s.email: s.organisation_id for s in directory.staff.values()} if combined else {}
    )
    for (kind, recipient), items in combined.items():
        refs = {i["case"] for i in items}
        payload = {"timezone": _recipient_tz(directory, organisation_of, recipient), "items": items}
        case_ref = refs.pop() if len(refs) == 1 else None
        messages.append(
            Message(_items_key(kind, recipient, items), kind, recipient, case_ref, payload)
        )
    update_by_id(session, task_t, updates)
    queue(session, messages, now)
    return counts


def _recipient_tz(directory: Directory, organisation_of: dict[str, str], email: str) -> str:
    organisation = organisation_of.get(email)
    return directory.timezone(organisation) if organisation else "Europe/London"
