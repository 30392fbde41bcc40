"""The demo's home and its simulated days: people acting at 13:00, a tick at 09:00 and
digests at 08:00 London on weekdays."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine.catalog import Catalog
from engine.core.actors import operator
from engine.core.errors import UserError
from flows.demo.programme import DILIGENCE, Action, staff_yaml, story

LONDON = ZoneInfo("Europe/London")
MARKER = ".alongside-demo"  # in a home the demo made: running the demo again may reset it

DIGEST_AT, TICK_AT, PEOPLE_AT = time(8, 0), time(9, 0), time(13, 0)

# --- the home ----------------------------------------------------------------------------------


def prepare_home(home: Path, url: str) -> str | None:
    """Refuse a home that holds anything but an earlier demo; reset an earlier demo.

    Returns a note for the person when an earlier demo was reset. A home with staff or
    cases the demo did not make is never touched.
    """
    in_home = url == f"sqlite:///{home / 'alongside.db'}"
    earlier_demo = in_home and (home / MARKER).exists()
    if earlier_demo:
        for name in ("alongside.db", "alongside.db-wal", "alongside.db-shm"):
            (home / name).unlink(missing_ok=True)
        for name in ("outbox", "prefect", "journeys"):
            shutil.rmtree(home / name, ignore_errors=True)
        return f"started again: removed the earlier demo's data in {home}"
    if not _has_data(url, in_home, home):
        return None
    raise UserError(
        f"{home} already holds staff or cases; the demo needs a fresh home: "
        "give another with --home DIR (e.g. alongside --home demo-home demo)"
    )


def _has_data(url: str, in_home: bool, home: Path) -> bool:
    """Any staff or cases? Checked on a throwaway engine: the file may be deleted next."""
    if in_home and not (home / "alongside.db").exists():
        return False
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            for table in ("case", "staff"):
                if (
                    table in tables
                    and connection.execute(
                        sa.select(sa.func.count()).select_from(sa.table(table))
                    ).scalar_one()
                ):
                    return True
    finally:
        engine.dispose()
    return False


# --- the simulation -----------------------------------------------------------------------------


def moment(day: date, at: time) -> datetime:
    """A London wall-clock time on a simulated day, as a UTC instant."""
    return datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC)


@dataclass
class Outcome:
    """What the demo did, for its summary and its tests."""

    start: date
    end: date
    ticks: int = 0
    digests: int = 0
    flow_seconds: float = 0.0
    seconds: float = 0.0
    tasks: dict[str, int] = field(default_factory=dict)
    overdue: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    failed_messages: int = 0
    eml_files: int = 0
    failed_runs: list[str] = field(default_factory=list)


class People:
    """The staff's side of each day: opening cases, recording, doing (or not) their tasks."""

    def __init__(self, url: str, catalog: Catalog, rng: random.Random) -> None:
        self.url = url
        self.catalog = catalog
        self.rng = rng

    def act(self, action: Action, now: datetime) -> None:
        from engine import service
        from engine.store import session_scope

        with session_scope(self.url) as session:
            office = operator()  # the programme office records events and closes cases
            if action.kind == "open":
                service.open_case(
                    session,
                    self.catalog,
                    action.ref,
                    action.journey,
                    action.navigator,
                    action.events,
                    action.facts,
                    now,
                    service.resolve_actor(session, action.navigator),
                )
            elif action.kind == "event":
                service.record_events(session, self.catalog, action.ref, action.events, now, office)
            elif action.kind == "fact":
                service.record_facts(session, self.catalog, action.ref, action.facts, now, office)
            elif action.kind == "close":
                service.close_case(session, self.catalog, action.ref, action.reason, now, office)
        if action.established:
            self.catch_up(action.ref, now)

    def catch_up(self, ref: str, now: datetime) -> None:
        """An existing case's past work was done at the time: complete what fell due before."""
        from engine import service
        from engine.store import session_scope

        for _ in range(100):  # each pass completes the occurrences the last one created
            due = self._open_tasks(now, ref=ref)
            if not due:
                return
            with session_scope(self.url) as session:
                office = operator()
                for task_id, _nav, task_due, _precision, _category in due:
                    done_at = min(task_due - timedelta(hours=self.rng.randint(1, 30)), now)
                    # never before the event its deadline counts from: the service refuses that
                    start = service.counted_from(session, self.catalog, office, task_id)
                    done_at = max(done_at, start) if start and start <= now else done_at
                    service.complete_task(
                        session, self.catalog, task_id, done_at, None, now, office
                    )

    def work(self, now: datetime) -> None:
        """Navigators get to some of the tasks due soon or overdue, as people do."""
        from engine import service
        from engine.store import session_scope

        soon = self._open_tasks(now + timedelta(days=2))
        with session_scope(self.url) as session:
            actors = {nav: service.resolve_actor(session, nav) for nav in {t[1] for t in soon}}
            for task_id, email, _due, precision, category in soon:
                nav = actors[email]
                chance = DILIGENCE.get(email, 1.0) * (0.9 if precision == "hour" else 0.45)
                roll = self.rng.random()
                if roll < 0.02 and category not in ("contact", "safety", "accommodation"):
                    service.waive_task(
                        session,
                        self.catalog,
                        task_id,
                        "survivor chose not to pursue this",
                        now,
                        nav,
                    )
                elif roll < chance:
                    service.complete_task(session, self.catalog, task_id, None, None, now, nav)

    def _open_tasks(self, before: datetime, ref: str | None = None) -> list[tuple]:
        from engine.store import Case, Staff, Task, session_scope

        query = (
            sa.select(Task.id, Staff.email, Task.due, Task.precision, Task.category)
            .join(Case, Case.id == Task.case_id)
            .join(Staff, Staff.id == Case.navigator_id)
            .where(Task.status == "open", Task.due < before)
            .order_by(Task.id)
        )
        if ref is not None:
            query = query.where(Case.ref == ref)
        with session_scope(self.url) as session:
            return [tuple(row) for row in session.execute(query)]


def days(start: date, count: int) -> Iterator[date]:
    for n in range(count):
        yield start + timedelta(days=n)


def simulate(
    url: str,
    catalog: Catalog,
    start: date,
    count: int,
    seed: int,
    tick: Callable[[datetime], bool],
    digest: Callable[[datetime], object],
    say: Callable[[str], None],
) -> Outcome:
    """Live through `count` days from `start`; `tick(now)` runs one tick, True if it completed."""
    import time as clock

    from engine import service
    from engine.store import session_scope

    rng = random.Random(seed)
    people = People(url, catalog, rng)
    actions = story(start, seed)
    outcome = Outcome(start=start, end=start + timedelta(days=count - 1))
    with session_scope(url) as session:
        service.import_staff(session, staff_yaml(), moment(start, time(7, 0)), operator())
    began = clock.perf_counter()
    for number, day in enumerate(days(start, count)):
        if day.weekday() < 5:
            outcome.digests += 1
            digest(moment(day, DIGEST_AT))
        outcome.ticks += 1
        if not tick(moment(day, TICK_AT)):
            outcome.failed_runs.append(f"tick {day}")
        now = moment(day, PEOPLE_AT)
        for action in (a for a in actions if a.day == number):
            people.act(action, now)
        people.work(now)
        if number % 15 == 14 or number == count - 1:
            say(f"  day {number + 1:>3}/{count}  {day:%a %d %b %Y}  {_progress(url, now)}")
    outcome.flow_seconds = clock.perf_counter() - began
    return outcome


def _progress(url: str, now: datetime) -> str:
    from engine.store import Case, OutboxMessage, Task, session_scope

    with session_scope(url) as session:
        cases = session.execute(
            sa.select(sa.func.count()).where(Case.status == "open")
        ).scalar_one()
        done = session.execute(sa.select(sa.func.count()).where(Task.status == "done")).scalar_one()
        overdue = session.execute(
            sa.select(sa.func.count()).where(Task.status == "open", Task.due < now)
        ).scalar_one()
        sent = session.execute(
            sa.select(sa.func.count()).where(OutboxMessage.status == "sent")
        ).scalar_one()
    return f"{cases} open cases, {done} tasks done, {overdue} overdue, {sent} messages sent"
