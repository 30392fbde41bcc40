"""The programme's reports: outcome measures over a period, per organisation, counts only.

Each report reads, per kind of row, one set-based query over the whole period (widened to
cover every organisation's local days) through indexed columns (`case_event` and
`investigation_event` by name and instant), then lets the pure rules of
`engine.core.reporting` decide what each row counts for, per organisation in that
organisation's own time zone. The measures are defined in `docs/reporting.md`.

Reports are for programme leads (their organisations) and programme admins. Nothing a
report returns names a case: rows carry organisation ids and counts.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from engine.batches import chunks
from engine.bulk import is_postgres
from engine.catalog import Catalog
from engine.core.actors import Actor
from engine.core.errors import UserError
from engine.core.investigations import ENGAGEMENT_EVENTS, engaged
from engine.core.reporting import (
    COUNTED_EVENTS,
    TRIAGE,
    Period,
    duty_measures,
    empty_outcomes,
    first_journey,
    gap_distribution,
    journey_at,
    rate,
    total,
)
from engine.core.text import printable
from engine.store import (
    Case,
    CaseEvent,
    CaseMove,
    Investigation,
    InvestigationCase,
    InvestigationEvent,
    Organisation,
    Task,
)

case_t, event_t, move_t = Case.__table__, CaseEvent.__table__, CaseMove.__table__
task_t = Task.__table__
inv_t, link_t, inv_event_t = (
    Investigation.__table__,
    InvestigationCase.__table__,
    InvestigationEvent.__table__,
)

Bounds = dict[str, tuple[datetime, datetime]]


def organisations(session: Session, actor: Actor, only: str | None) -> list[Organisation]:
    """The organisations a report covers: the actor's (all, for an admin), or `only`."""
    if not (actor.is_admin or "programme_lead" in actor.roles):
        raise UserError("reports are for programme leads and programme admins")
    query = sa.select(Organisation).order_by(Organisation.id)
    if not actor.is_admin:
        query = query.where(Organisation.id.in_(sorted(actor.organisations)))
    found = list(session.execute(query).scalars())
    if only is not None:
        found = [org for org in found if org.id == only]
        if not found:
            raise UserError(f"unknown organisation '{printable(only, 40)}'")
    return found


def _bounds(orgs: list[Organisation], period: Period) -> Bounds:
    return {org.id: period.bounds(ZoneInfo(org.timezone)) for org in orgs}


def _inside(bounds: Bounds, org: str, instant: datetime) -> bool:
    start, end = bounds[org]
    return start <= instant < end


def _widest(bounds: Bounds) -> tuple[datetime, datetime]:
    return min(b[0] for b in bounds.values()), max(b[1] for b in bounds.values())


def _moves(session: Session, ids: list[int]) -> dict[int, list[tuple[datetime, str, str]]]:
    """Each case's journey moves, in the order they happened."""
    found: dict[int, list[tuple[datetime, str, str]]] = defaultdict(list)
    for chunk in chunks(ids):
        rows = session.execute(
            sa.select(move_t.c.case_id, move_t.c.at, move_t.c.from_journey, move_t.c.to_journey)
            .where(move_t.c.case_id.in_(chunk))
            .order_by(move_t.c.at, move_t.c.id)
        )
        for r in rows:
            found[r.case_id].append((r.at, r.from_journey, r.to_journey))
    return found


def _start_events(catalog: Catalog) -> dict[str, str]:
    """Each installed journey's start event, by journey id."""
    found = {}
    for path in catalog.files():
        try:
            journey = catalog.resolve(str(path))
        except UserError:
            continue  # a broken file is `journeys validate`'s to report
        found[journey.journey] = journey.start
    return found


def _triage(session: Session, catalog: Catalog, bounds: Bounds, counts: dict[str, dict]) -> None:
    """`triaged` and `full_support`, per organisation (see docs/reporting.md)."""
    starts = _start_events(catalog)
    if not starts:
        return
    lo, hi = _widest(bounds)
    later = event_t.alias("later")
    rows = session.execute(
        sa.select(
            case_t.c.id,
            case_t.c.organisation_id,
            case_t.c.journey_id,
            event_t.c.name,
            event_t.c.instant,
        )
        .join(case_t, case_t.c.id == event_t.c.case_id)
        .where(
            event_t.c.name.in_(sorted(set(starts.values()))),
            event_t.c.instant >= lo,
            event_t.c.instant < hi,
            event_t.c.removed_at.is_(None),
            ~sa.exists().where(  # the latest recording of the start event is the one that counts
                later.c.case_id == event_t.c.case_id,
                later.c.name == event_t.c.name,
                later.c.id > event_t.c.id,
                later.c.removed_at.is_(None),
            ),
        )
    ).all()
    # The organisations are filtered here, not in SQL: a filter on the case's organisation
    # can lead a planner to walk every case of it instead of the period's few events.
    rows = [r for r in rows if r.organisation_id in bounds]
    rows = [r for r in rows if _inside(bounds, r.organisation_id, r.instant)]
    moves = _moves(session, [r.id for r in rows])
    for r in rows:
        history = moves.get(r.id, [])
        if starts.get(first_journey(r.journey_id, history)) != r.name:
            continue
        counts[r.organisation_id]["triaged"] += 1
        end = bounds[r.organisation_id][1]
        if journey_at(r.journey_id, history, end) != TRIAGE:
            counts[r.organisation_id]["full_support"] += 1


def _investigation_events(session: Session, bounds: Bounds, counts: dict[str, dict]) -> set[int]:
    """`investigations_supported`, `arrests`, `charged`, `convicted`, per organisation of
    the investigation; returns the investigations with any event in the period."""
    lo, hi = _widest(bounds)
    rows = session.execute(
        sa.select(
            inv_event_t.c.investigation_id,
            inv_event_t.c.name,
            inv_event_t.c.instant,
            inv_event_t.c.count,
            inv_t.c.organisation_id,
        )
        .join(inv_t, inv_t.c.id == inv_event_t.c.investigation_id)
        .where(
            inv_event_t.c.instant >= lo,
            inv_event_t.c.instant < hi,
            inv_t.c.organisation_id.in_(sorted(bounds)),
        )
    ).all()
    active: set[int] = set()
    advised: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        if not _inside(bounds, r.organisation_id, r.instant):
            continue
        active.add(r.investigation_id)
        if r.name == "strategic_advice":
            advised[r.organisation_id].add(r.investigation_id)
        elif r.name in COUNTED_EVENTS:
            counts[r.organisation_id][COUNTED_EVENTS[r.name]] += r.count or 0
    for org, ids in advised.items():
        counts[org]["investigations_supported"] = len(ids)
    return active


def _engagement(
    session: Session, bounds: Bounds, active: set[int], counts: dict[str, dict]
) -> None:
    """`engagement_linked` and `engagement_engaged`, per organisation of the case: the
    cases linked at the period's end to an investigation with an event in the period."""
    if not active:
        return
    _, hi = _widest(bounds)
    linked: dict[int, tuple[str, datetime]] = {}
    for chunk in chunks(sorted(active)):
        rows = session.execute(
            sa.select(
                case_t.c.id, case_t.c.organisation_id, link_t.c.linked_at, link_t.c.unlinked_at
            )
            .join(case_t, case_t.c.id == link_t.c.case_id)
            .where(
                link_t.c.investigation_id.in_(chunk),
                link_t.c.linked_at < hi,
            )
        )
        for r in rows:
            if r.organisation_id not in bounds:
                continue
            end = bounds[r.organisation_id][1]
            if r.linked_at < end and (r.unlinked_at is None or r.unlinked_at >= end):
                linked[r.id] = (r.organisation_id, end)
    history: dict[int, list[tuple[datetime, int, str]]] = defaultdict(list)
    for chunk in chunks(sorted(linked)):
        rows = session.execute(
            sa.select(event_t.c.case_id, event_t.c.instant, event_t.c.id, event_t.c.name).where(
                event_t.c.case_id.in_(chunk),
                event_t.c.name.in_(ENGAGEMENT_EVENTS),
                event_t.c.instant < hi,
                event_t.c.removed_at.is_(None),
            )
        )
        for r in rows:
            history[r.case_id].append((r.instant, r.id, r.name))
    for case_id, (org, end) in linked.items():
        counts[org]["engagement_linked"] += 1
        if engaged(history.get(case_id, []), end):
            counts[org]["engagement_engaged"] += 1


def outcomes(
    session: Session,
    catalog: Catalog,
    period: Period,
    actor: Actor,
    organisation: str | None = None,
) -> dict:
    """The outcomes report: the pilot's measures over `period`, in total and per
    organisation, each organisation's days in its own time zone. Counts only."""
    orgs = organisations(session, actor, organisation)
    counts = {org.id: empty_outcomes() for org in orgs}
    if orgs:
        bounds = _bounds(orgs, period)
        _triage(session, catalog, bounds, counts)
        active = _investigation_events(session, bounds, counts)
        _engagement(session, bounds, active, counts)
    for row in counts.values():
        row["engagement_rate"] = rate(row["engagement_engaged"], row["engagement_linked"])
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        **total(counts.values()),
        "organisations": [{"organisation": org, **row} for org, row in counts.items()],
    }


# --- duties ---------------------------------------------------------------------------------


def _obligations(catalog: Catalog) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each obligation id of the installed journeys: its title and its tags (the union over
    journeys sharing the id, such as `told-of-charge`)."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for path in catalog.files():
        try:
            journey = catalog.resolve(str(path))
        except UserError:
            continue
        for ob_id, (_, ob) in journey.obligations.items():
            title, tags = found.get(ob_id, (ob.title, ()))
            found[ob_id] = (title, tuple(sorted({*tags, *ob.tags})))
    return found


def _by_organisation(bounds: Bounds, side: int, column: sa.ColumnElement) -> sa.ColumnElement:
    """Each row's organisation's period start (`side` 0) or end (1), as SQL, typed as
    `column` is, so one statement can hold every organisation to its own local days."""
    return sa.case(
        {org: sa.literal(b[side], column.type) for org, b in bounds.items()},
        value=case_t.c.organisation_id,
    )


def _duty_state(now: datetime) -> sa.ColumnElement:
    """`engine.core.reporting.duty_state` as SQL (a test holds the two to the same answers)."""
    due, closed = task_t.c.due, task_t.c.closed_at
    return sa.case(
        (
            task_t.c.status == "done",
            sa.case((sa.and_(closed.is_not(None), closed <= due), "on_time"), else_="late"),
        ),
        (task_t.c.status == "waived", "waived"),
        (due < sa.literal(now, due.type), "overdue"),
        else_="open",
    )


def _due_in(bounds: Bounds) -> list[sa.ColumnElement]:
    """The tasks (not cancelled) due in their own organisation's period: through the index
    on `due` for the widest period, then each organisation's own bounds."""
    lo, hi = _widest(bounds)
    due = task_t.c.due
    return [
        due >= sa.literal(lo, due.type),
        due < sa.literal(hi, due.type),
        task_t.c.status != "cancelled",
        case_t.c.organisation_id.in_(sorted(bounds)),
        due >= _by_organisation(bounds, 0, due),
        due < _by_organisation(bounds, 1, due),
    ]


def duties(
    session: Session,
    catalog: Catalog,
    period: Period,
    now: datetime,
    actor: Actor,
    organisation: str | None = None,
) -> dict:
    """Duties: of the tasks due in the period (cancelled ones are not duties), per tag and
    per obligation, how many were done on time, done late, waived, are still open (not
    yet due) or overdue at `now`; the on-time rate and the median days late.

    Counted in the database (one grouped pass over the period's tasks); only the late
    ones' lateness comes back row by row, for the medians."""
    orgs = organisations(session, actor, organisation)
    by_obligation: dict[str, list[str]] = defaultdict(list)
    late: dict[str, list[float]] = defaultdict(list)
    if orgs:
        where = _due_in(_bounds(orgs, period))
        state = _duty_state(now).label("state")
        counted = session.execute(
            sa.select(task_t.c.obligation, state, sa.func.count().label("n"))
            .join(case_t, case_t.c.id == task_t.c.case_id)
            .where(*where)
            .group_by(task_t.c.obligation, state)
        )
        for r in counted:
            by_obligation[r.obligation] += [r.state] * r.n
        lateness = session.execute(
            sa.select(task_t.c.obligation, task_t.c.due, task_t.c.closed_at)
            .join(case_t, case_t.c.id == task_t.c.case_id)
            .where(*where, task_t.c.status == "done", task_t.c.closed_at > task_t.c.due)
        )
        for r in lateness:
            late[r.obligation].append((r.closed_at - r.due).total_seconds() / 86400)
    known = _obligations(catalog)
    tags: dict[str, list[str]] = defaultdict(list)
    tag_late: dict[str, list[float]] = defaultdict(list)
    listed = []
    for ob_id in sorted(by_obligation):
        title, ob_tags = known.get(ob_id, (ob_id, ()))
        for tag in ob_tags:
            tags[tag] += by_obligation[ob_id]
            tag_late[tag] += late[ob_id]
        listed.append(
            {
                "obligation": ob_id,
                "title": title,
                "tags": list(ob_tags),
                **duty_measures(by_obligation[ob_id], late[ob_id]),
            }
        )
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "organisations": [org.id for org in orgs],
        "tags": [{"tag": t, **duty_measures(tags[t], tag_late[t])} for t in sorted(tags)],
        "obligations": listed,
    }


# --- contact --------------------------------------------------------------------------------


def _seconds_between(
    session: Session, a: sa.ColumnElement, b: sa.ColumnElement
) -> sa.ColumnElement:
    """`b - a` in seconds, as SQL, exact to the millisecond: PostgreSQL subtracts
    timestamps; SQLite keeps instants as text, whose Julian days differ by a float that is
    rounded back to whole milliseconds. Divided by 86,400 in Python, whole seconds give
    the very float that subtracting the datetimes would."""
    if is_postgres(session):
        return sa.extract("epoch", b - a)
    return sa.func.round((sa.func.julianday(b) - sa.func.julianday(a)) * 86400.0, 3)


def _greatest(session: Session, *values: sa.ColumnElement) -> sa.ColumnElement:
    return (sa.func.greatest if is_postgres(session) else sa.func.max)(*values)


def _contact_spans(session: Session, bounds: Bounds) -> sa.Subquery:
    """Per case of these organisations: its first and last reached contact before its
    organisation's period end and the longest time in seconds between two of them, as
    one pass of the database over the done contact tasks (a window), so a national
    caseload's contacts never cross the wire."""
    end = _by_organisation(bounds, 1, task_t.c.closed_at)
    previous = sa.func.lag(task_t.c.closed_at).over(
        partition_by=task_t.c.case_id, order_by=task_t.c.closed_at
    )
    done = (
        sa.select(task_t.c.case_id, task_t.c.closed_at, previous.label("previous"))
        .join(case_t, case_t.c.id == task_t.c.case_id)
        .where(
            task_t.c.category == "contact",
            task_t.c.status == "done",
            sa.or_(task_t.c.outcome.is_(None), task_t.c.outcome != "not_reached"),
            case_t.c.organisation_id.in_(sorted(bounds)),
            task_t.c.closed_at < end,
        )
        .subquery()
    )
    return (
        sa.select(
            done.c.case_id,
            sa.func.min(done.c.closed_at).label("first"),
            sa.func.max(done.c.closed_at).label("last"),
            sa.func.max(_seconds_between(session, done.c.previous, done.c.closed_at)).label(
                "between"
            ),
        )
        .group_by(done.c.case_id)
        .subquery()
    )


def _contact_gaps(session: Session, bounds: Bounds) -> list[sa.Row]:
    """Per case open at its organisation's period end: whether its last reached contact
    was in the 14 and in the 30 days before the end, and its longest silent time in
    seconds (`engine.core.reporting.longest_gap`, as SQL: before the first contact,
    between two, after the last; with none, the whole time). One statement."""
    end = _by_organisation(bounds, 1, case_t.c.opened_at)
    spans = _contact_spans(session, bounds)

    def within(days: int) -> sa.ColumnElement:
        since = sa.case(
            {o: sa.literal(b[1] - timedelta(days=days), case_t.c.opened_at.type)
             for o, b in bounds.items()},
            value=case_t.c.organisation_id,
        )  # fmt: skip
        return sa.case((spans.c.last >= since, 1), else_=0)

    def seconds(a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement:
        return _seconds_between(session, a, b)

    opened = case_t.c.opened_at
    gap = sa.case(
        (spans.c.first.is_(None), _greatest(session, sa.literal(0.0), seconds(opened, end))),
        else_=_greatest(
            session,
            sa.literal(0.0),
            seconds(opened, spans.c.first),
            sa.func.coalesce(spans.c.between, 0.0),
            seconds(spans.c.last, end),
        ),
    )
    _, hi = _widest(bounds)
    return session.execute(
        sa.select(within(14).label("d14"), within(30).label("d30"), gap.label("gap"))
        .select_from(case_t.outerjoin(spans, spans.c.case_id == case_t.c.id))
        .where(
            case_t.c.organisation_id.in_(sorted(bounds)),
            opened < sa.literal(hi, opened.type),
            opened < end,
            sa.or_(case_t.c.closed_at.is_(None), case_t.c.closed_at >= end),
        )
    ).all()


def contact(
    session: Session,
    catalog: Catalog,
    period: Period,
    actor: Actor,
    organisation: str | None = None,
) -> dict:
    """Contact at the period's end: of the cases open then, the share with a reached
    contact (a contact task done, not `not_reached`) in the last 14 and in the last 30
    days, and the distribution of each case's longest silent gap, from its opening to the
    period's end."""
    del catalog
    orgs = organisations(session, actor, organisation)
    rows = _contact_gaps(session, _bounds(orgs, period)) if orgs else []
    gaps = [float(r.gap) / 86400 for r in rows]
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "organisations": [org.id for org in orgs],
        "open_cases": len(gaps),
        "reached_14_days": rate(sum(r.d14 for r in rows), len(gaps)),
        "reached_30_days": rate(sum(r.d30 for r in rows), len(gaps)),
        "longest_silent_gap": gap_distribution(gaps),
    }
