"""Use cases: what people and the engine do to cases, tasks and staff.

Each function is one unit of work on a session the caller opened (`store.session_scope`),
so a command either changes everything it should or nothing. Inputs are checked against
the case's journey before anything is written; every change leaves an audit entry; a change
to a case re-plans it at once (`reconcile_cases`) with the same code the sweep uses, so the
result is the same whether the next sweep or the command itself does it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, select

from engine import access, queries
from engine.addresses import AddressError, check_address
from engine.catalog import Catalog
from engine.core import lifecycle
from engine.core.actors import CASE_HOLDERS, Actor, CaseScope, can_manage_staff, can_see
from engine.core.diff import starting_alert_state
from engine.core.errors import UserError
from engine.core.journey import Journey
from engine.core.messages import HandoverPayload, Message
from engine.core.staff_file import matches_reference, parse_staff_file
from engine.core.text import printable
from engine.core.values import EventTime, parse_event_key, parse_event_time, parse_fact
from engine.counts import Counts
from engine.outbox import queue
from engine.reconcile import reconcile_cases
from engine.store import (
    EPOCH,
    AuditEntry,
    Case,
    CaseEvent,
    CaseMove,
    Organisation,
    OutboxMessage,
    Staff,
    Task,
    TaskHistory,
)

# An event this far ahead is more likely a mistyped year than a real date: it needs
# confirming (`--confirm`), since it would push every deadline counted from it out too.
FAR_AHEAD = timedelta(days=3 * 365)

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


def audit(
    session: Session, now: datetime, actor: Actor, action: str, ref: str | None, **detail: Any
):
    session.add(AuditEntry(at=now, actor=actor.who, case_ref=ref, action=action, detail=detail))


# --- staff ------------------------------------------------------------------------------


def _address_problem(address: str) -> str | None:
    """Why an address is not one plain mailbox (email-validator's words), or None."""
    try:
        check_address(address)
    except AddressError as error:
        return str(error)
    return None


def import_staff(
    session: Session, text: str, now: datetime, actor: Actor, file: str = "staff file"
) -> dict[str, Any]:
    """Create or update organisations and staff from the staff file (idempotent).

    A person no longer listed, or listed with `left:`, becomes inactive: kept for the
    record, but given no messages and unable to act. Returns the counts and, for each
    person who is inactive now, the open cases still held by them, for reassignment.
    """
    if not can_manage_staff(actor):
        raise UserError("only a programme admin can import the staff file")
    parsed = parse_staff_file(
        text,
        file,
        known_organisations=session.exec(select(Organisation.id)).all(),
        known_staff=session.exec(select(Staff.email)).all(),
        address_problem=_address_problem,
    )
    for org in parsed.organisations:
        session.merge(
            Organisation(
                id=org.id,
                name=org.name,
                calendar=org.calendar,
                timezone=org.timezone,
                reference_pattern=org.reference_pattern,
            )
        )
    session.flush()
    listed = {person.email for person in parsed.staff}
    for person in parsed.staff:  # first without leads, so leads can be listed in any order
        row = _staff_by_email(session, person.email) or Staff(email=person.email)
        row.name, row.role, row.organisation_id = person.name, person.role, person.organisation
        row.organisations = list(person.organisations)
        row.left_on = person.left
        row.active = person.left is None
        row.email_prefs = dict(person.emails)
        session.add(row)
    session.flush()
    for person in parsed.staff:
        row = _staff_by_email(session, person.email)
        row.lead_id = _staff_by_email(session, person.lead).id if person.lead else None
    for row in session.exec(select(Staff).where(Staff.email.not_in(listed))).all():
        row.active = False
        row.left_on = row.left_on or now.date()
        session.add(row)
    session.flush()
    # What was queued for a leaver before they left is not sent either.
    session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.status == "queued",
            OutboxMessage.recipient.in_(
                select(Staff.email).where(Staff.active == sa.false()).scalar_subquery()
            ),
        )
        .values(status="failed", next_attempt_at=None, last_error="recipient has left")
    )
    leavers = _leavers_with_cases(session)
    audit(
        session,
        now,
        actor,
        "staff.import",
        None,
        organisations=len(parsed.organisations),
        staff=len(parsed.staff),
        inactive=sorted(leavers),
    )
    return {
        "organisations": len(parsed.organisations),
        "staff": len(parsed.staff),
        "to_reassign": leavers,
    }


def _leavers_with_cases(session: Session) -> dict[str, list[str]]:
    """Inactive people's open cases, by email: what still needs a new navigator."""
    rows = session.exec(
        select(Staff.email, Case.ref)
        .join(Case, Case.navigator_id == Staff.id)
        .where(Staff.active == sa.false(), Case.status == "open")
        .order_by(Staff.email, Case.ref)
    ).all()
    found: dict[str, list[str]] = {}
    for email, ref in rows:
        found.setdefault(email, []).append(ref)
    return found


def _staff_by_email(session: Session, email: str) -> Staff | None:
    return session.exec(select(Staff).where(Staff.email == email)).first()


def navigator(session: Session, email: str, actor: Actor) -> Staff:
    """An active person who may hold cases (a navigator, or a team lead covering) and whom
    `actor` may give a case to; anyone else reads as unknown."""
    try:
        check_address(email)
    except AddressError as error:
        raise UserError(f"--navigator {email!r} is not a single email address: {error}") from None
    person = _staff_by_email(session, email)
    if person is None or not person.active or not can_see(actor, _scope_of(person)):
        raise UserError(f"unknown navigator '{email}' (import staff first: alongside staff import)")
    if person.role not in CASE_HOLDERS:
        raise UserError(f"{email} is a {person.role}, not a navigator or team lead")
    return person


def _scope_of(person: Staff) -> CaseScope:
    """The scope a case would have if `person` held it."""
    return CaseScope(navigator_id=person.id, organisation_id=person.organisation_id)


# --- cases ------------------------------------------------------------------------------


MAX_REFERENCE = 64  # a pseudonymous reference is short; anything longer is a mistake
MAX_TASK_ID = 2**63 - 1  # the databases' BIGINT


def _reference(ref: str) -> str:
    """A reference as a message may repeat it (one short printable line)."""
    return printable(ref, 40)


def get_case(session: Session, actor: Actor, ref: str, *, lock: bool = True) -> Case:
    """The case `ref`, if `actor` may see it; out of scope reads exactly as no such case."""
    if len(ref) > MAX_REFERENCE:  # cannot exist: say so, as for any unknown reference
        raise UserError(f"unknown case '{_reference(ref)}'")
    query = select(Case).where(Case.ref == ref)
    if lock:
        query = query.with_for_update()
    case = session.exec(query).first()
    if case is None or not can_see(actor, CaseScope(case.navigator_id, case.organisation_id)):
        raise UserError(f"unknown case '{_reference(ref)}'")
    return case


def check_reference(session: Session, organisation_id: str, ref: str) -> None:
    """Refuse a reference not in the organisation's form: a name typed as a reference
    would put survivor data in every message and log line."""
    org = session.get(Organisation, organisation_id)
    pattern = org.reference_pattern if org else r"^[A-Z]{2,6}-[0-9]{1,7}$"
    if len(ref) > MAX_REFERENCE or not matches_reference(pattern, ref):
        raise UserError(
            f"'{_reference(ref)}' is not a case reference of {organisation_id} "
            f"(expected the form {pattern})"
        )


EventInput = Mapping[str, str] | Sequence[tuple[str, str]]
Parsed = list[tuple[str, int | None, EventTime]]  # (name, occurrence named, when)


def _parse_events(journey: Journey, events: EventInput, now: datetime, confirm: bool) -> Parsed:
    """`NAME=WHEN` pairs checked against the journey: `arrest#2` names an occurrence."""
    pairs = events.items() if isinstance(events, Mapping) else events
    parsed = []
    for key, text in pairs:
        name, number = parse_event_key(journey, key)
        value = parse_event_time(text, journey.tz)
        if value.instant > now + FAR_AHEAD and not confirm:
            raise UserError(
                f"event {key} on {text.strip()} is more than three years ahead: "
                "check the year, and give --confirm if it is right"
            )
        parsed.append((name, number, value))
    return parsed


def _numbers(session: Session, case_id: int, name: str) -> tuple[set[int], int]:
    """A repeating event's recorded occurrences on a case, and the highest number ever
    given (removed ones included: a number is never given twice)."""
    rows = session.execute(
        sa.select(CaseEvent.occurrence, CaseEvent.removed_at).where(
            CaseEvent.case_id == case_id, CaseEvent.name == name
        )
    ).all()
    live = {row.occurrence or 1 for row in rows if row.removed_at is None}
    return live, max((row.occurrence or 1 for row in rows), default=0)


def add_event(
    session: Session,
    case_id: int,
    name: str,
    occurrence: int | None,
    value: EventTime,
    now: datetime,
    actor: Actor,
) -> None:
    """One recording of an event on a case, by whom and when: the one way a case event
    row is written, whether from `case event` or copied from an investigation."""
    session.add(
        CaseEvent(
            case_id=case_id,
            name=name,
            occurrence=occurrence,
            instant=value.instant,
            date_only=value.date_only,
            recorded_at=now,
            recorded_by=actor.who,
        )
    )


def _record_events(
    session: Session,
    case: Case,
    journey: Journey,
    parsed: Parsed,
    now: datetime,
    actor: Actor,
) -> dict[str, str]:
    """Write the recordings; returns each as `name` (or `name#N`) -> its value, for the
    audit. A repeating event's new recording is its next occurrence; `name#N` corrects
    occurrence N, which must be recorded."""
    numbering: dict[str, tuple[set[int], int]] = {}
    written: dict[str, str] = {}
    for name, number, value in parsed:
        occurrence = None
        if name in journey.repeating:
            if name not in numbering:
                numbering[name] = _numbers(session, case.id, name)
            live, highest = numbering[name]
            if number is None:
                occurrence = highest + 1
                numbering[name] = (live | {occurrence}, occurrence)
            elif number in live:
                occurrence = number
            else:
                shown = ", ".join(f"{name}#{n}" for n in sorted(live)) or "none"
                raise UserError(
                    f"{name}#{number} is not recorded on {case.ref} (recorded: {shown}); "
                    f"record a new occurrence as {name}=WHEN"
                )
        add_event(session, case.id, name, occurrence, value, now, actor)
        written[name if occurrence is None else f"{name}#{occurrence}"] = value.isoformat(
            journey.tz
        )
    return written


def _replan(session: Session, catalog: Catalog, case: Case, now: datetime) -> None:
    """Mark the case changed and plan it at once, exactly as the next sweep would."""
    replan(session, catalog, [case], now)


def replan(session: Session, catalog: Catalog, cases: list[Case], now: datetime) -> Counts:
    """Mark cases changed and plan them at once, in one batch, exactly as the next sweep
    would; a case that cannot be planned is one line and, the caller's transaction being
    rolled back, no change."""
    for case in cases:
        case.replan_at = EPOCH
        session.add(case)
    session.flush()
    counts = reconcile_cases(session, catalog, [case.id for case in cases], now)
    if counts.errors:  # the sweep would retry it; a person gets the reason, and no change
        raise UserError(f"cannot plan case {counts.errors[0]}")
    return counts


def open_case(
    session: Session,
    catalog: Catalog,
    ref: str,
    journey_id: str,
    navigator_email: str,
    events: dict[str, str],
    facts: dict[str, str],
    now: datetime,
    actor: Actor,
    *,
    confirm: bool = False,
) -> Case:
    journey = catalog.resolve(journey_id)
    person = navigator(session, navigator_email, actor)
    check_reference(session, person.organisation_id, ref)
    if session.exec(select(Case.id).where(Case.ref == ref)).first() is not None:
        raise UserError(f"case '{ref}' already exists")
    parsed = _parse_events(journey, events, now, confirm)
    if journey.start not in {name for name, _, _ in parsed}:
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
    recorded = _record_events(session, case, journey, parsed, now, actor)
    audit(
        session,
        now,
        actor,
        "case.open",
        ref,
        journey=journey.journey,
        navigator=navigator_email,
        events=sorted(recorded),
    )
    _replan(session, catalog, case, now)
    return case


def _open_case_for_change(
    session: Session, catalog: Catalog, actor: Actor, ref: str
) -> tuple[Case, Journey]:
    case = get_case(session, actor, ref)
    if case.status != "open":
        raise UserError(f"case '{ref}' is closed")
    return case, catalog.resolve(case.journey_id)


def record_events(
    session: Session,
    catalog: Catalog,
    ref: str,
    events: EventInput,
    now: datetime,
    actor: Actor,
    *,
    confirm: bool = False,
) -> Case:
    """Record events: `NAME=WHEN` for each; a repeating event's recording adds an
    occurrence, `NAME#N=WHEN` corrects occurrence N."""
    case, journey = _open_case_for_change(session, catalog, actor, ref)
    if not events:
        raise UserError("give at least one NAME=WHEN")
    parsed = _parse_events(journey, events, now, confirm)
    recorded = _record_events(session, case, journey, parsed, now, actor)
    audit(session, now, actor, "case.event", ref, **recorded)
    _replan(session, catalog, case, now)
    return case


def remove_event(
    session: Session,
    catalog: Catalog,
    ref: str,
    name: str,
    reason: str,
    now: datetime,
    actor: Actor,
) -> Case:
    """Take back an event recorded in error: every recording of a one-off event, or one
    occurrence (`arrest#2`) of a repeating one. The case re-plans as if it had never been
    recorded; the rows stay, marked removed, for the history. The start event cannot go:
    the case would have none."""
    case, journey = _open_case_for_change(session, catalog, actor, ref)
    _need_reason(reason, "removing an event")
    event, number = parse_event_key(journey, name)
    if event == journey.start:
        raise UserError(f"'{event}' opens the case and cannot be removed")
    which = [CaseEvent.case_id == case.id, CaseEvent.name == event, CaseEvent.removed_at.is_(None)]
    if event in journey.repeating:
        if number is None:
            live, _ = _numbers(session, case.id, event)
            shown = ", ".join(f"{event}#{n}" for n in sorted(live)) or "none"
            raise UserError(
                f"{event} repeats: name the occurrence to remove, such as --remove {event}#1 "
                f"(recorded: {shown})"
            )
        which.append(sa.func.coalesce(CaseEvent.occurrence, 1) == number)
    removed = session.execute(sa.update(CaseEvent).where(*which).values(removed_at=now)).rowcount
    if not removed:
        raise UserError(f"event {name} is not recorded on {ref}")
    audit(session, now, actor, "case.event.remove", ref, event=name, reason=reason)
    _replan(session, catalog, case, now)
    return case


def record_facts(
    session: Session,
    catalog: Catalog,
    ref: str,
    facts: dict[str, str],
    now: datetime,
    actor: Actor,
) -> Case:
    case, journey = _open_case_for_change(session, catalog, actor, ref)
    if not facts:
        raise UserError("give at least one NAME=VALUE")
    typed = {name: parse_fact(journey, name, text) for name, text in facts.items()}
    case.facts = {**case.facts, **typed}
    # Fact values are survivor data: the audit says which facts changed, not to what.
    audit(session, now, actor, "case.fact", ref, facts=sorted(typed))
    _replan(session, catalog, case, now)
    return case


def unset_facts(
    session: Session,
    catalog: Catalog,
    ref: str,
    names: list[str],
    now: datetime,
    actor: Actor,
) -> Case:
    """Forget facts (back to the journey's default, or unknown)."""
    case, journey = _open_case_for_change(session, catalog, actor, ref)
    if not names:
        raise UserError("give at least one fact NAME")
    for name in names:
        if name not in journey.facts:
            known = ", ".join(sorted(journey.facts)) or "none"
            raise UserError(f"unknown fact '{name}' (declared facts: {known})")
        if name not in case.facts:
            raise UserError(f"fact {name} is not set on {ref}")
    case.facts = {k: v for k, v in case.facts.items() if k not in names}
    audit(session, now, actor, "case.fact.unset", ref, facts=sorted(names))
    _replan(session, catalog, case, now)
    return case


def _need_reason(reason: str | None, doing: str) -> None:
    if not (reason or "").strip():
        raise UserError(f"give a reason for {doing} (--reason TEXT)")


def assign(
    session: Session,
    catalog: Catalog,
    refs: list[str],
    navigator_email: str,
    reason: str,
    now: datetime,
    actor: Actor,
    *,
    from_email: str | None = None,
) -> list[str]:
    """Give cases to another navigator (or to a team lead, to cover them).

    `refs`, or with `from_email` every open case that person holds (a leaver's). Queues one
    handover notice to the new navigator and one to each previous navigator still active.
    Returns the references moved.
    """
    _need_reason(reason, "reassigning")
    if from_email is not None:
        if refs:
            raise UserError("give case references or --from, not both")
        refs = _held_by(session, actor, from_email)
    if not refs:
        raise UserError("give at least one case reference (or --from EMAIL)")
    cases = [_open_case_for_change(session, catalog, actor, r)[0] for r in dict.fromkeys(refs)]
    person = navigator(session, navigator_email, actor)
    moved: dict[int, list[Case]] = {}
    for case in cases:
        if case.navigator_id == person.id:
            raise UserError(f"{case.ref} is already with {navigator_email}")
        moved.setdefault(case.navigator_id, []).append(case)
    for previous_id, held in moved.items():
        previous = session.get(Staff, previous_id)
        for case in held:
            case.navigator_id = person.id
            case.organisation_id = person.organisation_id
            audit(
                session,
                now,
                actor,
                "case.assign",
                case.ref,
                navigator=navigator_email,
                previous=previous.email,
                reason=reason,
            )
            _replan(session, catalog, case, now)
    _queue_handovers(session, person, moved, now)
    return [case.ref for cases in moved.values() for case in cases]


def _held_by(session: Session, actor: Actor, email: str) -> list[str]:
    """The open cases `email` holds that `actor` may see; an unknown person holds none."""
    person = _staff_by_email(session, email)
    if person is None:
        raise UserError(f"unknown navigator '{email}' (import staff first: alongside staff import)")
    cases = session.exec(
        select(Case).where(Case.navigator_id == person.id, Case.status == "open").order_by(Case.ref)
    ).all()
    return [c.ref for c in cases if can_see(actor, CaseScope(c.navigator_id, c.organisation_id))]


def _queue_handovers(
    session: Session, person: Staff, moved: dict[int, list[Case]], now: datetime
) -> None:
    """One notice to the new holder for every case they take on, and one to each previous
    holder still active for the cases they hand over."""

    def notice(direction: Literal["to", "from"], to: str, cases: list[Case], other: str) -> Message:
        refs = [c.ref for c in cases]
        open_tasks = session.exec(
            select(sa.func.count()).where(
                Task.case_id.in_([c.id for c in cases]), Task.status == "open"
            )
        ).one()
        return Message(
            f"handover:{direction}:{to}:{now.isoformat()}:{','.join(refs)}",
            "handover",
            to,
            refs[0] if len(refs) == 1 else None,
            HandoverPayload(direction=direction, cases=refs, other=other, open_tasks=open_tasks),
        )

    previous = {i: session.get(Staff, i) for i in moved}
    every = [case for cases in moved.values() for case in cases]
    others = ", ".join(sorted(p.email for p in previous.values()))
    messages = [notice("to", person.email, every, others)]
    messages += [
        notice("from", previous[i].email, cases, person.email)
        for i, cases in moved.items()
        if previous[i].active
    ]
    queue(session, messages, now)


def rename_case(
    session: Session,
    catalog: Catalog,
    old: str,
    new: str,
    reason: str,
    now: datetime,
    actor: Actor,
) -> Case:
    """Correct a case reference everywhere it is kept.

    Earlier audit entries and messages are re-keyed to the new reference and the rename's
    own entry does not repeat the old one: a reference is corrected because it was wrong,
    often because it was a name, so the old text must not survive the correction.
    """
    _need_reason(reason, "renaming a case")
    case = get_case(session, actor, old)
    check_reference(session, case.organisation_id, new)
    if session.exec(select(Case.id).where(Case.ref == new)).first() is not None:
        raise UserError(f"case '{new}' already exists")
    case.ref = new
    session.add(case)
    session.execute(sa.update(AuditEntry).where(AuditEntry.case_ref == old).values(case_ref=new))
    session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.case_ref == old).values(case_ref=new)
    )
    audit(session, now, actor, "case.rename", new, reason=reason)
    return case


def move_case(
    session: Session,
    catalog: Catalog,
    ref: str,
    journey_id: str,
    reason: str,
    now: datetime,
    actor: Actor,
) -> dict[str, Any]:
    """Move a case to another journey (triage to a pathway, a child turning 18, a survivor
    who declined the NRM consenting), keeping its events and its done and waived work.

    The case is planned at once on the new journey: open tasks of obligations it shares
    are kept (re-dated if its deadline differs), those the new journey does not plan are
    cancelled, both in the re-plan's audit entry. Facts the new journey does not declare,
    or whose value it does not accept (an age of 17 on an adult journey), are dropped and
    named. The move is kept (`CaseMove`), so the reports know the journey at any instant.
    """
    _need_reason(reason, "moving a case")
    case, old = _open_case_for_change(session, catalog, actor, ref)
    new = catalog.resolve(journey_id)
    if new.journey == old.journey:
        raise UserError(f"case '{ref}' is already on {new.journey}")
    started = session.exec(
        select(CaseEvent.id).where(CaseEvent.case_id == case.id, CaseEvent.name == new.start)
    ).first()
    if started is None:
        raise UserError(
            f"journey {new.journey} opens with '{new.start}', not recorded on {ref}: "
            "record it first"
        )
    kept = {name: value for name, value in case.facts.items() if _fits(new, name, value)}
    dropped = sorted(set(case.facts) - set(kept))
    case.journey_id, case.facts = new.journey, kept
    session.add(
        CaseMove(
            case_id=case.id, from_journey=old.journey, to_journey=new.journey, at=now, by=actor.who
        )
    )
    audit(
        session,
        now,
        actor,
        "case.move",
        ref,
        journey=new.journey,
        previous=old.journey,
        reason=reason,
        facts_dropped=dropped,
    )
    counts = replan(session, catalog, [case], now)
    return {
        "case": ref,
        "journey": new.journey,
        "previous": old.journey,
        "cancelled": counts.cancelled,
        "facts_dropped": dropped,
    }


def _fits(journey: Journey, name: str, value: object) -> bool:
    """Whether a stored fact value is one `journey` declares and accepts."""
    fact = journey.facts.get(name)
    if fact is None:
        return False
    try:
        fact.check(value)
    except ValueError:
        return False
    return True


def close_case(
    session: Session, catalog: Catalog, ref: str, reason: str, now: datetime, actor: Actor
) -> int:
    """Close a case: its open tasks are cancelled; done and waived ones stay as they were."""
    case, _ = _open_case_for_change(session, catalog, actor, ref)
    _need_reason(reason, "closing a case")
    free_text(reason, "the close reason")
    case.status, case.closed_reason, case.closed_at, case.replan_at = "closed", reason, now, None
    session.add(case)
    cancelled = session.execute(
        sa.update(Task)
        .where(Task.case_id == case.id, Task.status == "open")
        .values(**lifecycle.cancel(now, "case closed"))
    ).rowcount
    # The reason is free text: it stays on the case, out of the audit log (like facts).
    audit(session, now, actor, "case.close", ref, cancelled=cancelled)
    return cancelled


def view_case(session: Session, catalog: Catalog, ref: str, now: datetime, actor: Actor) -> dict:
    """One case's detail, for a person to read; the read is audited, as the data is
    special category (who looked at which case, when)."""
    detail = queries.case_detail(session, actor, ref, catalog)
    audit(session, now, actor, "case.view", ref)
    return detail


# --- tasks ------------------------------------------------------------------------------


def get_task(session: Session, actor: Actor, task_id: int) -> tuple[Task, Case]:
    """The task and its case, if `actor` may see the case; else exactly "unknown task"."""
    if not 1 <= task_id <= MAX_TASK_ID:  # no such id can exist; the database would overflow
        raise UserError(f"unknown task {task_id}")
    task = session.exec(select(Task).where(Task.id == task_id).with_for_update()).first()
    case = session.get(Case, task.case_id) if task is not None else None
    if case is None or not can_see(actor, CaseScope(case.navigator_id, case.organisation_id)):
        raise UserError(f"unknown task {task_id}")
    return task, case


def view_task(
    session: Session, catalog: Catalog, task_id: int, now: datetime, actor: Actor
) -> dict:
    """One task's detail with its notes and reasons (case data), and the guidance its
    journey gives for it: audited like a case view."""
    detail = queries.task_detail(session, actor, task_id)
    audit(session, now, actor, "task.view", detail["case"], task=task_id)
    return {**detail, "guidance": _guidance(catalog, detail["journey"], detail["obligation"])}


def _guidance(catalog: Catalog, journey_id: str, obligation: str) -> str | None:
    """The obligation's `description`, on one line; None if it has none or has left."""
    try:
        _, ob = catalog.resolve(journey_id).obligations[obligation]
    except (UserError, KeyError):
        return None
    return " ".join(ob.description.split()) if ob.description else None


def counted_from(session: Session, catalog: Catalog, actor: Actor, task_id: int) -> datetime | None:
    """The earliest instant task `task_id` can have been done (see `_counted_from`)."""
    task, case = get_task(session, actor, task_id)
    return _counted_from(session, catalog, case, task)


def _counted_from(session: Session, catalog: Catalog, case: Case, task: Task) -> datetime | None:
    """The instant of the event the task's deadline counts forward from, if it does: its
    `due` when that is `N after EVENT`, or for a recurring task its stage's start (`EVENT` or
    `N after EVENT`). Nothing can have been done for it before then. A deadline counted back
    from an event (`10 working days before trial`), or an event itself, sets no such bound:
    that work is done before the event."""
    try:
        journey = catalog.resolve(case.journey_id)
        stage, ob = journey.obligations[task.obligation]
    except (UserError, KeyError):
        return None
    if ob.due is not None:
        anchor = ob.due if ob.due.offset is not None and ob.due.sign > 0 else None
    else:
        start = journey.stage_start(stage)
        anchor = start if start.offset is None or start.sign > 0 else None
    if anchor is None:
        return None
    query = select(CaseEvent.instant).where(
        CaseEvent.case_id == case.id,
        CaseEvent.name.in_(anchor.events),
        CaseEvent.removed_at.is_(None),
    )
    if anchor.pick is not None:  # counted from one of them: the earliest bounds it
        return session.exec(query.order_by(CaseEvent.instant)).first()
    if anchor.event in journey.repeating:
        if ob.due is None:  # an episode's task: its episode began at one of them at least
            return session.exec(query.order_by(CaseEvent.instant)).first()
        query = query.where(sa.func.coalesce(CaseEvent.occurrence, 1) == task.occurrence)
    return session.exec(query.order_by(CaseEvent.id.desc())).first()


def _close_task(
    session: Session,
    catalog: Catalog,
    actor: Actor,
    task_id: int,
    status: lifecycle.TaskStatus,
    now: datetime,
    *,
    at: datetime | None = None,
    note: str | None = None,
    reason: str | None = None,
    outcome: str | None = None,
) -> Task:
    task, case = get_task(session, actor, task_id)
    when = at or now
    if at is not None:
        if at > now:
            raise UserError(f"--at {at.isoformat()} is in the future: give when it was done")
        start = _counted_from(session, catalog, case, task)
        if start is not None and at < start:
            raise UserError(
                f"--at {at.isoformat()} is before the event task {task_id} counts from "
                f"({start.isoformat()})"
            )
    closing = lifecycle.close(
        task_id,
        task.status,
        status,
        when,
        note=note,
        reason=reason,
        category=task.category,
        outcome=outcome,
    )
    for name, value in closing.items():
        setattr(task, name, value)
    session.add(task)
    session.add(
        TaskHistory(
            task_id=task_id,
            action=status,
            at=when,
            recorded_at=now,
            by=actor.who,
            note=note,
            reason=reason,
            outcome=task.outcome,
        )
    )
    extra = {"outcome": task.outcome} if task.outcome else {}
    audit(
        session,
        now,
        actor,
        f"task.{status}",
        case.ref,
        task=task_id,
        obligation=task.obligation,
        occurrence=task.occurrence,
        at=task.closed_at.isoformat(),
        **extra,
    )
    _contact_changed(session, case, task)
    _replan(session, catalog, case, now)
    return task


def complete_task(
    session: Session,
    catalog: Catalog,
    task_id: int,
    at: datetime | None,
    note: str | None,
    now: datetime,
    actor: Actor,
    *,
    outcome: str | None = None,
) -> Task:
    """Mark a task done; a contact task `reached` unless `outcome` is `not_reached`."""
    note = free_text(note, "the note")
    return _close_task(
        session, catalog, actor, task_id, "done", now, at=at, note=note, outcome=outcome
    )


def waive_task(
    session: Session, catalog: Catalog, task_id: int, reason: str, now: datetime, actor: Actor
) -> Task:
    free_text(reason, "the waive reason")
    return _close_task(session, catalog, actor, task_id, "waived", now, reason=reason)


def reopen_task(
    session: Session, catalog: Catalog, task_id: int, now: datetime, actor: Actor
) -> Task:
    """Reopen a done or waived task; who closed it, when and why stays in its history."""
    task, case = get_task(session, actor, task_id)
    lifecycle.check_reopen(task_id, task.status)
    if case.status != "open":
        raise UserError(f"case '{case.ref}' is closed")
    journey = catalog.resolve(case.journey_id)
    # An obligation that left the journey has no alerts; the re-plan below cancels its task.
    alerts = starting_alert_state(journey, task.obligation, task.due, now)
    for name, value in lifecycle.reopen(task_id, task.status, alerts).items():
        setattr(task, name, value)
    session.add(task)
    session.add(
        TaskHistory(task_id=task_id, action="reopened", at=now, recorded_at=now, by=actor.who)
    )
    audit(session, now, actor, "task.reopen", case.ref, task=task_id)
    _contact_changed(session, case, task)
    _replan(session, catalog, case, now)
    return task


def _contact_changed(session: Session, case: Case, task: Task) -> None:
    """After a task closed or reopened, the case's `last_contact_at`, read back from its
    tasks when the task was a contact: a done-at may be backdated behind an earlier
    contact, and a reopened contact may have been the latest, so it is worked out again
    rather than moved by the one task."""
    if task.category != "contact":
        return
    session.flush()
    case.last_contact_at = session.execute(sa.select(queries.last_contact(case.id))).scalar()
    session.add(case)


def resolve_actor(session: Session, who: str | None) -> Actor:
    """The acting person for an entry point: `who` an email, or None for the operator."""
    return access.resolve(session, who)
