"""The alert pass: reminders and escalations that have fallen due, queued as messages.

Only tasks whose indexed `next_alert_at` has passed are read. Each task's state advances in
the same transaction that queues its messages, so a repeated pass queues nothing new. The
rules are the core's: what a task's ladder says at `now` (`engine.core.escalation`), one
reminder per task per pass, reminders for whole-day deadlines held until the morning, and
one escalation message per recipient per pass (`engine.core.grouping`).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

import sqlalchemy as sa
from sqlmodel import Session

from engine.bulk import is_postgres, update_by_id
from engine.catalog import Catalog, Journeys
from engine.core.calendar import get_calendar
from engine.core.errors import UserError
from engine.core.escalation import daytime, decide, escalation_level, schedule
from engine.core.grouping import Escalated, group, messages_for
from engine.core.messages import EscalatedItem, Message, ReminderPayload, task_item
from engine.counts import Counts
from engine.directory import Directory
from engine.outbox import queue
from engine.store import Case, Task

task_t = Task.__table__
case_t = Case.__table__


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
        .where(
            task_t.c.next_alert_at <= now,
            task_t.c.status == "open",
            # Only cases whose plan is current: a case due for re-planning may be about to
            # cancel or re-date this task, and nobody is told about a task that is going.
            sa.or_(case_t.c.replan_at.is_(None), case_t.c.replan_at > now),
        )
        .order_by(task_t.c.next_alert_at, task_t.c.id)
    )
    if is_postgres(session):
        # Lock the tasks, not their cases: a re-plan in progress holds the rows of the
        # tasks it changes, so those are skipped here and alerted as re-planned next pass.
        # Locking case rows too would skip a planned case whose row a reconcile that found
        # nothing to do still holds, and nobody would alert on it this sweep.
        query = query.with_for_update(skip_locked=True, of=task_t)
    rows = session.execute(query).all()
    counts = Counts()
    directory = Directory(session)
    recipients = cache(directory.recipients)  # leads and programme leads, once per pass
    journeys = Journeys(catalog)
    updates: list[dict] = []
    reminders: list[Message] = []
    escalated: list[Escalated] = []
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
        item = task_item(
            case=row.ref,
            task_id=row.id,
            title=row.title,
            stage=journey.stage_title(row.stage),
            category=row.category,
            due=row.due,
            precision=row.precision,
        )
        navigator = directory.navigator_email(row.navigator_id)
        if decision.reminder is not None:
            counts.reminders += 1
            tz = directory.timezone(row.organisation_id)
            hold = daytime(now, tz) if row.precision == "day" else None
            key = f"reminder:{row.id}:{row.sequence}:{decision.handled}"
            payload = ReminderPayload(**item, sequence=row.sequence, timezone=tz)
            reminders.append(Message(key, "reminder", navigator, row.ref, payload, hold))
        if decision.escalation is not None:
            counts.escalations += 1
            everyone = [
                person
                for role in decision.escalation.roles
                for person in recipients(role, row.navigator_id, row.organisation_id)
            ]
            level = decision.escalation.level
            entry = EscalatedItem(**item, level=level, navigator=navigator)
            escalated.append(Escalated(entry, everyone))
    grouped = group(escalated)
    organisation_of = (
        {s.email: s.organisation_id for s in directory.staff.values()} if grouped else {}
    )
    escalations = messages_for(
        grouped, lambda email: _recipient_tz(directory, organisation_of, email)
    )
    update_by_id(session, task_t, updates)
    queue(session, reminders + escalations, now)
    return counts


def _recipient_tz(directory: Directory, organisation_of: dict[str, str], email: str) -> str:
    organisation = organisation_of.get(email)
    return directory.timezone(organisation) if organisation else "Europe/London"
