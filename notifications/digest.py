"""Daily digests: one message per person per local day, only when there is something to say.

To each member of staff who navigates cases: their overdue tasks, their tasks due in the
next 7 days, and their open cases with no contact in the last 21 days: no `contact` task
done with the survivor reached (an attempt marked `not_reached` is no contact), by the
same rule as the web pages' flag (`engine.store.out_of_touch`); cases opened less than 21
days ago are not flagged: nobody has been out of touch yet.
To each team lead: their team's (the staff whose `lead_id` is theirs) open tasks that are
overdue or escalated. Anyone can be both; an empty digest is not sent.

Three set-based queries whatever the caseload, grouped in memory; the queue's unique
key `digest:{email}:{local date}` makes a second run on the same local day queue nothing.
The digest is queued for `now`: when it goes out is the schedule's business.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import select

from engine.catalog import Catalog, Journeys
from engine.core.errors import UserError
from engine.core.messages import (
    DigestItem,
    DigestPayload,
    Message,
    QuietCase,
    task_item,
)
from engine.outbox import queue
from engine.store import Case, Organisation, Staff, Task, out_of_touch, session_scope

UPCOMING = timedelta(days=7)
QUIET = timedelta(days=21)


@dataclass
class _Sections:
    """One person's digest, section by section."""

    overdue: list[DigestItem] = field(default_factory=list)
    upcoming: list[DigestItem] = field(default_factory=list)
    quiet: list[QuietCase] = field(default_factory=list)
    team: list[DigestItem] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.overdue or self.upcoming or self.quiet or self.team)


class _StageTitles:
    """Stage id -> the title navigators know it by (as reminders show it), per journey."""

    def __init__(self, catalog: Catalog) -> None:
        self.journeys = Journeys(catalog)

    def __call__(self, journey_id: str, stage: str) -> str:
        try:
            return self.journeys[journey_id].stage_title(stage)
        except UserError:  # the journey file is gone: the id is still meaningful
            return stage

    def guidance(self, journey_id: str, obligation: str) -> str | None:
        """The obligation's `description`: what the navigator should know to do it."""
        try:
            _, ob = self.journeys[journey_id].obligations.get(obligation, (None, None))
        except UserError:
            return None
        return ob.description if ob else None


def _item(row: Any, stage_title: _StageTitles) -> DigestItem:
    item = task_item(
        case=row.ref,
        task_id=row.id,
        title=row.title,
        stage=stage_title(row.journey_id, row.stage),
        category=row.category,
        due=row.due,
        precision=row.precision,
        guidance=stage_title.guidance(row.journey_id, row.obligation),
    )
    return DigestItem(**item, level=row.escalation_level)


def queue_digests(url: str, catalog: Catalog, now: datetime) -> int:
    """Queue today's digests (recipient's local day); returns how many were newly queued."""
    horizon = now + UPCOMING
    cutoff = now - QUIET
    with session_scope(url) as session:
        staff = session.exec(
            select(Staff.id, Staff.email, Staff.lead_id, Organisation.timezone).join(
                Organisation, Staff.organisation_id == Organisation.id
            )
        ).all()
        email_of = {s.id: s.email for s in staff}
        lead_of = {s.id: s.lead_id for s in staff}

        tasks = session.exec(
            select(
                Task.id,
                Task.obligation,
                Task.title,
                Task.stage,
                Task.category,
                Task.due,
                Task.precision,
                Task.escalation_level,
                Case.ref,
                Case.journey_id,
                Case.navigator_id,
            )
            .join(Case, Task.case_id == Case.id)
            .where(
                Task.status == "open",
                Case.status == "open",
                sa.or_(Task.due < horizon, Task.escalation_level > 0),
            )
            .order_by(Task.due, Task.id)
        ).all()

        quiet = session.exec(
            select(Case.ref, Case.navigator_id, Case.last_contact_at.label("last"))
            .where(Case.status == "open", out_of_touch(cutoff))
            .order_by(Case.ref)
        ).all()

        sections: dict[int, _Sections] = defaultdict(_Sections)
        stage_title = _StageTitles(catalog)
        for row in tasks:
            item = _item(row, stage_title)
            if row.due < now:
                sections[row.navigator_id].overdue.append(item)
            elif row.due < horizon:
                sections[row.navigator_id].upcoming.append(item)
            lead = lead_of.get(row.navigator_id)
            if lead is not None and (row.due < now or row.escalation_level > 0):
                team_item = DigestItem(**item, navigator=email_of[row.navigator_id])
                sections[lead].team.append(team_item)
        for row in quiet:
            last = row.last.isoformat() if row.last is not None else None
            sections[row.navigator_id].quiet.append(QuietCase(case=row.ref, last_contact=last))

        messages = []
        for person in staff:
            content = sections.get(person.id)
            if not content:
                continue
            local_day = now.astimezone(ZoneInfo(person.timezone)).date().isoformat()
            payload = DigestPayload(
                timezone=person.timezone,
                date=local_day,
                quiet_days=QUIET.days,
                overdue=content.overdue,
                upcoming=content.upcoming,
                quiet=content.quiet,
                team=content.team,
            )
            messages.append(
                Message(f"digest:{person.email}:{local_day}", "digest", person.email, None, payload)
            )
        return queue(session, messages, now)
