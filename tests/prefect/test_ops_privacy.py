"""Privacy over everything Prefect holds after a demo-like run (the session's Prefect API).

The demo's programme and story on the shipped journeys, lived through for three weeks
with every tick a Prefect flow run, plus one probe case whose facts are values that occur
nowhere else, on a probe journey with a conditional obligation. Then every run name,
state message, parameter, task-run name, log line, artifact and event Prefect holds for
those runs is searched: no fact value, and no title of an obligation that exists only
when a condition holds (`when:`), from any journey.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from engine import service
from engine.catalog import Catalog
from engine.core.actors import operator
from engine.settings import SHIPPED_JOURNEYS, Settings
from engine.store import Case, session_scope
from flows import sweep as flows
from flows.demo import simulation
from tests.prefect.test_flows_api import everything_prefect_holds, flow_run

pytestmark = pytest.mark.usefixtures("prefect_api")

NICKNAME = "Wiktoria-Quennell-Fairbairn"
SHOE_SIZE = "918273"
PROBE_TITLE = "Tawny-Owl check for probe"

PROBE = f"""
journey: probe
title: Probe for the privacy tests
calendar: england-and-wales
timezone: Europe/London
start: referral
facts:
  nickname: {{type: text}}
  shoe_size: {{type: integer, min: 0, max: 1000000}}
events: [referral]
stages:
  - id: first-days
    title: First days
    starts: referral
    obligations:
      - id: conditional
        title: {PROBE_TITLE}
        category: safety
        due: 1 day after referral
        when: shoe_size > 1000
        escalate:
          - {{after: 2 hours, notify: team_lead}}
      - id: first-call
        title: First call made
        category: contact
        due: 1 day after referral
        escalate:
          - {{after: 2 hours, notify: team_lead}}
"""


def conditional_titles(catalog: Catalog) -> set[str]:
    titles = set()
    for path in catalog.files():
        journey = catalog.resolve(str(path))
        titles |= {ob.title for _, ob in journey.obligations.values() if ob.when is not None}
    return titles


def events_of(api: str, since: datetime, run_ids: set[str]) -> list[dict]:
    """Every Alongside event since `since`, and Prefect's own events about these runs."""
    found: list[dict] = []
    body = {"filter": {"occurred": {"since": since.isoformat()}}, "limit": 50}
    response = httpx.post(f"{api}/events/filter", json=body, timeout=30).json()
    for _ in range(400):  # pages of 50: bounded
        found += response["events"]
        if not response.get("next_page"):
            break
        response = httpx.get(response["next_page"], timeout=30).json()
    mine = []
    for event in found:
        ids = {event["resource"]["prefect.resource.id"]}
        ids |= {r["prefect.resource.id"] for r in event.get("related", [])}
        if event["event"].startswith("alongside.") or any(
            i.removeprefix("prefect.flow-run.") in run_ids for i in ids
        ):
            mine.append(event)
    return mine


def test_nothing_prefect_holds_after_a_demo_like_run_gives_a_fact_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api: str
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(SHIPPED_JOURNEYS, journeys)
    (journeys / "probe.yaml").write_text(PROBE)
    home = tmp_path / "home"
    for name in ("ALONGSIDE_DATABASE_URL", "ALONGSIDE_TRANSPORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(home=home, journeys_dir=journeys, transport="file")
    catalog = settings.catalog
    titles = conditional_titles(catalog)
    assert PROBE_TITLE in titles and len(titles) > 10

    since = datetime.now().astimezone()
    states = []

    def tick(now: datetime) -> bool:
        if not states:  # the probe case joins on the first morning, once staff exist
            with session_scope(settings.url) as session:
                service.open_case(session, catalog, "KNT-9001", "probe", "amira@example.org",
                    {"referral": now.isoformat()}, {"nickname": NICKNAME, "shoe_size": SHOE_SIZE},
                    now, operator(),
                )  # fmt: skip
        state = flows.call(flows.tick_flow, {"now": now}, "demo")
        states.append(state)
        return state.is_completed()

    with flows.using(settings):
        outcome = simulation.simulate(
            settings.url, catalog, date(2027, 1, 4), 21, 7, tick, flows.digest_steps, print
        )
    assert outcome.ticks == 21 and len(states) == 21

    run_ids = {str(s.state_details.flow_run_id) for s in states}
    held = [everything_prefect_holds(s.state_details.flow_run_id) for s in states]
    held += [f"{flow_run(s.state_details.flow_run_id).state.message}" for s in states]
    held += [s.message or "" for s in states]
    events = events_of(prefect_api, since, run_ids)
    assert any(e["event"] == "alongside.tick.completed" for e in events)
    held.append(json.dumps(events))
    text = "\n".join(held)

    with session_scope(settings.url) as session:
        rows = session.execute(sa.select(Case.facts)).scalars()
        facts = {str(v) for f in rows for v in f.values()}
    assert NICKNAME in facts and SHOE_SIZE in facts
    # Booleans and small numbers are everywhere in counts: the distinctive values are tested.
    distinctive = {v for v in facts if len(v) >= 5 and v not in {"true", "false"}}
    assert {NICKNAME, SHOE_SIZE} <= distinctive
    for value in distinctive:
        assert value not in text, f"fact value {value!r} reached Prefect"
    for title in titles:
        assert title not in text, f"the title of a conditional obligation {title!r} reached Prefect"
    assert "tick-summary" in text and "tick-trend" in text  # the artifacts were searched
