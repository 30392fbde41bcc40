"""Investigations: open one, link survivors' cases to it, record what happens in it.

An event recorded on an investigation is recorded, in the same transaction, on every case
linked to it whose journey declares that event, and those cases are planned at once in one
batch (`service.replan`), so each survivor's "told of charge" task exists, due in that
survivor's own journey's calendar, the moment the charge is recorded. A case linked later
receives the events recorded so far. Recording the same event again (same name, same
instant) changes nothing, on the investigation or on any case.

The rules (which events exist, which count people, who may see an investigation) live in
`engine.core.investigations`. Kept out of `engine.service` so it can grow on its own; it
uses the service's case lookup (out of scope reads as unknown), its audit and its re-plan.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from engine.access import case_filter
from engine.catalog import Catalog, Journeys
from engine.core.actors import Actor
from engine.core.errors import UserError
from engine.core.investigations import can_see_investigation, check_event, on_case
from engine.core.journey import Journey
from engine.core.text import printable
from engine.core.values import EventTime, parse_event_time
from engine.service import FAR_AHEAD, add_event, audit, check_reference, get_case, replan
from engine.store import (
    Case,
    CaseEvent,
    Investigation,
    InvestigationCase,
    InvestigationEvent,
    Organisation,
)

link_t, event_t = InvestigationCase.__table__, InvestigationEvent.__table__
case_t, case_event_t = Case.__table__, CaseEvent.__table__


def _unknown(ref: str) -> UserError:
    return UserError(f"unknown investigation '{printable(ref, 40)}'")


def get_investigation(session: Session, actor: Actor, ref: str) -> Investigation:
    """The investigation `ref`, if `actor` may see it; out of scope reads as unknown."""
    found = session.exec(
        select(Investigation).where(Investigation.ref == ref).with_for_update()
    ).first()
    if found is None or not can_see_investigation(actor, found.organisation_id):
        raise _unknown(ref)
    return found


def zone_of(session: Session, organisation_id: str) -> ZoneInfo:
    """The time zone an organisation's dates are typed and shown in."""
    return ZoneInfo(_organisation(session, organisation_id).timezone)


def _organisation(session: Session, organisation_id: str) -> Organisation:
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise UserError(f"unknown organisation '{printable(organisation_id, 40)}'")
    return org


def open_investigation(
    session: Session,
    catalog: Catalog,
    ref: str,
    organisation_id: str,
    now: datetime,
    actor: Actor,
) -> Investigation:
    """Open an investigation in an organisation; its reference follows the organisation's
    reference pattern, like a case's, so an operation's name cannot be typed as one."""
    del catalog  # the use-case signature every command runs through
    org = _organisation(session, organisation_id)
    if not can_see_investigation(actor, org.id):
        raise UserError(f"unknown organisation '{printable(organisation_id, 40)}'")
    check_reference(session, org.id, ref)
    if session.exec(select(Investigation.id).where(Investigation.ref == ref)).first():
        raise UserError(f"investigation '{ref}' already exists")
    investigation = Investigation(
        ref=ref, organisation_id=org.id, opened_at=now, opened_by=actor.who
    )
    session.add(investigation)
    session.flush()
    audit(session, now, actor, "investigation.open", None, investigation=ref, organisation=org.id)
    return investigation


def linked_cases(session: Session, investigation_id: int) -> list[Case]:
    """The open cases linked to an investigation now."""
    return list(
        session.exec(
            select(Case)
            .join(InvestigationCase, InvestigationCase.case_id == Case.id)
            .where(
                InvestigationCase.investigation_id == investigation_id,
                InvestigationCase.unlinked_at.is_(None),
                Case.status == "open",
            )
            .order_by(Case.id)
        ).all()
    )


def declares(journey: Journey, name: str) -> bool:
    """Whether a journey declares an event (so a case on it receives the investigation's)."""
    return name in journey.events


def copies(
    journey: Journey, events: list[InvestigationEvent], source: ZoneInfo
) -> list[tuple[str, EventTime]]:
    """The investigation's `events` as a case on `journey` records them: those it declares,
    each at its instant (a date-only one on the same local date in the journey's zone)."""
    return [
        (e.name, on_case(EventTime(e.instant, e.date_only), source, journey.tz))
        for e in events
        if declares(journey, e.name)
    ]


def copy_events(
    session: Session,
    catalog: Catalog,
    investigation: Investigation,
    events: list[InvestigationEvent],
    cases: list[Case],
    now: datetime,
    actor: Actor,
) -> list[Case]:
    """Record `events` on each of `cases` whose journey declares them (skipping any a case
    already has at that instant), audit each case's, and return the cases that changed.

    Where a case's journey declares the event repeating, each copy is its next occurrence
    (numbered after every occurrence ever recorded on the case, as `case event` does)."""
    if not cases or not events:
        return []
    source = zone_of(session, investigation.organisation_id)
    have: set[tuple[int, str, datetime]] = set()
    highest: dict[tuple[int, str], int] = {}
    for r in session.execute(
        sa.select(
            case_event_t.c.case_id,
            case_event_t.c.name,
            case_event_t.c.instant,
            case_event_t.c.occurrence,
        ).where(
            case_event_t.c.case_id.in_([c.id for c in cases]),
            case_event_t.c.name.in_(sorted({e.name for e in events})),
        )
    ):
        have.add((r.case_id, r.name, r.instant))
        key = (r.case_id, r.name)
        highest[key] = max(highest.get(key, 0), r.occurrence or 1)
    journeys = Journeys(catalog)
    changed = []
    for case in cases:
        journey = journeys[case.journey_id]
        recorded: dict[str, str] = {}
        for name, value in copies(journey, events, source):
            if (case.id, name, value.instant) in have:
                continue
            have.add((case.id, name, value.instant))
            occurrence = None
            if name in journey.repeating:
                occurrence = highest[(case.id, name)] = highest.get((case.id, name), 0) + 1
            add_event(session, case.id, name, occurrence, value, now, actor)
            shown = name if occurrence is None else f"{name}#{occurrence}"
            recorded[shown] = value.isoformat(journey.tz)
        if recorded:
            audit(
                session,
                now,
                actor,
                "case.event",
                case.ref,
                investigation=investigation.ref,
                **recorded,
            )
            changed.append(case)
    if changed:
        replan(session, catalog, changed, now)
    return changed


def events_so_far(session: Session, investigation_id: int) -> list[InvestigationEvent]:
    """An investigation's events in the order they happened (then as recorded), so that on
    a case the latest recording of a one-off event is the latest to have happened."""
    return list(
        session.exec(
            select(InvestigationEvent)
            .where(InvestigationEvent.investigation_id == investigation_id)
            .order_by(InvestigationEvent.instant, InvestigationEvent.id)
        ).all()
    )


def link(
    session: Session,
    catalog: Catalog,
    ref: str,
    case_refs: list[str],
    now: datetime,
    actor: Actor,
) -> dict:
    """Link open cases to an investigation; each receives the events recorded so far that
    its journey declares, and is planned at once. Linking a linked case changes nothing."""
    investigation = get_investigation(session, actor, ref)
    if not case_refs:
        raise UserError("give at least one case reference")
    cases = []
    for case_ref in dict.fromkeys(case_refs):
        case = get_case(session, actor, case_ref)
        if case.status != "open":
            raise UserError(f"case '{case_ref}' is closed")
        cases.append(case)
    rows = {
        r.case_id: r
        for r in session.exec(
            select(InvestigationCase).where(
                InvestigationCase.investigation_id == investigation.id,
                InvestigationCase.case_id.in_([c.id for c in cases]),
            )
        ).all()
    }
    newly = []
    for case in cases:
        row = rows.get(case.id)
        if row is not None and row.unlinked_at is None:
            continue
        if row is None:
            row = InvestigationCase(investigation_id=investigation.id, case_id=case.id)
        row.linked_at, row.linked_by, row.unlinked_at = now, actor.who, None
        session.add(row)
        audit(session, now, actor, "investigation.link", case.ref, investigation=ref)
        newly.append(case)
    session.flush()
    copy_events(
        session, catalog, investigation, events_so_far(session, investigation.id), newly, now, actor
    )
    return {"investigation": ref, "linked": [c.ref for c in newly]}


def unlink(
    session: Session,
    catalog: Catalog,
    ref: str,
    case_refs: list[str],
    now: datetime,
    actor: Actor,
) -> dict:
    """Unlink cases: later investigation events no longer reach them. The events they
    already received stay (they happened), and the link's dates stay for the reports."""
    del catalog
    investigation = get_investigation(session, actor, ref)
    if not case_refs:
        raise UserError("give at least one case reference")
    unlinked = []
    for case_ref in dict.fromkeys(case_refs):
        case = get_case(session, actor, case_ref)
        row = session.exec(
            select(InvestigationCase).where(
                InvestigationCase.investigation_id == investigation.id,
                InvestigationCase.case_id == case.id,
                InvestigationCase.unlinked_at.is_(None),
            )
        ).first()
        if row is None:
            raise UserError(f"case '{case_ref}' is not linked to {ref}")
        row.unlinked_at = now
        session.add(row)
        audit(session, now, actor, "investigation.unlink", case.ref, investigation=ref)
        unlinked.append(case.ref)
    return {"investigation": ref, "unlinked": unlinked}


def record_event(
    session: Session,
    catalog: Catalog,
    ref: str,
    name: str,
    when: str,
    count: int | None,
    now: datetime,
    actor: Actor,
    *,
    confirm: bool = False,
) -> dict:
    """Record an investigation event, and the same event on every linked open case whose
    journey declares it, planning those cases at once; all in the caller's transaction.

    The same event again (same name and instant, same count) changes nothing; with another
    count it is refused, since the first recording may already have been reported.
    """
    investigation = get_investigation(session, actor, ref)
    check_event(name, count)
    zone = zone_of(session, investigation.organisation_id)
    value = parse_event_time(when, zone)
    if value.instant > now + FAR_AHEAD and not confirm:
        raise UserError(
            f"event {name} on {when.strip()} is more than three years ahead: "
            "check the year, and give --confirm if it is right"
        )
    shown = value.isoformat(zone)
    existing = session.exec(
        select(InvestigationEvent).where(
            InvestigationEvent.investigation_id == investigation.id,
            InvestigationEvent.name == name,
            InvestigationEvent.instant == value.instant,
        )
    ).first()
    if existing is not None:
        if existing.count != count:
            raise UserError(
                f"{name} on {shown} is already recorded on {ref} with count {existing.count}"
            )
        return {"investigation": ref, "event": name, "at": shown, "recorded": False, "cases": []}
    event = InvestigationEvent(
        investigation_id=investigation.id,
        name=name,
        instant=value.instant,
        date_only=value.date_only,
        count=count,
        recorded_at=now,
        recorded_by=actor.who,
    )
    session.add(event)
    session.flush()
    audit(
        session,
        now,
        actor,
        "investigation.event",
        None,
        investigation=ref,
        event=name,
        at=shown,
        count=count,
    )
    cases = copy_events(
        session,
        catalog,
        investigation,
        [event],
        linked_cases(session, investigation.id),
        now,
        actor,
    )
    return {
        "investigation": ref,
        "event": name,
        "at": shown,
        "recorded": True,
        "cases": [c.ref for c in cases],
    }


def view_investigation(
    session: Session, catalog: Catalog, ref: str, now: datetime, actor: Actor
) -> dict:
    """An investigation: its events (with counts) and the linked cases the actor may see,
    with how many are linked in all. The read is audited, like a case's."""
    del catalog
    investigation = get_investigation(session, actor, ref)
    zone = zone_of(session, investigation.organisation_id)
    linked = linked_cases(session, investigation.id)
    visible = {c.ref for c in _in_scope(session, actor, [c.id for c in linked])}
    audit(session, now, actor, "investigation.view", None, investigation=ref)
    return {
        "ref": investigation.ref,
        "organisation": investigation.organisation_id,
        "opened_at": investigation.opened_at.isoformat(),
        "events": [
            {
                "name": e.name,
                "at": EventTime(e.instant, e.date_only).isoformat(zone),
                "count": e.count,
            }
            for e in events_so_far(session, investigation.id)
        ],
        "linked": len(linked),
        "cases": sorted(visible),
    }


def _in_scope(session: Session, actor: Actor, ids: list[int]) -> list[sa.Row]:
    if not ids:
        return []
    return list(
        session.execute(
            sa.select(case_t.c.ref).where(case_t.c.id.in_(ids), case_filter(actor, case_t))
        )
    )


def investigations(session: Session, actor: Actor, organisation: str | None = None) -> list[dict]:
    """The investigations the actor may see: reference, organisation, linked cases and
    events so far (counts only)."""
    inv_t = Investigation.__table__
    linked = (
        sa.select(sa.func.count())
        .where(link_t.c.investigation_id == inv_t.c.id, link_t.c.unlinked_at.is_(None))
        .scalar_subquery()
    )
    events = (
        sa.select(sa.func.count()).where(event_t.c.investigation_id == inv_t.c.id).scalar_subquery()
    )
    query = sa.select(
        inv_t.c.ref, inv_t.c.organisation_id, linked.label("linked"), events.label("events")
    ).order_by(inv_t.c.ref)
    if not actor.is_admin:
        query = query.where(inv_t.c.organisation_id.in_(sorted(actor.organisations)))
    if organisation is not None:
        query = query.where(inv_t.c.organisation_id == organisation)
    return [
        {"ref": r.ref, "organisation": r.organisation_id, "linked": r.linked, "events": r.events}
        for r in session.execute(query)
    ]
