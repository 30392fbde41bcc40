"""Use cases: what people and the engine do to cases, tasks and staff.

Each function is one unit of work on a session the caller opened (`store.session_scope`),
so a command either changes everything it should or nothing. Inputs are checked against
the case's journey before anything is written; every change leaves an audit entry; a change
to a case re-plans it at once (`reconcile_cases`) with the same code the sweep uses, so the
result is the same whether the next sweep or the command itself does it.
"""

from __future__ import annotations

import getpass
import os
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlmodel import Session, select

from engine.catalog import Catalog
from engine.core import lifecycle
from engine.core.calendar import get_calendar
from engine.core.errors import UserError
from engine.core.escalation import rebased
from engine.core.journey import Journey
from engine.core.values import check_event_name, parse_event_time, parse_fact
from engine.reconcile import reconcile_cases
from engine.store import EPOCH, AuditEntry, Case, CaseEvent, Organisation, Staff, Task


def actor() -> str:
    """Who is acting: ALONGSIDE_ACTOR (e.g. set by a wrapper), else the OS user."""
    return os.environ.get("ALONGSIDE_ACTOR") or getpass.getuser()


def audit(session: Session, now: datetime, who: str, action: str, ref: str | None, **detail: Any):
    session.add(AuditEntry(at=now, actor=who, case_ref=ref, action=action, detail=detail))


# --- staff ------------------------------------------------------------------------------


class _OrgIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    calendar: str
    timezone: str

    @field_validator("calendar")
    @classmethod
    def _calendar(cls, value: str) -> str:
        get_calendar(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from engine.core.journey import _check_timezone

        return _check_timezone(value)


class _EmailPrefs(BaseModel):
    """`emails: {tasks: digest}`: which groups of kinds a person reads in the daily digest
    only; `each` (the default) sends each message as it happens. Urgent escalations and
    calendar entries are always sent."""

    model_config = ConfigDict(extra="forbid")
    tasks: Literal["each", "digest"] = "each"  # reminders, overdue notices, date changes
    escalations: Literal["each", "digest"] = "each"  # escalations of other people's tasks


class _StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str
    name: str
    role: Literal["navigator", "team_lead", "programme_lead", "operations"]
    organisation: str
    lead: str | None = None
    emails: _EmailPrefs = _EmailPrefs()


class _StaffFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisations: list[_OrgIn] = []
    staff: list[_StaffIn] = []


def import_staff(session: Session, text: str, now: datetime, who: str) -> dict[str, int]:
    """Create or update organisations and staff from the directory YAML (idempotent)."""
    try:
        directory = _StaffFile.model_validate(yaml.safe_load(text) or {})
    except yaml.YAMLError as error:
        raise UserError(f"staff file is not valid YAML: {' '.join(str(error).split())}") from None
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"staff file: {where}: {first['msg']}") from None
    known_orgs = {o.id for o in directory.organisations} | set(
        session.exec(select(Organisation.id)).all()
    )
    emails = {s.email for s in directory.staff}
    for person in directory.staff:
        if person.organisation not in known_orgs:
            raise UserError(f"staff {person.email}: unknown organisation '{person.organisation}'")
        if person.lead and person.lead not in emails and not _staff_by_email(session, person.lead):
            raise UserError(f"staff {person.email}: unknown lead '{person.lead}'")
    for org in directory.organisations:
        session.merge(Organisation(**org.model_dump()))
    session.flush()
    for person in directory.staff:  # first without leads, so leads can be listed in any order
        row = _staff_by_email(session, person.email) or Staff(email=person.email)
        row.name, row.role, row.organisation_id = person.name, person.role, person.organisation
        row.email_prefs = person.emails.model_dump()
        session.add(row)
    session.flush()
    for person in directory.staff:
        row = _staff_by_email(session, person.email)
        row.lead_id = _staff_by_email(session, person.lead).id if person.lead else None
    audit(
        session,
        now,
        who,
        "staff.import",
        None,
        organisations=len(directory.organisations),
        staff=len(directory.staff),
    )
    return {"organisations": len(directory.organisations), "staff": len(directory.staff)}


def _staff_by_email(session: Session, email: str) -> Staff | None:
    return session.exec(select(Staff).where(Staff.email == email)).first()


def navigator(session: Session, email: str) -> Staff:
    person = _staff_by_email(session, email)
    if person is None:
        raise UserError(f"unknown navigator '{email}' (import staff first: alongside staff import)")
    if person.role != "navigator":
        raise UserError(f"{email} is a {person.role}, not a navigator")
    return person


# --- cases ------------------------------------------------------------------------------


def get_case(session: Session, ref: str, *, lock: bool = True) -> Case:
    query = select(Case).where(Case.ref == ref)
    if lock:
        query = query.with_for_update()
    case = session.exec(query).first()
    if case is None:
        raise UserError(f"unknown case '{ref}'")
    return case


def _parse_events(journey: Journey, events: dict[str, str]):
    parsed = {}
    for name, text in events.items():
        check_event_name(journey, name)
        parsed[name] = parse_event_time(text, journey.tz)
    return parsed


def _record_events(session: Session, case: Case, parsed, now: datetime, who: str) -> None:
    for name, value in parsed.items():
        session.add(
            CaseEvent(
                case_id=case.id,
                name=name,
                instant=value.instant,
                date_only=value.date_only,
                recorded_at=now,
                recorded_by=who,
            )
        )


def _replan(session: Session, catalog: Catalog, case: Case, now: datetime) -> None:
    """Mark the case changed and plan it at once, exactly as the next sweep would."""
    case.replan_at = EPOCH
    session.add(case)
    session.flush()
    reconcile_cases(session, catalog, [case.id], now)


def open_case(
    session: Session,
    catalog: Catalog,
    ref: str,
    journey_id: str,
    navigator_email: str,
    events: dict[str, str],
    facts: dict[str, str],
    now: datetime,
    who: str,
) -> Case:
    journey = catalog.resolve(journey_id)
    if session.exec(select(Case.id).where(Case.ref == ref)).first() is not None:
        raise UserError(f"case '{ref}' already exists")
    person = navigator(session, navigator_email)
    parsed = _parse_events(journey, events)
    if journey.start not in parsed:
        raise UserError(
            f"journey {journey.journey} opens with '{journey.start}': "
            f"give --event {journey.start}=DATE"
        )
    typed = {name: parse_fact(journey, name, text) for name, text in facts.items()}
    case = Case(
        ref=ref,
        journey_id=journey.journey,
        journey_version=journey.version,
        organisation_id=person.organisation_id,
        navigator_id=person.id,
        facts=typed,
        opened_at=now,
        replan_at=EPOCH,
    )
    session.add(case)
    session.flush()
    _record_events(session, case, parsed, now, who)
    audit(
        session,
        now,
        who,
        "case.open",
        ref,
        journey=journey.journey,
        navigator=navigator_email,
        events=sorted(parsed),
    )
    _replan(session, catalog, case, now)
    return case


def _open_case_for_change(session: Session, catalog: Catalog, ref: str) -> tuple[Case, Journey]:
    case = get_case(session, ref)
    if case.status != "open":
        raise UserError(f"case '{ref}' is closed")
    return case, catalog.resolve(case.journey_id)


def record_events(
    session: Session, catalog: Catalog, ref: str, events: dict[str, str], now: datetime, who: str
) -> Case:
    case, journey = _open_case_for_change(session, catalog, ref)
    if not events:
        raise UserError("give at least one NAME=WHEN")
    parsed = _parse_events(journey, events)
    _record_events(session, case, parsed, now, who)
    audit(
        session,
        now,
        who,
        "case.event",
        ref,
        **{n: v.isoformat(journey.tz) for n, v in parsed.items()},
    )
    _replan(session, catalog, case, now)
    return case


def record_facts(
    session: Session, catalog: Catalog, ref: str, facts: dict[str, str], now: datetime, who: str
) -> Case:
    case, journey = _open_case_for_change(session, catalog, ref)
    if not facts:
        raise UserError("give at least one NAME=VALUE")
    typed = {name: parse_fact(journey, name, text) for name, text in facts.items()}
    case.facts = {**case.facts, **typed}
    # Fact values are survivor data: the audit says which facts changed, not to what.
    audit(session, now, who, "case.fact", ref, facts=sorted(typed))
    _replan(session, catalog, case, now)
    return case


def assign(
    session: Session, catalog: Catalog, ref: str, navigator_email: str, now: datetime, who: str
) -> Case:
    case, _ = _open_case_for_change(session, catalog, ref)
    person = navigator(session, navigator_email)
    case.navigator_id = person.id
    case.organisation_id = person.organisation_id
    audit(session, now, who, "case.assign", ref, navigator=navigator_email)
    _replan(session, catalog, case, now)
    return case


def close_case(
    session: Session, catalog: Catalog, ref: str, reason: str, now: datetime, who: str
) -> int:
    """Close a case: its open tasks are cancelled; done and waived ones stay as they were."""
    case, _ = _open_case_for_change(session, catalog, ref)
    case.status, case.closed_reason, case.closed_at, case.replan_at = "closed", reason, now, None
    session.add(case)
    cancelled = session.execute(
        sa.update(Task)
        .where(Task.case_id == case.id, Task.status == "open")
        .values(**lifecycle.cancel(now, "case closed"))
    ).rowcount
    audit(session, now, who, "case.close", ref, reason=reason, cancelled=cancelled)
    return cancelled


# --- tasks ------------------------------------------------------------------------------


def get_task(session: Session, task_id: int) -> tuple[Task, Case]:
    task = session.exec(select(Task).where(Task.id == task_id).with_for_update()).first()
    if task is None:
        raise UserError(f"unknown task {task_id}")
    return task, session.get(Case, task.case_id)


def _close_task(
    session, catalog, task_id, status, now, who, *, at=None, note=None, reason=None
) -> Task:
    task, case = get_task(session, task_id)
    for name, value in lifecycle.close(
        task_id, task.status, status, at or now, note=note, reason=reason
    ).items():
        setattr(task, name, value)
    session.add(task)
    audit(
        session,
        now,
        who,
        f"task.{status}",
        case.ref,
        task=task_id,
        obligation=task.obligation,
        occurrence=task.occurrence,
        at=task.closed_at.isoformat(),
    )
    _replan(session, catalog, case, now)
    return task


def complete_task(
    session: Session,
    catalog: Catalog,
    task_id: int,
    at: datetime | None,
    note: str | None,
    now: datetime,
    who: str,
) -> Task:
    return _close_task(session, catalog, task_id, "done", now, who, at=at, note=note)


def waive_task(
    session: Session, catalog: Catalog, task_id: int, reason: str, now: datetime, who: str
) -> Task:
    return _close_task(session, catalog, task_id, "waived", now, who, reason=reason)


def reopen_task(session: Session, catalog: Catalog, task_id: int, now: datetime, who: str) -> Task:
    task, case = get_task(session, task_id)
    lifecycle.check_reopen(task_id, task.status)
    if case.status != "open":
        raise UserError(f"case '{case.ref}' is closed")
    journey = catalog.resolve(case.journey_id)
    _, ob = journey.obligations.get(task.obligation, (None, None))
    if ob is None:  # the obligation left the journey: the re-plan below cancels the task
        alerts = lifecycle.alert_state(0, None)
    else:
        calendar = get_calendar(journey.calendar)
        alerts = lifecycle.alert_state(*rebased(ob, task.due, calendar, journey.tz, now))
    for name, value in lifecycle.reopen(task_id, task.status, alerts).items():
        setattr(task, name, value)
    session.add(task)
    audit(session, now, who, "task.reopen", case.ref, task=task_id)
    _replan(session, catalog, case, now)
    return task
