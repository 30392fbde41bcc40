"""Spreadsheet import: cases, and investigation events, from CSV files; all or nothing.

Programmes start from spreadsheets. Every row is checked against the same rules as the
commands (reference patterns, journeys' declared events and facts, navigators in the
actor's scope, investigation events and their counts) before anything is written, and every
problem in the file is reported at once as `FILE:ROW: message`: a file with any problem
imports nothing. A valid file imports in the caller's one transaction; the cases are
planned in batches with the sweep's own code (`reconcile_cases`), reporting progress.

A cell left empty records nothing, so a column naming an event or fact a row's journey
does not declare is a problem only where that row's cell is filled.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from engine import investigations as inv
from engine.bulk import insert_rows
from engine.catalog import Catalog, Journeys
from engine.core.actors import Actor
from engine.core.errors import UserError
from engine.core.investigations import can_see_investigation, check_event
from engine.core.journey import Journey
from engine.core.values import EventTime, parse_event_time, parse_fact
from engine.reconcile import reconcile_cases
from engine.service import FAR_AHEAD, audit, check_reference, navigator
from engine.store import (
    EPOCH,
    AuditEntry,
    Case,
    CaseEvent,
    Investigation,
    InvestigationCase,
    InvestigationEvent,
    Organisation,
    Staff,
)

event_t = InvestigationEvent.__table__
BATCH = 500  # cases planned per batch, as the sweep plans them
CASE_COLUMNS = ("reference", "journey", "navigator")
EVENT_COLUMNS = ("investigation", "organisation", "event", "at", "count")
MAX_ROWS = 200_000  # a spreadsheet larger than any programme's caseload is a mistake

Progress = Callable[[int, int], None]  # (cases planned so far, cases in all)


class ImportProblems(UserError):
    """Every problem in a file, one `FILE:ROW: message` line each."""


@dataclass
class _Rows:
    """A CSV file's header and rows, with each row's number in the file (header: 1)."""

    header: list[str]
    rows: list[tuple[int, dict[str, str]]]


def _read(text: str, file: str, required: tuple[str, ...], known: Callable[[str], bool]) -> _Rows:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise ImportProblems(f"{file}:1: the file is empty: expected a header row") from None
    except csv.Error as error:
        raise ImportProblems(f"{file}:1: not a CSV file ({error})") from None
    problems = [f"{file}:1: missing column '{c}'" for c in required if c not in header]
    problems += [f"{file}:1: unknown column '{name[:40]}'" for name in header if not known(name)]
    problems += [
        f"{file}:1: column '{name[:40]}' appears twice"
        for i, name in enumerate(header)
        if name in header[:i]
    ]
    if problems:
        raise ImportProblems("\n".join(problems))
    rows = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line a spreadsheet left at the end
            if len(cells) != len(header):
                rows.append((reader.line_num, {"": f"{len(cells)} cells, expected {len(header)}"}))
                continue
            rows.append(
                (reader.line_num, {h: c.strip() for h, c in zip(header, cells, strict=True)})
            )
            if len(rows) > MAX_ROWS:
                raise ImportProblems(f"{file}:{reader.line_num}: more than {MAX_ROWS:,} rows")
    except csv.Error as error:
        raise ImportProblems(f"{file}:{reader.line_num}: not a CSV file ({error})") from None
    if not rows:
        raise ImportProblems(f"{file}:2: no rows below the header")
    return _Rows(header, rows)


def _case_column(name: str) -> bool:
    kind, _, rest = name.partition(":")
    return name in (*CASE_COLUMNS, "investigation") or (kind in ("event", "fact") and bool(rest))


@dataclass
class _NewCase:
    ref: str
    journey: Journey
    person: Staff
    events: list[tuple[str, EventTime]] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    investigation: Investigation | None = None


class _Checker:
    """Checks case rows against the store and the journeys, remembering what it looked up."""

    def __init__(self, session: Session, catalog: Catalog, actor: Actor, now: datetime) -> None:
        self.session, self.actor, self.now = session, actor, now
        self.journeys = Journeys(catalog)
        self.people: dict[str, Staff | UserError] = {}
        self.investigations: dict[str, Investigation | UserError] = {}

    def person(self, email: str) -> Staff:
        if email not in self.people:
            try:
                self.people[email] = navigator(self.session, email, self.actor)
            except UserError as error:
                self.people[email] = error
        return _or_raise(self.people[email])

    def investigation(self, ref: str) -> Investigation:
        if ref not in self.investigations:
            try:
                found = inv.get_investigation(self.session, self.actor, ref)
                self.investigations[ref] = found
            except UserError as error:
                self.investigations[ref] = error
        return _or_raise(self.investigations[ref])

    def row(self, cells: dict[str, str], problems: list[str]) -> _NewCase | None:
        """One row as a case to open, or None with its problems added to `problems`."""

        def attempt(check: Callable[[], object]) -> object:
            try:
                return check()
            except UserError as error:
                problems.append(str(error))
                return None

        if "" in cells:
            problems.append(cells[""])
            return None
        ref, journey_id, email = (cells[c] for c in CASE_COLUMNS)
        journey = attempt(lambda: self.journeys[journey_id]) if journey_id else None
        if not journey_id:
            problems.append("no journey given")
        person = attempt(lambda: self.person(email)) if email else None
        if not email:
            problems.append("no navigator given")
        if not ref:
            problems.append("no reference given")
        elif person is not None:
            attempt(lambda: check_reference(self.session, person.organisation_id, ref))
        found = None
        if cells.get("investigation"):
            found = attempt(lambda: self.investigation(cells["investigation"]))
        if journey is None:
            return None
        case = _NewCase(ref, journey, person, investigation=found)
        for column, text in cells.items():
            kind, _, name = column.partition(":")
            if not text or kind not in ("event", "fact"):
                continue
            if kind == "fact":
                value = attempt(lambda n=name, t=text: parse_fact(journey, n, t))
                if value is not None:
                    case.facts[name] = value
                continue
            for value in attempt(lambda n=name, t=text: self.event(journey, n, t)) or []:
                case.events.append((name, value))
        if not cells.get(f"event:{journey.start}"):
            problems.append(
                f"journey {journey.journey} opens with '{journey.start}': "
                f"the event:{journey.start} cell is empty"
            )
        return case if person is not None and not problems else None

    def event(self, journey: Journey, name: str, text: str) -> list[EventTime]:
        if not inv.declares(journey, name):
            raise UserError(f"journey {journey.journey} declares no event '{name[:40]}'")
        values = [part.strip() for part in text.split(";") if part.strip()]
        if len(values) > 1 and name not in journey.repeating:
            raise UserError(f"event {name} does not repeat: give one date")
        parsed = []
        for value in values:
            moment = parse_event_time(value, journey.tz)
            if moment.instant > self.now + FAR_AHEAD:
                raise UserError(f"event {name} on {value} is more than three years ahead")
            parsed.append(moment)
        return parsed


def _or_raise(found):
    if isinstance(found, UserError):
        raise found
    return found


def _report(file: str, problems: list[tuple[int, str]]) -> None:
    if problems:
        raise ImportProblems("\n".join(f"{file}:{row}: {message}" for row, message in problems))


def _existing(session: Session, table: sa.Table, refs: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(refs), 1000):
        chunk = refs[start : start + 1000]
        found.update(
            session.execute(sa.select(table.c.ref).where(table.c.ref.in_(chunk))).scalars()
        )
    return found


def import_cases(
    session: Session,
    catalog: Catalog,
    text: str,
    file: str,
    now: datetime,
    actor: Actor,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Open every case of a CSV file (columns `reference, journey, navigator`, optionally
    `investigation`, then `event:NAME` and `fact:NAME`), or none if any row has a problem.

    A case naming an investigation is linked to it and receives its events so far. With
    `dry_run`, everything is checked and nothing written.
    """
    table = _read(text, file, CASE_COLUMNS, _case_column)
    checker = _Checker(session, catalog, actor, now)
    problems: list[tuple[int, str]] = []
    cases: list[_NewCase] = []
    seen: dict[str, int] = {}
    exists = _existing(session, Case.__table__, [c.get("reference", "") for _, c in table.rows])
    for number, cells in table.rows:
        found: list[str] = []
        case = checker.row(cells, found)
        ref = cells.get("reference", "")
        if ref in exists:
            found.append(f"case '{ref[:40]}' already exists")
        elif ref and ref in seen:
            found.append(f"case '{ref[:40]}' is also on row {seen[ref]}")
        seen.setdefault(ref, number)
        problems += [(number, message) for message in found]
        if case is not None and not found:
            cases.append(case)
    _report(file, problems)
    if not dry_run:
        _write_cases(session, catalog, cases, now, actor, progress)
    return {"file": file, "cases": len(cases), "dry_run": dry_run}


def _write_cases(
    session: Session,
    catalog: Catalog,
    cases: list[_NewCase],
    now: datetime,
    actor: Actor,
    progress: Progress | None,
) -> None:
    rows = [
        Case(
            ref=c.ref,
            journey_id=c.journey.journey,
            journey_version=c.journey.version,
            organisation_id=c.person.organisation_id,
            navigator_id=c.person.id,
            facts=c.facts,
            opened_at=now,
            replan_at=EPOCH,
        )
        for c in cases
    ]
    session.add_all(rows)
    session.flush()
    events, links, audits = [], [], []
    so_far: dict[int, list[InvestigationEvent]] = {}
    zones = {}
    for case, row in zip(cases, rows, strict=True):
        recorded = list(case.events)
        if case.investigation is not None:
            found = case.investigation
            if found.id not in so_far:
                so_far[found.id] = inv.events_so_far(session, found.id)
                zones[found.id] = inv.zone_of(session, found.organisation_id)
            have = {(name, value.instant) for name, value in recorded}
            recorded += [
                (name, value)
                for name, value in inv.copies(case.journey, so_far[found.id], zones[found.id])
                if (name, value.instant) not in have
            ]
            links.append(
                {
                    "investigation_id": found.id,
                    "case_id": row.id,
                    "linked_at": now,
                    "linked_by": actor.who,
                    "unlinked_at": None,
                }
            )
        numbered: dict[str, int] = {}
        for name, value in sorted(recorded, key=lambda e: e[1].instant):
            occurrence = None
            if name in case.journey.repeating:  # each recording its next occurrence
                occurrence = numbered[name] = numbered.get(name, 0) + 1
            events.append(
                {
                    "case_id": row.id,
                    "name": name,
                    "occurrence": occurrence,
                    "instant": value.instant,
                    "date_only": value.date_only,
                    "recorded_at": now,
                    "recorded_by": actor.who,
                }
            )
        detail = {
            "journey": case.journey.journey,
            "navigator": case.person.email,
            "events": sorted({name for name, _ in recorded}),
            "imported": True,
        }
        audits.append(
            {
                "at": now,
                "actor": actor.who,
                "case_ref": case.ref,
                "action": "case.open",
                "detail": detail,
            }
        )
    insert_rows(session, CaseEvent.__table__, events)
    insert_rows(session, InvestigationCase.__table__, links)
    insert_rows(session, AuditEntry.__table__, audits)
    audit(session, now, actor, "import.cases", None, cases=len(rows))
    ids = [row.id for row in rows]
    for start in range(0, len(ids), BATCH):
        counts = reconcile_cases(session, catalog, ids[start : start + BATCH], now)
        if counts.errors:
            raise UserError(f"cannot plan case {counts.errors[0]}: nothing imported")
        if progress is not None:
            progress(min(start + BATCH, len(ids)), len(ids))


@dataclass
class _NewEvent:
    row: int
    ref: str
    organisation: str
    name: str
    value: EventTime
    count: int | None


def import_investigation_events(
    session: Session,
    catalog: Catalog,
    text: str,
    file: str,
    now: datetime,
    actor: Actor,
    *,
    dry_run: bool = False,
) -> dict:
    """Record every investigation event of a CSV file (columns `investigation,
    organisation, event, at, count`), or none if any row has a problem. An unknown
    investigation is opened in the row's organisation; each event reaches the linked cases
    as `investigation event` does. An event already recorded with the same count is
    skipped, so importing a file twice changes nothing."""
    table = _read(text, file, EVENT_COLUMNS, lambda name: name in EVENT_COLUMNS)
    orgs = {o.id: o for o in session.exec(select(Organisation)).all()}
    refs = sorted({cells.get("investigation", "") for _, cells in table.rows})
    known = {
        i.ref: i
        for i in session.exec(select(Investigation).where(Investigation.ref.in_(refs))).all()
    }
    opened: dict[str, str] = {}
    problems: list[tuple[int, str]] = []
    wanted: dict[tuple[str, str, datetime], _NewEvent] = {}
    for number, cells in table.rows:
        found: list[str] = []
        event = _event_row(session, number, cells, orgs, known, opened, actor, found)
        if event is not None:
            key = (event.ref, event.name, event.value.instant)
            first = wanted.get(key)
            if first is not None and first.count != event.count:
                found.append(
                    f"{event.name} at {cells['at']} is also on row {first.row} "
                    f"with count {first.count}"
                )
            wanted.setdefault(key, event)
        problems += [(number, message) for message in found]
    recorded = _already_recorded(session, known, wanted)
    for key, count in recorded.items():
        event = wanted.pop(key)
        if count != event.count:
            problems.append(
                (
                    event.row,
                    f"{event.name} at that instant is already recorded on "
                    f"{event.ref} with count {count}",
                )
            )
    _report(file, sorted(problems))
    if wanted and not dry_run:
        _write_events(session, catalog, list(wanted.values()), known, opened, now, actor)
    return {"file": file, "events": len(wanted), "skipped": len(recorded), "dry_run": dry_run}


def _event_row(
    session: Session,
    number: int,
    cells: dict[str, str],
    orgs: dict[str, Organisation],
    known: dict[str, Investigation],
    opened: dict[str, str],
    actor: Actor,
    found: list[str],
) -> _NewEvent | None:
    """One row as an event to record, or None with its problems added to `found`."""
    if "" in cells:
        found.append(cells[""])
        return None
    ref, org_id, name, at, count_text = (cells[c] for c in EVENT_COLUMNS)
    org = orgs.get(org_id)
    if org is None or not can_see_investigation(actor, org_id):
        found.append(f"unknown organisation '{org_id[:40]}'")
        return None
    if ref in known:
        if known[ref].organisation_id != org_id or not can_see_investigation(actor, org_id):
            found.append(f"investigation '{ref[:40]}' is not in {org_id}")
    elif ref in opened:
        if opened[ref] != org_id:
            found.append(f"investigation '{ref[:40]}' is opened in {opened[ref]} on an earlier row")
    else:
        try:
            check_reference(session, org_id, ref)
            opened[ref] = org_id
        except UserError as error:
            found.append(str(error))
    count = None
    if count_text:
        try:
            count = int(count_text)
        except ValueError:
            found.append(f"count '{count_text[:40]}' is not a whole number")
            return None
    try:
        check_event(name, count)
        value = parse_event_time(at, ZoneInfo(org.timezone))
    except UserError as error:
        found.append(str(error))
        return None
    return None if found else _NewEvent(number, ref, org_id, name, value, count)


def _already_recorded(
    session: Session,
    known: dict[str, Investigation],
    wanted: dict[tuple[str, str, datetime], _NewEvent],
) -> dict[tuple[str, str, datetime], int | None]:
    """The wanted events already recorded on existing investigations, with their counts."""
    by_id = {i.id: ref for ref, i in known.items()}
    if not by_id:
        return {}
    rows = session.execute(
        sa.select(
            event_t.c.investigation_id, event_t.c.name, event_t.c.instant, event_t.c.count
        ).where(event_t.c.investigation_id.in_(sorted(by_id)))
    )
    found = {}
    for r in rows:
        key = (by_id[r.investigation_id], r.name, r.instant)
        if key in wanted:
            found[key] = r.count
    return found


def _write_events(
    session: Session,
    catalog: Catalog,
    events: list[_NewEvent],
    known: dict[str, Investigation],
    opened: dict[str, str],
    now: datetime,
    actor: Actor,
) -> None:
    """Open the new investigations, record the events, and copy each investigation's new
    events to its linked cases (planned at once)."""
    for ref, org_id in opened.items():
        if any(e.ref == ref for e in events):
            known[ref] = Investigation(
                ref=ref, organisation_id=org_id, opened_at=now, opened_by=actor.who
            )
            session.add(known[ref])
            audit(
                session,
                now,
                actor,
                "investigation.open",
                None,
                investigation=ref,
                organisation=org_id,
            )
    session.flush()
    added: dict[str, list[InvestigationEvent]] = {}
    for e in sorted(events, key=lambda e: (e.value.instant, e.row)):
        row = InvestigationEvent(
            investigation_id=known[e.ref].id,
            name=e.name,
            instant=e.value.instant,
            date_only=e.value.date_only,
            count=e.count,
            recorded_at=now,
            recorded_by=actor.who,
        )
        session.add(row)
        added.setdefault(e.ref, []).append(row)
    session.flush()
    audit(session, now, actor, "import.investigation_events", None, events=len(events))
    for ref, rows in added.items():
        found = known[ref]
        inv.copy_events(
            session, catalog, found, rows, inv.linked_cases(session, found.id), now, actor
        )
