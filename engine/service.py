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

from engine.addresses import AddressError, check_address
from engine.catalog import Catalog
from engine.core import lifecycle
from engine.core.calendar import get_calendar
from engine.core.errors import UserError
from engine.core.escalation import rebased
from engine.core.journey import Journey
from engine.core.text import printable
from engine.core.values import check_event_name, parse_event_time, parse_fact
from engine.reconcile import reconcile_cases
from engine.store import EPOCH, AuditEntry, Case, CaseEvent, Organisation, Staff, Task

MAX_FREE_TEXT = 2000  # characters in a note or a waive or close reason


def free_text(value: str | None, what: str) -> str | None:
    """A note or reason as given, if it is within `MAX_FREE_TEXT`; else a `UserError`.

    Free text is the one place a survivor's name or address could be typed into the
    engine. It is stored and shown only with the case (`case show`, `task show`), never in
    an email, a log line, an audit entry or Prefect; the cap keeps it a note, not a file.
    """
    if value is not None and len(value) > MAX_FREE_TEXT:
        raise UserError(
            f"{what} is {len(value):,} characters long; at most {MAX_FREE_TEXT:,} are kept"
        )
    return value


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
        from engine.core.journey import check_timezone

        return check_timezone(value)


class _StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str
    name: str
    role: Literal["navigator", "team_lead", "programme_lead", "operations"]
    organisation: str
    lead: str | None = None

    @field_validator("email", "lead")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        # A staff address becomes a To: header and an SMTP recipient: one plain address.
        return None if value is None else check_address(value)


class _StaffFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisations: list[_OrgIn] = []
    staff: list[_StaffIn] = []


YamlPath = tuple[str | int, ...]


def _yaml_with_lines(text: str) -> tuple[Any, dict[YamlPath, int]]:
    """The staff file's data, and the line of every value in it by its path.

    PyYAML's nodes carry marks; the path of a value is what pydantic reports as an error's
    `loc` (`("staff", 2, "email")`), so each problem can name the file's line.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: dict[YamlPath, int] = {}

    def walk(current: yaml.Node, path: YamlPath) -> None:
        lines[path] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    walk(value, (*path, key.value))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*path, index))

    if node is not None:
        walk(node, ())
    return data, lines


def _line_of(lines: dict[YamlPath, int], path: YamlPath) -> int | None:
    """The line of `path`, or of its nearest ancestor present (a missing key's entry)."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _staff_problem(lines: dict[YamlPath, int], path: YamlPath, message: str) -> UserError:
    """`message`, ending with the staff file's line where the problem is."""
    line = _line_of(lines, path)
    return UserError(f"{message} (staff file line {line})" if line else message)


def import_staff(session: Session, text: str, now: datetime, who: str) -> dict[str, int]:
    """Create or update organisations and staff from the directory YAML (idempotent).

    Nothing is written unless the whole file is good; the first problem is reported with
    its line, as one line.
    """
    try:
        data, lines = _yaml_with_lines(text)
    except yaml.YAMLError as error:
        raise UserError(f"staff file is not valid YAML: {' '.join(str(error).split())}") from None
    try:
        directory = _StaffFile.model_validate(data or {})
    except ValidationError as error:
        problems = error.errors(include_url=False)
        first = problems[0]
        path = tuple(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        if not path:
            raise UserError("staff file: expected organisations: and staff: at the top") from None
        where = ".".join(str(part) for part in path)
        raise _staff_problem(lines, path, f"staff file: {where}: {message}{more}") from None
    known_orgs = {o.id for o in directory.organisations} | set(
        session.exec(select(Organisation.id)).all()
    )
    emails: dict[str, int] = {}
    for index, person in enumerate(directory.staff):
        if person.email in emails:
            raise _staff_problem(
                lines,
                ("staff", index, "email"),
                f"staff {person.email}: listed twice (also staff.{emails[person.email]})",
            )
        emails[person.email] = index
    for index, person in enumerate(directory.staff):
        if person.organisation not in known_orgs:
            raise _staff_problem(
                lines,
                ("staff", index, "organisation"),
                f"staff {person.email}: unknown organisation '{person.organisation}'",
            )
        if person.lead and person.lead not in emails and not _staff_by_email(session, person.lead):
            message = f"staff {person.email}: unknown lead '{person.lead}'"
            raise _staff_problem(lines, ("staff", index, "lead"), message)
    for org in directory.organisations:
        session.merge(Organisation(**org.model_dump()))
    session.flush()
    for person in directory.staff:  # first without leads, so leads can be listed in any order
        row = _staff_by_email(session, person.email) or Staff(email=person.email)
        row.name, row.role, row.organisation_id = person.name, person.role, person.organisation
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
    try:
        check_address(email)
    except AddressError as error:
        raise UserError(f"--navigator {email!r} is not a single email address: {error}") from None
    person = _staff_by_email(session, email)
    if person is None:
        raise UserError(f"unknown navigator '{email}' (import staff first: alongside staff import)")
    if person.role != "navigator":
        raise UserError(f"{email} is a {person.role}, not a navigator")
    return person


# --- cases ------------------------------------------------------------------------------


MAX_REFERENCE = 64  # a pseudonymous reference is short; anything longer is a mistake
MAX_TASK_ID = 2**63 - 1  # the databases' BIGINT


def _reference(ref: str) -> str:
    """A reference as a message may repeat it (one short printable line)."""
    return printable(ref, 40)


def get_case(session: Session, ref: str, *, lock: bool = True) -> Case:
    if len(ref) > MAX_REFERENCE:  # cannot exist: say so, as for any unknown reference
        raise UserError(f"unknown case '{_reference(ref)}'")
    query = select(Case).where(Case.ref == ref)
    if lock:
        query = query.with_for_update()
    case = session.exec(query).first()
    if case is None:
        raise UserError(f"unknown case '{_reference(ref)}'")
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
    counts = reconcile_cases(session, catalog, [case.id], now)
    if counts.errors:  # the sweep would retry it; a person gets the reason, and no change
        raise UserError(f"cannot plan case {counts.errors[0]}")


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
    if len(ref) > MAX_REFERENCE or not ref.isprintable() or not ref.strip():
        raise UserError(
            f"'{_reference(ref)}' cannot be a case reference: "
            f"give a short pseudonymous reference such as KNT-0042 (at most {MAX_REFERENCE})"
        )
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
    try:
        # In a savepoint, so that after losing a race the transaction can still say why.
        with session.begin_nested():
            session.add(case)
    except sa.exc.IntegrityError:
        # Another `case open` of the same reference committed between the check above and
        # this insert (PostgreSQL's unique index waits for it, then refuses). The error's
        # text holds the facts as JSON: only the domain message leaves here.
        if session.exec(select(Case.id).where(Case.ref == ref)).first() is not None:
            raise UserError(f"case '{ref}' already exists") from None
        raise UserError(f"case '{ref}' could not be opened (a conflicting change)") from None
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
    free_text(reason, "the close reason")
    case, _ = _open_case_for_change(session, catalog, ref)
    case.status, case.closed_reason, case.closed_at, case.replan_at = "closed", reason, now, None
    session.add(case)
    cancelled = session.execute(
        sa.update(Task)
        .where(Task.case_id == case.id, Task.status == "open")
        .values(**lifecycle.cancel(now, "case closed"))
    ).rowcount
    # The reason is free text: it stays on the case, out of the audit log (like facts).
    audit(session, now, who, "case.close", ref, cancelled=cancelled)
    return cancelled


# --- tasks ------------------------------------------------------------------------------


def get_task(session: Session, task_id: int) -> tuple[Task, Case]:
    if not 1 <= task_id <= MAX_TASK_ID:  # no such id can exist; the database would overflow
        raise UserError(f"unknown task {task_id}")
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
    note = free_text(note, "the note")
    return _close_task(session, catalog, task_id, "done", now, who, at=at, note=note)


def waive_task(
    session: Session, catalog: Catalog, task_id: int, reason: str, now: datetime, who: str
) -> Task:
    free_text(reason, "the waive reason")
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
