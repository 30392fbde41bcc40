"""The alert pass: reminders and escalations that have fallen due, queued as messages.

Only tasks whose indexed `next_alert_at` has passed are read. Each task's state advances in
the same transaction that queues its messages, so a repeated pass queues nothing new. The
rules are the core's: what a task's ladder says at `now` (`engine.core.escalation`), one
reminder per task per pass, reminders for whole-day deadlines held until the morning, and
one escalation message per recipient per pass (`engine.core.grouping`), escalation and
overdue messages held until the recipient's working hours unless a step is `urgent`.

People are heard: a lead who acknowledged a task's escalation (`engine.acknowledgements`)
gets no further steps of it, and a person who chose `digest` for a group of kinds in the
staff file (`emails: {tasks: digest}`) gets those in their daily digest instead; urgent
steps still reach everyone at once.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

import sqlalchemy as sa
from sqlmodel import Session

from engine.batches import chunks
from engine.bulk import insert_rows, is_postgres, update_by_id
from engine.catalog import Catalog, Journeys
from engine.core.calendar import get_calendar
from engine.core.errors import UserError
from engine.core.escalation import (
    WORKING_HOURS,
    WorkingHours,
    daytime,
    decide,
    escalation_level,
    schedule,
    working_hours,
)
from engine.core.grouping import Escalated, case_entries, group, messages_for
from engine.core.messages import (
    EscalatedItem,
    Message,
    ReminderPayload,
    email_choice,
    task_item,
)
from engine.counts import Counts
from engine.directory import DEFAULT_CALENDAR, DEFAULT_TIMEZONE, Directory
from engine.outbox import queue
from engine.store import Acknowledgement, AuditEntry, Case, Task

task_t = Task.__table__
case_t = Case.__table__
ack_t = Acknowledgement.__table__
audit_t = AuditEntry.__table__


def send_alerts(
    session: Session, catalog: Catalog, now: datetime, hours: WorkingHours = WORKING_HOURS
) -> Counts:
    """Every alert due at `now`, queued in the caller's transaction; escalation and overdue
    messages wait for `hours` (the `working_hours` setting) where their recipient works."""
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
    people = _People(directory)
    acknowledged = _acknowledged(session, [row.id for row in rows])
    for row in rows:
        try:
            journey = journeys[row.journey_id]
            _, ob = journey.obligations[row.obligation]
        except (UserError, KeyError):  # the obligation left the journey: the next plan cancels it
            updates.append({"_id": row.id, "next_alert_at": None})
            continue
        clock = journey.clock(ob.id)
        alerts = schedule(ob, row.due, clock.calendar, clock.tz, row.ladder_from)
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
            guidance=ob.description,
        )
        navigator = directory.navigator_email(row.navigator_id)
        if decision.reminder is not None and people.wants(navigator, "tasks"):
            counts.reminders += 1
            tz = directory.timezone(row.organisation_id)
            morning = daytime(now, tz) if row.precision == "day" else None
            key = f"reminder:{row.id}:{row.sequence}:{decision.handled}"
            payload = ReminderPayload(**item, sequence=row.sequence, timezone=tz)
            reminders.append(Message(key, "reminder", navigator, row.ref, payload, morning))
        if decision.escalation is not None:
            counts.escalations += 1
            urgent = decision.escalation.urgent
            everyone = [
                person
                for role in decision.escalation.roles
                for person in recipients(role, row.navigator_id, row.organisation_id)
                if (row.id, person) not in acknowledged
                and (
                    urgent
                    or people.wants(person, "tasks" if person == navigator else "escalations")
                )
            ]
            level = decision.escalation.level
            entry = EscalatedItem(**item, level=level, navigator=navigator)
            if urgent:
                entry["urgent"] = True
            escalated.append(Escalated(entry, everyone))

    def hold(email: str) -> datetime | None:
        start = working_hours(now, people.timezone(email), people.calendar(email), hours)
        return start if start > now else None

    escalations = messages_for(group(escalated), people.timezone, hold)
    update_by_id(session, task_t, updates)
    queue(session, reminders + escalations, now)
    # Each case's part of each escalation message, for its timeline (`web.cases`).
    audits = [
        {"at": now, "actor": "engine", "case_ref": ref, "action": "task.escalate",
         "detail": {"message": key, "tasks": tasks}}
        for ref, key, tasks in case_entries(escalations)
    ]  # fmt: skip
    insert_rows(session, audit_t, audits)
    return counts


def _acknowledged(session: Session, task_ids: list[int]) -> set[tuple[int, str]]:
    """(task, person) pairs where the person acknowledged the task's escalation."""
    query = sa.select(ack_t.c.task_id, ack_t.c.staff_email)
    return {
        (row.task_id, row.staff_email)
        for ids in chunks(task_ids)
        for row in session.execute(query.where(ack_t.c.task_id.in_(ids)))
    }


class _People:
    """What the pass needs of a recipient by address: where they work and what they chose."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._by_email: dict[str, sa.Row] | None = None

    def _person(self, email: str) -> sa.Row | None:
        if self._by_email is None:
            self._by_email = {s.email: s for s in self.directory.staff.values()}
        return self._by_email.get(email)

    def _org(self, email: str) -> sa.Row | None:
        person = self._person(email)
        return self.directory.orgs.get(person.organisation_id) if person else None

    def timezone(self, email: str) -> str:
        org = self._org(email)
        return org.timezone if org else DEFAULT_TIMEZONE

    def calendar(self, email: str):
        org = self._org(email)
        return get_calendar(org.calendar if org else DEFAULT_CALENDAR)

    def wants(self, email: str, kinds: str) -> bool:
        """Whether `email` wants each message of a group of kinds (else: the digest only)."""
        person = self._person(email)
        prefs = getattr(person, "email_prefs", None) if person else None
        return email_choice(prefs, kinds) == "each"
