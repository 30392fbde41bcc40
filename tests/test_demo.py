"""`alongside demo`: its story fits the shipped journeys, and on a fresh home it runs to the end.

The story and the simulated people are checked without Prefect (fast); one test runs the
real command in a fresh process and home, ephemeral Prefect API and all, as `make demo` does.
"""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import service
from engine.core.actors import operator
from engine.core.values import check_event_name, parse_fact
from engine.store import Case, OutboxMessage, Task, session_scope
from flows import sweep as flows
from flows.demo import programme, simulation, summary
from tests.conftest import STAFF_YAML, at, shipped_catalog
from tests.prefect.commands import alongside, child_env

START = date(2027, 3, 1)


def test_the_story_is_thirty_cases_on_the_four_journeys_in_four_organisations() -> None:
    actions = programme.story(START, seed=7)
    opened = [a for a in actions if a.kind == "open"]
    assert len(opened) == len({a.ref for a in opened}) == 30
    assert {a.journey for a in opened} == {
        "adult-cjs",
        "child-cjs",
        "adult-declined-nrm",
        "safe-return-romania",
    }
    organisation = {email: org for email, _, _, org, _ in programme.STAFF}
    assert {organisation[a.navigator] for a in opened} == {"kent", "emsou", "glaa", "romania"}
    assert all(
        organisation[a.navigator] == "romania" for a in opened if a.journey == "safe-return-romania"
    )
    assert all(email.endswith("@example.org") for email in organisation)
    assert [a.ref for a in actions if a.kind == "close"] == ["KNT-0108"]
    relisted = [a for a in actions if a.ref == "KNT-0102" and "trial" in a.events]
    assert len(relisted) == 2 and relisted[0].events["trial"] != relisted[1].events["trial"]
    assert any("charge" in a.events for a in actions if a.day > 0)  # charges during the run
    assert actions == sorted(actions, key=lambda a: a.day)
    assert programme.story(START, seed=7) == actions  # seeded: the same every time


def test_every_event_and_fact_in_the_story_is_one_its_journey_declares(home: Path) -> None:
    actions = programme.story(START, seed=7)
    journey_of = {a.ref: a.journey for a in actions if a.kind == "open"}
    for action in actions:
        journey = shipped_catalog().resolve(journey_of[action.ref])
        for name in action.events:
            check_event_name(journey, name)
        for name, value in action.facts.items():
            parse_fact(journey, name, value)


def test_the_people_open_cases_record_events_and_do_some_of_their_work(staffed: str) -> None:
    """Three weeks with the tick called directly: the story plays out and work gets done."""
    ticks: list[object] = []

    def tick(now) -> bool:
        ticks.append(flows.run_tick(now, 100, flows.PLAIN_STEPS))
        return True

    outcome = simulation.simulate(
        staffed, shipped_catalog(), START, 21, 7, tick, flows.digest_steps, lambda _: None
    )
    assert outcome.ticks == len(ticks) == 21 and outcome.digests == 15
    expected = {a.ref for a in programme.story(START, 7) if a.kind == "open" and a.day < 21}
    with session_scope(staffed) as session:
        refs = set(session.execute(sa.select(Case.ref)).scalars())
        states = dict(
            session.execute(sa.select(Task.status, sa.func.count()).group_by(Task.status)).all()
        )
        kinds = set(session.execute(sa.select(OutboxMessage.kind).distinct()).scalars())
    assert refs == expected
    assert states["done"] > states["open"] > 0
    assert {"reminder", "digest", "escalation"} <= kinds
    summed = summary.summarise(staffed, outcome, Path("/nonexistent"))
    assert sum(summed.tasks.values()) == sum(states.values())


def run_demo(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`alongside demo` in a new process, with none of this test process's settings."""
    return subprocess.run(
        alongside("demo", *args),
        cwd=home.parent,
        env=child_env(ALONGSIDE_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_demo_refuses_a_home_it_did_not_make(home: Path) -> None:
    with session_scope(f"sqlite:///{home / 'alongside.db'}") as session:
        service.import_staff(session, STAFF_YAML, at("2026-01-01T00:00"), operator())
    result = run_demo(home)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "fresh home" in result.stderr
    assert not (home / "outbox").exists()


@pytest.mark.slow
def test_the_demo_on_a_fresh_home_runs_to_the_end_and_leaves_messages(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    result = run_demo(home)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    messages = list((home / "outbox").glob("*.eml"))
    assert len(messages) > 100
    assert "Subject:" in messages[0].read_text()
    out = result.stdout
    assert "120 tick flow runs through Prefect" in out
    for heading in ("tasks ", "overdue ", "messages ", "Where to look:", "prefect server start"):
        assert heading in out
    assert "Open the demo in a browser" in out
    assert out.count("http://127.0.0.1:8000/sign-in/") == 3  # navigator, team lead, programme lead
