"""The flows against a real Prefect API (the session's test harness), read back through it.

A probe journey declares a free-text fact and a numeric one with values that occur nowhere
else; after the flows run, every flow-run name, parameter, task-run name, log line and
artifact Prefect holds is searched for them.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from engine import service
from engine import sweep as engine_sweep
from engine.catalog import Catalog
from engine.core.actors import operator
from engine.settings import SHIPPED_JOURNEYS
from engine.store import Case, OutboxMessage, Staff, Task, session_scope
from flows import sweep as flows
from tests.conftest import STAFF_YAML, at
from tests.prefect.conftest import eventually

pytestmark = pytest.mark.usefixtures("prefect_api")

NICKNAME = "Zuzanna-Kowalska-Birchwood"  # survivor data: must never reach Prefect
SHOE_SIZE = "730193"
NOW = at("2027-01-06T12:00")

PROBE = """
journey: probe
title: Probe for the privacy tests
calendar: england-and-wales
timezone: Europe/London
start: referral
facts:
  nickname: {type: text}
  shoe_size: {type: integer, min: 0, max: 1000000}
events: [referral]
stages:
  - id: first-days
    title: First days
    starts: referral
    obligations:
      - id: first-call
        title: First call made
        category: contact
        due: 1 day after referral
        remind: [4 hours]
        escalate:
          - {after: 2 hours, notify: team_lead}
          - {after: 1 day, notify: [team_lead, programme_lead]}
      - id: weekly-call
        title: Weekly call
        category: contact
        every: 1 week
"""


@pytest.fixture
def programme(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Staff, two Kent cases (one on the probe journey) and a Romanian one, on SQLite."""
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    for name in ("adult-cjs", "safe-return-romania"):
        shutil.copy(SHIPPED_JOURNEYS / f"{name}.yaml", journeys)
    (journeys / "probe.yaml").write_text(PROBE)
    monkeypatch.setenv("ALONGSIDE_JOURNEYS_DIR", str(journeys))
    url = f"sqlite:///{home / 'alongside.db'}"
    # opened just before the referral's recorded time (09:00 local; 07:00 UTC in Bucharest),
    # so the tick still has every case to plan: each stage starting at the referral starts
    # at that instant (language 1.1, rule 1)
    opened = at("2027-01-04T06:55")
    with session_scope(url) as session:
        service.import_staff(session, STAFF_YAML, opened, operator())
        for ref, journey, navigator, facts in [
            ("KNT-0001", "adult-cjs", "nav@example.org", {"age": "34"}),
            ("KNT-0002", "probe", "nav2@example.org",
             {"nickname": NICKNAME, "shoe_size": SHOE_SIZE}),
            ("RO-0001", "safe-return-romania", "ro-nav@example.org", {}),
        ]:  # fmt: skip
            service.open_case(session, Catalog(journeys), ref, journey, navigator,
                {"referral": "2027-01-04T09:00"}, facts, opened, operator(),
            )  # fmt: skip
    return url


def client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def flush_logs() -> None:
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)


def flow_run(run_id: UUID) -> Any:
    with client() as c:
        return c.read_flow_run(run_id)


def task_runs(run_id: UUID) -> list[Any]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with client() as c:
        return c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))


def logs(run_id: UUID) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with client() as c:
        found = c.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    return [entry.message for entry in found]


def artifacts(run_id: UUID) -> dict[str, Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with client() as c:
        found = c.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return {a.key: a for a in found}


def finished_logs(run_id: UUID) -> list[str]:
    """The run's logs, once the last one (the flow's final state) has reached the API."""
    flush_logs()
    return eventually(
        lambda: (lines := logs(run_id)) and any("Finished in state" in m for m in lines) and lines,
        what="the flow run's logs",
    )


def everything_prefect_holds(run_id: UUID) -> str:
    """Names, parameters, task runs, logs and artifacts of a run, as one text to search."""
    run = flow_run(run_id)
    parts = [run.name, json.dumps(run.parameters, default=str), " ".join(run.tags)]
    parts += [t.name for t in task_runs(run_id)]
    parts += finished_logs(run_id)
    for artifact in artifacts(run_id).values():
        parts += [str(artifact.data), artifact.description or "", artifact.key or ""]
    return "\n".join(parts)


def run(flow_fn: Any, **parameters: Any) -> Any:
    state = flows.call(flow_fn, parameters, "test")
    return state


def test_a_tick_runs_its_batches_as_tasks_and_publishes_what_it_did(programme: str) -> None:
    state = run(flows.tick_flow, now=NOW, batch_size=1)
    assert state.is_completed(), state.message
    totals = state.result()
    run_id = state.state_details.flow_run_id

    ran = flow_run(run_id)
    assert ran.name == f"tick-2027-01-06T12:00:00Z-{run_id.hex[:6]}"
    assert {"alongside", "test"} <= set(ran.tags)
    assert ran.parameters["batch_size"] == 1
    assert datetime.fromisoformat(str(ran.parameters["now"]).replace("Z", "+00:00")) == NOW

    # One Prefect task per batch of one case, then alerts, dispatch and the report.
    assert totals["batches"] == totals["cases"] == 3
    names = eventually(
        lambda: (found := sorted(t.name for t in task_runs(run_id))) and len(found) >= 6 and found,
        what="the task runs",
    )
    assert [n for n in names if n.startswith("reconcile")] == [
        "reconcile-batch-1",
        "reconcile-batch-2",
        "reconcile-batch-3",
    ]
    assert {n.rsplit("-", 1)[0] for n in names} >= {"alerts", "dispatch", "report"}

    published = artifacts(run_id)
    assert set(published) == {flows.TABLE_KEY, flows.SUMMARY_KEY, flows.TREND_KEY}
    table = published[flows.TABLE_KEY].data
    rows = {r["organisation"]: r for r in (json.loads(table) if isinstance(table, str) else table)}
    assert set(rows) == {"kent", "ro", "all"}
    assert rows["all"]["tasks_created"] == totals["created"] > 0
    assert rows["all"]["escalations_sent"] == totals["escalations"] > 0
    assert rows["all"]["messages_sent"] == totals["sent"] > 0
    assert rows["all"]["messages_failed"] == totals["failed"] == 0
    with session_scope(programme) as session:
        overdue = Counter(
            session.execute(
                sa.select(Case.organisation_id)
                .join(Task, Task.case_id == Case.id)
                .where(Task.status == "open", Task.due < NOW)
            ).scalars()
        )
        sent = Counter(
            session.execute(
                sa.select(Staff.organisation_id)
                .select_from(OutboxMessage)
                .join(Staff, Staff.email == OutboxMessage.recipient)
                .where(OutboxMessage.sent_at == NOW, OutboxMessage.status == "sent")
            ).scalars()
        )
    for org in ("kent", "ro"):
        assert rows[org]["overdue_now"] == overdue[org]
        assert rows[org]["messages_sent"] == sent[org]
    assert rows["kent"]["overdue_now"] > 0

    summary = published[flows.SUMMARY_KEY].data
    assert summary.startswith("# Tick at 2027-01-06 12:00 UTC")
    assert "KNT-0002" not in summary  # overdue tasks by organisation and category only
    trend = published[flows.TREND_KEY].data
    trend = {r["organisation"]: r for r in (json.loads(trend) if isinstance(trend, str) else trend)}
    assert trend["kent"]["overdue_now"] == rows["kent"]["overdue_now"]
    assert trend["kent"]["overdue_last_ticks"].split()[-1] == str(rows["kent"]["overdue_now"])

    held = everything_prefect_holds(run_id)
    assert NICKNAME not in held and SHOE_SIZE not in held


def test_a_digest_run_is_named_by_its_time_and_sends(programme: str) -> None:
    state = run(flows.digest_flow, now=at("2027-01-06T08:00"))
    assert state.is_completed(), state.message
    assert state.result()["sent"] >= 2
    run_id = state.state_details.flow_run_id
    assert flow_run(run_id).name == f"digest-2027-01-06T08:00:00Z-{run_id.hex[:6]}"
    held = everything_prefect_holds(run_id)
    assert NICKNAME not in held and SHOE_SIZE not in held


def test_prefect_retries_the_dispatch_and_never_sees_the_error_text(
    programme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[datetime] = []
    real = flows.dispatch

    def flaky(url: str, now: datetime, settings):
        calls.append(now)
        if len(calls) == 1:
            raise ConnectionResetError(f"lost the line while sending about {NICKNAME}")
        return real(url, now, settings)

    monkeypatch.setattr(flows, "dispatch", flaky)
    quick = flows.dispatch_task.with_options(retry_delay_seconds=0)
    monkeypatch.setattr(flows, "PREFECT_STEPS", flows.TickSteps(
        flows.reconcile_task, flows.alerts_task, quick, flows.report_task
    ))  # fmt: skip
    state = run(flows.tick_flow, now=NOW)
    assert state.is_completed(), state.message
    assert len(calls) == 2 and state.result()["sent"] > 0
    run_id = state.state_details.flow_run_id
    eventually(  # the API records the final state a moment after the retry's run count,
        lambda: [  # and may list the run with no state at all until then
            t
            for t in task_runs(run_id)
            if t.name.startswith("dispatch")
            and t.run_count == 2
            and t.state is not None
            and t.state.is_completed()
        ],
        what="the retried dispatch task run, completed",
    )
    held = everything_prefect_holds(run_id)
    assert "ConnectionResetError" in held  # the operator sees what kind of failure it was
    assert NICKNAME not in held


def test_a_failing_batch_fails_the_run_without_leaking_the_statement(
    programme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(url: str, catalog, ids: list[int], now: datetime):
        raise sa.exc.IntegrityError(
            "UPDATE case SET facts=:facts", {"facts": {"nickname": NICKNAME}}, Exception("x")
        )

    monkeypatch.setattr(engine_sweep, "reconcile_batch", broken)
    state = run(flows.tick_flow, now=NOW)
    assert state.is_failed()
    held = everything_prefect_holds(state.state_details.flow_run_id)
    assert "IntegrityError" in held
    assert NICKNAME not in held and "UPDATE case" not in held


def test_the_monthly_report_publishes_last_months_outcomes_with_no_case_reference(
    programme: str,
) -> None:
    from flows import outcomes

    state = run(outcomes.report_flow, now=at("2027-02-03T06:00"))
    assert state.is_completed(), state.message
    totals = state.result()
    assert (totals["from"], totals["to"], totals["triaged"]) == ("2027-01-01", "2027-01-31", 3)
    run_id = state.state_details.flow_run_id
    assert flow_run(run_id).name == f"report-2027-02-03T06:00:00Z-{run_id.hex[:6]}"
    table = artifacts(run_id)[outcomes.OUTCOMES_KEY].data
    rows = {r["organisation"]: r for r in (json.loads(table) if isinstance(table, str) else table)}
    assert set(rows) == {"kent", "ro", "all"}
    assert (rows["kent"]["triaged"], rows["ro"]["triaged"], rows["all"]["triaged"]) == (2, 1, 3)
    held = everything_prefect_holds(run_id)
    for reference in ("KNT-0001", "KNT-0002", "RO-0001", NICKNAME, SHOE_SIZE):
        assert reference not in held
