"""A seeded synthetic caseload at national scale, written with set-based bulk inserts.

About 20 organisations (two of them in Romania for the safe-return journey), ~500
navigators with team leads and a programme lead each, and N cases spread over the four
shipped journeys with referral dates over the four years up to `NOW`. Each case gets a
plausible history drawn from a seeded `random.Random`: NRM referral and decisions, witness
statement, arrest, bail, charge or no charge, a listed trial (sometimes moved: a second
`trial` event), verdict and sentence; old finished cases are closed.

Cases and events go in with `executemany` through SQLAlchemy Core, a chunk at a time, with
`replan_at` at the epoch: planning them is left to the engine's own sweep, which is what
the benchmark measures. Nothing here names or locates anyone: refs and staff are made up.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.catalog import Catalog
from engine.core.calendar import local_time
from engine.core.journey import Journey
from engine.core.values import EventTime
from engine.queries import last_contact
from engine.settings import SHIPPED_JOURNEYS
from engine.store import EPOCH, Case, CaseEvent, Organisation, Staff, Task

NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # the bench's "now": a Monday morning
YEARS = 4
SEED = 20270301
CHUNK = 5_000  # cases generated and inserted at a time: bounded memory at any N

# Share of cases per journey: NRM consent (adult-cjs) is the common path, a minority of
# adults decline the NRM, about a fifth are children, a tenth return home to Romania.
JOURNEY_SHARES = {
    "adult-cjs": 0.55,
    "adult-declined-nrm": 0.15,
    "child-cjs": 0.20,
    "safe-return-romania": 0.10,
}
UK_ORGS = 18
RO_ORGS = 2
NAVIGATORS_PER_ORG = 25
NAVIGATORS_PER_LEAD = 8

case_t = Case.__table__
event_t = CaseEvent.__table__
task_t = Task.__table__

CATALOG = Catalog(SHIPPED_JOURNEYS)  # the benchmark plans the shipped journeys


@dataclass
class Directory:
    """The generated organisations and staff, and which navigators serve which journeys."""

    organisations: list[dict] = field(default_factory=list)
    staff: list[dict] = field(default_factory=list)
    uk_navigators: list[tuple[int, str]] = field(default_factory=list)  # (staff id, org id)
    ro_navigators: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SampleCase:
    """One generated case as the planner sees it, kept for the plan-one-case measure."""

    journey_id: str
    facts: dict
    events: dict[str, EventTime]


def make_directory() -> Directory:
    directory = Directory()
    staff_id = 0
    for n in range(UK_ORGS + RO_ORGS):
        romanian = n >= UK_ORGS
        org_id = f"ro{n - UK_ORGS + 1:02d}" if romanian else f"uk{n + 1:02d}"
        directory.organisations.append(
            {
                "id": org_id,
                "name": f"Bench organisation {org_id}",
                "calendar": "romania" if romanian else "england-and-wales",
                "timezone": "Europe/Bucharest" if romanian else "Europe/London",
            }
        )
        staff_id += 1
        directory.staff.append(_person(staff_id, org_id, "programme_lead", None))
        leads: list[int] = []
        for k in range(NAVIGATORS_PER_ORG):
            if k % NAVIGATORS_PER_LEAD == 0:
                staff_id += 1
                directory.staff.append(_person(staff_id, org_id, "team_lead", None))
                leads.append(staff_id)
            staff_id += 1
            directory.staff.append(_person(staff_id, org_id, "navigator", leads[-1]))
            (directory.ro_navigators if romanian else directory.uk_navigators).append(
                (staff_id, org_id)
            )
    return directory


def _person(staff_id: int, org_id: str, role: str, lead_id: int | None) -> dict:
    return {
        "id": staff_id,
        "email": f"{role.replace('_', '-')}-{staff_id:04d}@{org_id}.example.org",
        "name": f"{role.replace('_', ' ').title()} {staff_id:04d}",
        "role": role,
        "organisation_id": org_id,
        "lead_id": lead_id,
    }


def _history(rng: random.Random, referral: date, now: date) -> list[tuple[str, date, date]]:
    """(event, date, recorded on) in recording order; future dates only for listed hearings."""
    events: list[tuple[str, date, date]] = []

    def day(base: date, low: int, high: int) -> date:
        return base + timedelta(days=rng.randint(low, high))

    def record(name: str, when: date, recorded: date | None = None) -> bool:
        recorded = recorded or when
        if recorded > now:
            return False
        events.append((name, when, recorded))
        return True

    nrm = day(referral, 1, 10)
    if rng.random() < 0.95 and record("nrm_referral", nrm):
        reasonable = day(nrm, 5, 60)
        if rng.random() < 0.85 and record("reasonable_grounds", reasonable) and rng.random() < 0.55:
            record("conclusive_grounds", day(reasonable, 180, 540))
    record("arrival", day(referral, 7, 60))  # safe return only: dropped elsewhere
    if rng.random() < 0.8:
        record("witness_statement", day(referral, 3, 60))
    if rng.random() >= 0.6:
        return events
    arrest = day(referral, 14, 365)
    if not record("arrest", arrest):
        return events
    if rng.random() < 0.7:
        record("release_or_bail", day(arrest, 1, 30))
    outcome = rng.random()
    if outcome < 0.25:
        record("no_charge", day(arrest, 60, 400))
        return events
    if outcome >= 0.8:  # still under investigation
        return events
    charge = day(arrest, 30, 540)
    if not record("charge", charge) or rng.random() >= 0.85:
        return events
    listed = day(charge, 14, 120)
    trial = day(listed, 120, 540)
    if not record("hearing_listed", listed):
        return events
    record("trial", trial, listed)
    if rng.random() < 0.3:  # the trial was moved: re-listed some weeks before it was due
        moved_on = min(trial - timedelta(days=rng.randint(7, 90)), now)
        if moved_on > listed:
            trial = day(trial, 14, 180)
            record("trial", trial, moved_on)
    verdict = day(trial, 3, 30)
    if rng.random() < 0.9 and record("verdict", verdict):
        sentence = day(verdict, 20, 60)
        record("sentence", sentence, verdict)
    return events


def _facts(rng: random.Random, journey_id: str, names: set[str]) -> dict:
    if journey_id == "safe-return-romania":
        facts: dict = {
            "evidence_route": rng.choices(
                ["undecided", "remote_link", "travel_back"], [0.5, 0.3, 0.2]
            )[0]
        }
    elif journey_id == "child-cjs":
        facts = {
            "age": rng.choices(range(18), [1] * 10 + [3, 4, 5, 7, 9, 10, 10, 8])[0],
            "uk_national": rng.random() < 0.3,
            "unaccompanied": rng.random() < 0.4,
            "interpreter_needed": rng.random() < 0.5,
        }
    else:
        facts = {
            "age": rng.randint(18, 65),
            "uk_national": rng.random() < 0.15,
            "interpreter_needed": rng.random() < 0.7,
            "labour_exploitation": rng.random() < 0.45,
        }
        if journey_id == "adult-declined-nrm":
            facts["nrm_accepted"] = "nrm_referral" in names
    if "verdict" in names:
        facts["convicted"] = rng.random() < 0.7
        if facts["convicted"] and "sentence" in names:
            facts["sentence_months"] = rng.choice([6, 9, 12, 18, 24, 36, 60, 96, 144])
    return facts


def _closed(rng: random.Random, events: dict[str, date], referral: date, now: date) -> date | None:
    """When the case was closed, if it was: finished cases some months on, a few drop out."""
    verdict, no_charge = events.get("verdict"), events.get("no_charge")
    end = verdict or no_charge
    if end and (now - end).days > 180 and rng.random() < 0.8:
        return end + timedelta(days=rng.randint(90, 180))
    if (now - referral).days > 365 and rng.random() < 0.08:  # disengaged or moved away
        return referral + timedelta(days=rng.randint(60, (now - referral).days))
    return None


def generate(
    n: int, journeys: dict[str, Journey], directory: Directory, now: datetime, seed: int = SEED
) -> Iterator[tuple[list[dict], list[dict], list[SampleCase]]]:
    """Case and event rows, CHUNK cases at a time (ids 1..n), plus the chunk as the planner
    sees it (for the plan-one-case measure)."""
    rng = random.Random(seed)
    names, weights = zip(*JOURNEY_SHARES.items(), strict=True)
    today = now.date()
    span = YEARS * 365
    event_id = 0
    for first in range(1, n + 1, CHUNK):
        cases: list[dict] = []
        events: list[dict] = []
        samples: list[SampleCase] = []
        for case_id in range(first, min(first + CHUNK, n + 1)):
            journey_id = rng.choices(names, weights)[0]
            journey = journeys[journey_id]
            tz: ZoneInfo = journey.tz
            romanian = journey_id == "safe-return-romania"
            navigator_id, org_id = rng.choice(
                directory.ro_navigators if romanian else directory.uk_navigators
            )
            referral = today - timedelta(days=rng.randint(0, span))
            referred_at = local_time(referral, time(rng.randint(8, 19), rng.choice((0, 30))), tz)
            if referred_at > now:
                referral -= timedelta(days=1)
                referred_at -= timedelta(days=1)
            history = [
                (name, when, recorded)
                for name, when, recorded in _history(rng, referral, today)
                if name in journey.events
            ]
            if journey_id == "adult-declined-nrm" and rng.random() < 0.85:
                history = [h for h in history if h[0] not in ("nrm_referral", "reasonable_grounds")]
            if journey_id == "child-cjs" and rng.random() < 0.3:  # older children turn 18
                turns = referral + timedelta(days=rng.randint(30, 900))
                turns = turns.replace(day=1)
                if turns <= today:
                    history.append(("turns_18", turns, turns))
            latest = {name: when for name, when, _ in history}
            facts = _facts(rng, journey_id, set(latest))
            closed_on = _closed(rng, latest, referral, today)
            closed = closed_on is not None and closed_on < today
            opened_at = referred_at + timedelta(minutes=rng.randint(5, 240))
            opened_at = min(opened_at, now)
            cases.append(
                {
                    "id": case_id,
                    "ref": f"{org_id.upper()}-{case_id:07d}",
                    "journey_id": journey_id,
                    "journey_version": journey.version,
                    "organisation_id": org_id,
                    "navigator_id": navigator_id,
                    "facts": facts,
                    "status": "closed" if closed else "open",
                    "closed_reason": "support ended" if closed else None,
                    "opened_at": opened_at,
                    "closed_at": local_time(closed_on, time(12), tz) if closed else None,
                    "replan_at": None if closed else EPOCH,
                }
            )
            planned: dict[str, EventTime] = {
                "referral": EventTime(referred_at, False),
            }
            event_id += 1
            events.append(_event(event_id, case_id, "referral", referred_at, False, opened_at))
            for name, when, recorded in history:
                instant = local_time(when, time(0), tz)
                recorded_at = min(local_time(recorded, time(16), tz), now)
                event_id += 1
                events.append(_event(event_id, case_id, name, instant, True, recorded_at))
                planned[name] = EventTime(instant, True)
            if not closed:
                samples.append(SampleCase(journey_id, facts, planned))
        yield cases, events, samples


def _event(
    event_id: int, case_id: int, name: str, instant: datetime, date_only: bool, at: datetime
) -> dict:
    return {
        "id": event_id,
        "case_id": case_id,
        "name": name,
        "instant": instant,
        "date_only": date_only,
        "recorded_at": at,
        "recorded_by": "bench",
    }


def shipped_journeys() -> dict[str, Journey]:
    return {j: CATALOG.resolve(j) for j in JOURNEY_SHARES}


def _fix_sequences(engine: Engine) -> None:
    """Explicit ids leave PostgreSQL's serial sequences behind: move them past the rows."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        for table in ("staff", '"case"', "case_event"):
            connection.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )


def populate(
    engine: Engine, n: int, now: datetime, seed: int = SEED, sample_size: int = 2_000
) -> dict:
    """Write the directory and n cases with their events; returns counts and a sample of
    open cases for the plan-one-case measure."""
    journeys = shipped_journeys()
    directory = make_directory()
    with engine.begin() as connection:
        connection.execute(sa.insert(Organisation.__table__), directory.organisations)
        without_leads = [{**s, "lead_id": None} for s in directory.staff]
        connection.execute(sa.insert(Staff.__table__), without_leads)
        connection.execute(
            sa.update(Staff.__table__)
            .where(Staff.__table__.c.id == sa.bindparam("_id"))
            .values(lead_id=sa.bindparam("lead_id")),
            [{"_id": s["id"], "lead_id": s["lead_id"]} for s in directory.staff if s["lead_id"]],
        )
    open_cases = events = 0
    per_journey: Counter[str] = Counter()
    having: Counter[str] = Counter()  # cases with at least one such event
    sample: list[SampleCase] = []
    for cases, rows, samples in generate(n, journeys, directory, now, seed):
        with engine.begin() as connection:
            connection.execute(sa.insert(case_t), cases)
            connection.execute(sa.insert(event_t), rows)
        open_cases += sum(c["status"] == "open" for c in cases)
        per_journey.update(c["journey_id"] for c in cases)
        recorded = Counter((r["case_id"], r["name"]) for r in rows)
        having.update(name for _, name in recorded)
        having["trial_moved"] += sum(
            1 for (_, name), k in recorded.items() if name == "trial" and k > 1
        )
        events += len(rows)
        sample.extend(samples[: max(0, sample_size - len(sample))])
    _fix_sequences(engine)
    shares = {f"journey_{j}": per_journey[j] / n for j in JOURNEY_SHARES}
    for name in ("nrm_referral", "charge", "hearing_listed", "trial_moved", "verdict"):
        shares[f"with_{name}"] = having[name] / n
    shares["closed"] = 1 - open_cases / n
    return {
        "organisations": len(directory.organisations),
        "staff": len(directory.staff),
        "navigators": len(directory.uk_navigators) + len(directory.ro_navigators),
        "cases": n,
        "open_cases": open_cases,
        "events": events,
        "caseload_shares": {k: round(v, 3) for k, v in shares.items()},
        "sample": sample,
    }


def recurring_obligations(journeys: dict[str, Journey]) -> set[str]:
    return {ob.id for j in journeys.values() for _, ob in j.obligations.values() if ob.recurring}


def complete_share(engine: Engine, now: datetime, journeys: dict[str, Journey]) -> dict:
    """Mark most past-due tasks done, set-based, so the caseload looks lived-in.

    Old one-off tasks are almost all done (1 in 20 left overdue), recent ones mostly (1 in
    4 left); recurring check-ins were done a few days ago, so the cases holding them are
    marked for planning and the next sweep creates their next occurrences.
    """
    recurring = sorted(recurring_obligations(journeys))
    month_ago = now - timedelta(days=30)
    is_recurring = task_t.c.obligation.in_(recurring)
    past_due = sa.and_(task_t.c.status == "open", task_t.c.due <= now)
    with engine.begin() as connection:
        old = connection.execute(
            sa.update(task_t)
            .where(past_due, ~is_recurring, task_t.c.due <= month_ago, task_t.c.id % 20 != 0)
            .values(status="done", closed_at=task_t.c.due, next_alert_at=None)
        ).rowcount
        recent = connection.execute(
            sa.update(task_t)
            .where(past_due, ~is_recurring, task_t.c.due > month_ago, task_t.c.id % 4 != 0)
            .values(status="done", closed_at=task_t.c.due, next_alert_at=None)
        ).rowcount
        # Recurring occurrences done 0-6 days ago, in 7 groups by id: set-based and seeded.
        checkins = 0
        for days in range(7):
            checkins += connection.execute(
                sa.update(task_t)
                .where(past_due, is_recurring, task_t.c.id % 10 != 0, task_t.c.id % 7 == days)
                .values(status="done", closed_at=now - timedelta(days=days), next_alert_at=None)
            ).rowcount
        marked = connection.execute(
            sa.update(case_t)
            .where(
                case_t.c.id.in_(
                    sa.select(task_t.c.case_id).where(
                        is_recurring, task_t.c.status == "done", task_t.c.closed_at > month_ago
                    )
                )
            )
            .values(replan_at=EPOCH)
        ).rowcount
        # When contact was last done, as the service keeps it when a contact task closes
        connection.execute(sa.update(case_t).values(last_contact_at=last_contact(case_t.c.id)))
    return {"done_one_off": old + recent, "done_recurring": checkins, "cases_marked": marked}


def change_one_percent(
    engine: Engine, now: datetime, rng: random.Random, exclude: set[int]
) -> list[int]:
    """Record a new event on 1% of open cases, as navigators would: a trial listed or
    moved, a charge, an arrest or a statement; each case is marked for planning."""
    with engine.connect() as connection:
        ids = list(
            connection.execute(
                sa.select(case_t.c.id).where(case_t.c.status == "open").order_by(case_t.c.id)
            ).scalars()
        )
    candidates = [i for i in ids if i not in exclude]
    chosen = sorted(rng.sample(candidates, max(1, len(ids) // 100)))
    with engine.connect() as connection:
        names: dict[int, set[str]] = {i: set() for i in chosen}
        for case_id, name in connection.execute(
            sa.select(event_t.c.case_id, event_t.c.name).where(event_t.c.case_id.in_(chosen))
        ):
            names[case_id].add(name)
        journey_of = dict(
            connection.execute(
                sa.select(case_t.c.id, case_t.c.journey_id).where(case_t.c.id.in_(chosen))
            ).all()
        )
    journeys = shipped_journeys()
    rows = []
    today = now.date()
    for case_id in chosen:
        journey = journeys[journey_of[case_id]]
        has = names[case_id]
        if "trial" in has and "verdict" not in has:  # re-listed: the trial moves
            new = [("trial", today + timedelta(days=rng.randint(60, 400)))]
        elif "charge" in has and "hearing_listed" not in has:
            trial = today + timedelta(days=rng.randint(90, 400))
            new = [("hearing_listed", today), ("trial", trial)]
        elif "arrest" in has and not has & {"charge", "no_charge"}:
            new = [("charge", today)]
        elif "arrest" not in has:
            new = [("arrest", today)]
        else:
            new = [("release_or_bail", today)]
        for name, when in new:
            rows.append(
                {
                    "case_id": case_id,
                    "name": name,
                    "instant": local_time(when, time(0), journey.tz),
                    "date_only": True,
                    "recorded_at": now,
                    "recorded_by": "bench",
                }
            )
    with engine.begin() as connection:
        connection.execute(sa.insert(event_t), rows)
        connection.execute(sa.update(case_t).where(case_t.c.id.in_(chosen)).values(replan_at=EPOCH))
    return chosen
