"""`alongside demo`: a whole programme, four months of it, on a fresh home, in about a minute.

It builds a demo programme (four organisations including the Romanian safe-return team,
their navigators and team leads, a programme lead; every address `@example.org`), opens
30 pseudonymous cases across the four shipped journeys and lives through `days` simulated
days. Each day:

- 08:00 London, on weekdays: the digests;
- 09:00 London: the `tick` flow;
- 13:00 London: people act: new referrals are opened, events recorded (arrests, charges,
  trials listed, one trial moved, a verdict), one case is closed, and navigators complete
  (or now and then waive) the tasks that are due, some more promptly than others.

Every simulated day's tick is a real run of the `tick` flow through Prefect, exactly as
`alongside run` runs it (through the ephemeral API unless PREFECT_API_URL names a server),
so the Prefect UI shows 120 tick runs, each with its artifacts. The weekday digests run the
`digest` flow's steps directly: through Prefect they would add a second ~0.25 s flow run
for most days, and the demo has to finish in well under two minutes on a small machine.
Messages go to the file transport: real `.eml` files in the outbox.

The story is fixed and the randomness seeded, so two runs with the same `--start` and
`--seed` produce the same programme. By default the simulation ends yesterday, so the
home is current: `alongside run` on it simply carries on.
"""

from __future__ import annotations

import random
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import yaml

from engine.errors import UserError

LONDON = ZoneInfo("Europe/London")
MARKER = ".alongside-demo"  # in a home the demo made: running the demo again may reset it

DIGEST_AT, TICK_AT, PEOPLE_AT = time(8, 0), time(9, 0), time(13, 0)

# --- the programme ---------------------------------------------------------------------------

ORGANISATIONS = [
    {
        "id": "kent",
        "name": "Kent Police navigators",
        "calendar": "england-and-wales",
        "timezone": "Europe/London",
    },
    {
        "id": "emsou",
        "name": "East Midlands Special Operations Unit navigators",
        "calendar": "england-and-wales",
        "timezone": "Europe/London",
    },
    {
        "id": "glaa",
        "name": "Gangmasters and Labour Abuse Authority navigators",
        "calendar": "england-and-wales",
        "timezone": "Europe/London",
    },
    {
        "id": "romania",
        "name": "Romania safe-return team",
        "calendar": "romania",
        "timezone": "Europe/Bucharest",
    },
]

# (email, name, role, organisation, lead); navigators' diligence is below.
STAFF = [
    ("programme.lead@example.org", "Priya Natarajan", "programme_lead", "kent", None),
    ("kent.lead@example.org", "Tom Harding", "team_lead", "kent", None),
    ("amira@example.org", "Amira Said", "navigator", "kent", "kent.lead@example.org"),
    ("ben@example.org", "Ben Lowe", "navigator", "kent", "kent.lead@example.org"),
    ("chloe@example.org", "Chloe Mensah", "navigator", "kent", "kent.lead@example.org"),
    ("emsou.lead@example.org", "Rachel Burke", "team_lead", "emsou", None),
    ("dev@example.org", "Dev Patel", "navigator", "emsou", "emsou.lead@example.org"),
    ("erin@example.org", "Erin Walsh", "navigator", "emsou", "emsou.lead@example.org"),
    ("glaa.lead@example.org", "Mark Ellis", "team_lead", "glaa", None),
    ("femi@example.org", "Femi Adeyemi", "navigator", "glaa", "glaa.lead@example.org"),
    ("grace@example.org", "Grace Kim", "navigator", "glaa", "glaa.lead@example.org"),
    ("romania.lead@example.org", "Ilie Popescu", "team_lead", "romania", None),
    ("ioana@example.org", "Ioana Marin", "navigator", "romania", "romania.lead@example.org"),
    ("mihai@example.org", "Mihai Dumitru", "navigator", "romania", "romania.lead@example.org"),
]

# How likely a navigator is to get to a due task on a given day (1 = as likely as anyone).
# Two are stretched, so their team leads see escalations; nobody is hopeless.
DILIGENCE = {"ben@example.org": 0.35, "mihai@example.org": 0.45, "erin@example.org": 0.8}


def staff_yaml() -> str:
    """The demo's staff directory in the format `alongside staff import` reads."""
    staff = [
        {"email": e, "name": n, "role": r, "organisation": o, **({"lead": lead} if lead else {})}
        for e, n, r, o, lead in STAFF
    ]
    return yaml.safe_dump({"organisations": ORGANISATIONS, "staff": staff}, sort_keys=False)


# --- the story ---------------------------------------------------------------------------------


@dataclass
class Action:
    """Something people do on a simulated day (at 13:00 London)."""

    day: int
    ref: str
    kind: str  # open | event | fact | close
    journey: str = ""
    navigator: str = ""
    events: dict[str, str] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    established: bool = False  # an existing case brought in: its past work is done


class Story:
    """Builds the programme's actions, dates relative to the first simulated day."""

    def __init__(self, start: date, rng: random.Random) -> None:
        self.start = start
        self.rng = rng
        self.actions: list[Action] = []

    def on(self, day: int) -> str:
        return (self.start + timedelta(days=day)).isoformat()

    def at(self, day: int, hour: int = 10) -> str:
        return f"{self.on(day)}T{hour:02d}:00"

    def add(self, action: Action) -> None:
        self.actions.append(action)

    def event(self, day: int, ref: str, **events: int) -> None:
        """Record events on `day`; each value is the day (relative) the event happened."""
        self.add(Action(day, ref, "event", events={k: self.on(v) for k, v in events.items()}))

    def _facts(self, journey: str, org: str) -> dict[str, str]:
        r = self.rng
        if journey == "safe-return-romania":
            return {"evidence_route": r.choice(["undecided", "remote_link", "travel_back"])}
        facts = {"interpreter_needed": str(r.random() < 0.6).lower()}
        if journey == "child-cjs":
            facts |= {"age": str(r.randint(14, 17)), "unaccompanied": str(r.random() < 0.5).lower()}
        else:
            facts |= {"age": str(r.randint(19, 52)), "uk_national": str(r.random() < 0.2).lower()}
            facts["labour_exploitation"] = str(org == "glaa" or r.random() < 0.3).lower()
        return facts

    def established(
        self, ref: str, journey: str, nav: str, org: str, *, trial: int | None, charge: int | None
    ) -> None:
        """An existing case brought in on day 0: referred months ago, investigation under way.

        `trial` (a day of the simulation, may be past its end) lists a trial; without one,
        `charge` (a day of the simulation) charges a suspect during it.
        """
        r = self.rng
        referral = -r.randint(240, 400)
        events = {"referral": referral}
        if journey == "safe-return-romania":
            events |= {"arrival": referral + r.randint(7, 14), "arrest": referral + 40}
        else:
            events |= {"witness_statement": referral + 12, "arrest": referral + 30}
            if journey != "adult-declined-nrm":
                events |= {"nrm_referral": referral + 2, "reasonable_grounds": referral + 9}
            if journey == "adult-cjs":
                events["conclusive_grounds"] = referral + r.randint(150, 200)
        if trial is not None:
            charged = referral + r.randint(100, 180)
            events |= {"charge": charged, "trial_listed": charged + r.randint(20, 40)}
        values = {k: self.at(v) if k == "referral" else self.on(v) for k, v in events.items()}
        if trial is not None:
            values["trial"] = self.on(trial)
        self.add(
            Action(
                0,
                ref,
                "open",
                journey,
                nav,
                values,
                self._facts(journey, org),
                established=True,
            )
        )
        if trial is None and charge is not None:
            self.event(charge, ref, charge=charge)
            self.event(charge + 18, ref, trial_listed=charge + 18, trial=charge + 260)

    def new(self, day: int, ref: str, journey: str, nav: str, org: str) -> None:
        """A new referral on `day`, and what follows it in the weeks after."""
        r = self.rng
        facts = self._facts(journey, org)
        events = {"referral": self.at(day)}
        if journey == "child-cjs" and facts["age"] == "17":
            events["turns_18"] = self.on(day + r.randint(90, 300))
        self.add(Action(day, ref, "open", journey, nav, events, facts))
        if journey == "safe-return-romania":
            self.event(day + r.randint(5, 12), ref, arrival=day + r.randint(5, 12))
        else:
            if journey != "adult-declined-nrm":
                nrm = day + r.randint(1, 2)
                self.event(nrm, ref, nrm_referral=nrm)
                rg = nrm + r.randint(5, 9)
                self.event(rg, ref, reasonable_grounds=rg)
            statement = day + r.randint(7, 20)
            self.event(statement, ref, witness_statement=statement)
        if r.random() < 0.6:
            arrest = day + r.randint(15, 45)
            self.event(arrest, ref, arrest=arrest)
            if r.random() < 0.4:
                self.event(arrest + 1, ref, release_or_bail=arrest + 1)

    def close(self, day: int, ref: str, reason: str) -> None:
        self.add(Action(day, ref, "close", reason=reason))


def story(start: date, seed: int) -> list[Action]:
    """The demo programme's 30 cases and everything that happens to them, in day order."""
    s = Story(start, random.Random(seed))
    # Kent: the trial that moves, a verdict and sentence, a closure, a 17-year-old.
    s.established("KNT-0101", "adult-cjs", "amira@example.org", "kent", trial=95, charge=None)
    s.established("KNT-0102", "adult-cjs", "ben@example.org", "kent", trial=55, charge=None)
    s.event(30, "KNT-0102", trial_listed=30, trial=150)  # the trial is re-listed
    s.established("KNT-0103", "child-cjs", "chloe@example.org", "kent", trial=None, charge=40)
    s.new(3, "KNT-0104", "adult-declined-nrm", "amira@example.org", "kent")
    s.new(10, "KNT-0105", "adult-cjs", "ben@example.org", "kent")
    s.new(24, "KNT-0106", "child-cjs", "chloe@example.org", "kent")
    s.established("KNT-0107", "adult-cjs", "chloe@example.org", "kent", trial=12, charge=None)
    s.event(20, "KNT-0107", verdict=20)
    s.add(Action(20, "KNT-0107", "fact", facts={"convicted": "true"}))
    s.event(21, "KNT-0107", sentence=60)
    s.add(Action(60, "KNT-0107", "fact", facts={"sentence_months": "30"}))
    s.new(5, "KNT-0108", "adult-declined-nrm", "ben@example.org", "kent")
    s.close(48, "KNT-0108", "moved out of the area; handed over to local support")
    s.new(60, "KNT-0109", "adult-cjs", "amira@example.org", "kent")
    s.new(95, "KNT-0110", "adult-cjs", "ben@example.org", "kent")
    # EMSOU: a long silent period, a decision not to charge.
    s.established("EMS-0201", "adult-cjs", "dev@example.org", "emsou", trial=200, charge=None)
    s.established("EMS-0202", "adult-cjs", "erin@example.org", "emsou", trial=None, charge=None)
    s.event(35, "EMS-0202", no_charge=35)
    s.new(8, "EMS-0203", "child-cjs", "dev@example.org", "emsou")
    s.new(30, "EMS-0204", "adult-cjs", "erin@example.org", "emsou")
    s.new(45, "EMS-0205", "adult-declined-nrm", "dev@example.org", "emsou")
    s.new(75, "EMS-0206", "adult-cjs", "erin@example.org", "emsou")
    s.new(100, "EMS-0207", "child-cjs", "dev@example.org", "emsou")
    # GLAA: labour exploitation, so employment tribunal claims.
    s.established("GLA-0301", "adult-cjs", "femi@example.org", "glaa", trial=70, charge=None)
    s.new(2, "GLA-0302", "adult-cjs", "grace@example.org", "glaa")
    s.new(18, "GLA-0303", "adult-declined-nrm", "femi@example.org", "glaa")
    s.established("GLA-0304", "adult-cjs", "grace@example.org", "glaa", trial=None, charge=55)
    s.new(52, "GLA-0305", "adult-cjs", "femi@example.org", "glaa")
    s.new(88, "GLA-0306", "adult-declined-nrm", "grace@example.org", "glaa")
    # Romania: safe returns, on the Romanian calendar and Bucharest time.
    s.established(
        "ROM-0401", "safe-return-romania", "ioana@example.org", "romania", trial=80, charge=None
    )
    s.established(
        "ROM-0402", "safe-return-romania", "mihai@example.org", "romania", trial=160, charge=None
    )
    s.new(6, "ROM-0403", "safe-return-romania", "ioana@example.org", "romania")
    s.new(20, "ROM-0404", "safe-return-romania", "mihai@example.org", "romania")
    s.new(40, "ROM-0405", "safe-return-romania", "ioana@example.org", "romania")
    s.new(65, "ROM-0406", "safe-return-romania", "mihai@example.org", "romania")
    s.established(
        "ROM-0407", "safe-return-romania", "ioana@example.org", "romania", trial=None, charge=28
    )
    return sorted(s.actions, key=lambda a: a.day)  # stable: a day keeps its written order


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
        for name in ("outbox", "prefect"):
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

    def __init__(self, url: str, rng: random.Random) -> None:
        self.url = url
        self.rng = rng

    def act(self, action: Action, now: datetime) -> None:
        from engine import service
        from engine.store import session_scope

        with session_scope(self.url) as session:
            if action.kind == "open":
                service.open_case(
                    session,
                    action.ref,
                    action.journey,
                    action.navigator,
                    action.events,
                    action.facts,
                    now,
                    action.navigator,
                )
            elif action.kind == "event":
                service.record_events(session, action.ref, action.events, now, "demo")
            elif action.kind == "fact":
                service.record_facts(session, action.ref, action.facts, now, "demo")
            elif action.kind == "close":
                service.close_case(session, action.ref, action.reason, now, "demo")
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
                for task_id, _nav, task_due, _precision, _category in due:
                    done_at = min(task_due - timedelta(hours=self.rng.randint(1, 30)), now)
                    service.complete_task(session, task_id, done_at, None, now, "demo")

    def work(self, now: datetime) -> None:
        """Navigators get to some of the tasks due soon or overdue, as people do."""
        from engine import service
        from engine.store import session_scope

        soon = self._open_tasks(now + timedelta(days=2))
        with session_scope(self.url) as session:
            for task_id, nav, _due, precision, category in soon:
                chance = DILIGENCE.get(nav, 1.0) * (0.9 if precision == "hour" else 0.45)
                roll = self.rng.random()
                if roll < 0.02 and category not in ("contact", "safety", "accommodation"):
                    service.waive_task(
                        session, task_id, "survivor chose not to pursue this", now, nav
                    )
                elif roll < chance:
                    service.complete_task(session, task_id, None, None, now, nav)

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
    people = People(url, rng)
    actions = story(start, seed)
    outcome = Outcome(start=start, end=start + timedelta(days=count - 1))
    with session_scope(url) as session:
        service.import_staff(session, staff_yaml(), moment(start, time(7, 0)), "demo")
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


def summarise(url: str, outcome: Outcome, outbox: Path) -> Outcome:
    """Fill in tasks by state, overdue by organisation and messages by kind."""
    from engine.store import Case, OutboxMessage, Task, session_scope

    end = moment(outcome.end, time(23, 59))
    with session_scope(url) as session:
        outcome.tasks = dict(
            session.execute(sa.select(Task.status, sa.func.count()).group_by(Task.status)).all()
        )
        outcome.overdue = dict(
            session.execute(
                sa.select(Case.organisation_id, sa.func.count())
                .join(Task, Task.case_id == Case.id)
                .where(Task.status == "open", Task.due < end)
                .group_by(Case.organisation_id)
                .order_by(Case.organisation_id)
            ).all()
        )
        outcome.messages = dict(
            session.execute(
                sa.select(OutboxMessage.kind, sa.func.count()).group_by(OutboxMessage.kind)
            ).all()
        )
        outcome.failed_messages = session.execute(
            sa.select(sa.func.count()).where(OutboxMessage.status == "failed")
        ).scalar_one()
    outcome.eml_files = sum(1 for _ in outbox.rglob("*.eml")) if outbox.is_dir() else 0
    return outcome


def report_lines(outcome: Outcome, home: Path, log: Path, prefect_home: Path | None) -> list[str]:
    """The closing summary: what happened, and where to look."""
    tasks = ", ".join(
        f"{state} {outcome.tasks.get(state, 0)}"
        for state in ("open", "done", "waived", "cancelled")
    )
    kinds = ("reminder", "overdue", "escalation", "replan", "digest")
    messages = ", ".join(f"{k} {outcome.messages.get(k, 0)}" for k in kinds)
    overdue = ", ".join(f"{org} {n}" for org, n in outcome.overdue.items()) or "none"
    lines = [
        "",
        f"Done: {outcome.start:%a %d %b %Y} to {outcome.end:%a %d %b %Y} simulated in "
        f"{outcome.seconds:.0f} s: {outcome.ticks} tick flow runs through Prefect "
        f"({outcome.flow_seconds / max(outcome.ticks, 1):.2f} s a simulated day), "
        f"{outcome.digests} weekday digests.",
        f"  tasks     {tasks}",
        f"  overdue   {sum(outcome.overdue.values())} at the end: {overdue}",
        f"  messages  {sum(outcome.messages.values())}: {messages}"
        + (f" ({outcome.failed_messages} failed)" if outcome.failed_messages else ""),
        "",
        "Where to look:",
        f"  {home / 'outbox'}/  {outcome.eml_files} .eml files: open any in a mail client",
        f"  alongside --home {home} case list",
        f"  alongside --home {home} task list --overdue --now {outcome.end}T23:59",
        f"  alongside --home {home} audit --limit 20",
        f"  {log}  the log",
    ]
    if prefect_home is not None:
        lines += [
            "  the Prefect UI, with every flow run and its artifacts:",
            f"    PREFECT_HOME={prefect_home} {Path(sys.executable).parent / 'prefect'} "
            "server start",
            "    then open http://127.0.0.1:4200",
        ]
    else:
        lines.append("  the flow runs and their artifacts are in your Prefect server's UI")
    if outcome.failed_runs:
        lines += ["", f"{len(outcome.failed_runs)} flow runs failed: {outcome.failed_runs[:5]}"]
    return lines
