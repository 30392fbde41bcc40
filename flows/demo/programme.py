"""The demo programme: its organisations, staff, how diligent each navigator is, and the
story of its cases (what people do on which simulated day)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

import yaml

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
            events |= {"charge": charged, "hearing_listed": charged + r.randint(20, 40)}
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
            self.event(charge + 18, ref, hearing_listed=charge + 18, trial=charge + 260)

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
    s.event(30, "KNT-0102", hearing_listed=30, trial=150)  # the trial is re-listed
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
