"""Health in the run's state, and the tick's events, against the session's Prefect API.

Real parts: an aiosmtpd server on loopback refuses one recipient with 550, dispatch tries
it for real until it gives up, and the tick's state, events and artifacts are read back
from the Prefect API.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.core.actors import operator
from engine.outbox import Message, queue
from engine.store import session_scope
from flows import health
from flows import sweep as flows
from notifications.dispatch import MAX_ATTEMPTS, backoff, dispatch
from notifications.testing import Recorder, smtp_server
from tests.conftest import at
from tests.prefect.conftest import eventually
from tests.prefect.test_flows_api import artifacts

pytestmark = pytest.mark.usefixtures("prefect_api")

T0 = at("2027-01-06T09:00")


def reminder(case: str) -> dict:
    return {
        "case": case,
        "task_id": 1,
        "title": "Task number 1",
        "stage": "First month",
        "category": "accommodation",
        "due": "2027-01-06T23:59:59+00:00",
        "precision": "day",
        "sequence": 0,
        "timezone": "Europe/London",
    }


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch, home: Path) -> Recorder:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        monkeypatch.setenv("ALONGSIDE_TRANSPORT", "smtp")
        monkeypatch.setenv("ALONGSIDE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ALONGSIDE_SMTP_PORT", str(port))
        monkeypatch.setenv("ALONGSIDE_SMTP_TIMEOUT", "5")
        yield recorder


def read_events(api: str, prefix: str, since: datetime) -> list[dict[str, Any]]:
    body = {
        "filter": {
            "event": {"prefix": [prefix]},
            "occurred": {"since": since.isoformat()},
        },
        "limit": 50,
    }
    response = httpx.post(f"{api}/events/filter", json=body, timeout=30)
    response.raise_for_status()
    return response.json()["events"]


def test_a_tick_with_one_refused_message_ends_failed_with_the_count(
    staffed: str, smtp: Recorder, prefect_api: str
) -> None:
    from engine.settings import Settings

    began = datetime.now(T0.tzinfo) - timedelta(seconds=5)
    smtp.refuse["nav2@example.org"] = "550 5.1.1 No such user"
    with session_scope(staffed) as session:
        queue(
            session,
            [
                Message("reminder:1:0", "reminder", "nav2@example.org", "KNT-0042", reminder("x")),
                Message("reminder:2:0", "reminder", "nav@example.org", "KNT-0043", reminder("y")),
            ],
            T0,
        )
    # Dispatch tries the refused message for real until its last attempt is due...
    moment = T0
    for attempt in range(1, MAX_ATTEMPTS):
        dispatch(staffed, moment, Settings())
        moment += backoff(attempt)
    # ... which the tick makes: the message fails for good, and the run says so.
    state = flows.call(flows.tick_flow, {"now": moment}, "test")
    assert state.is_failed()
    assert state.message == "1 message failed"
    run_id = state.state_details.flow_run_id

    # The work is kept: the tick's own figures are in its artifacts.
    published = artifacts(run_id)
    table = published[flows.TABLE_KEY].data
    rows = {r["organisation"]: r for r in (json.loads(table) if isinstance(table, str) else table)}
    assert rows["kent"]["messages_failed"] == 1
    assert list(rows["kent"])[:4] == [
        "organisation",
        "messages_failed",
        "overdue_now",
        "escalations_sent",
    ]
    summary = published[flows.SUMMARY_KEY].data
    assert "KNT-0042" in summary  # a failed message names its case, so someone can act
    assert "KNT-0043" not in summary

    found = eventually(
        lambda: [
            e
            for e in read_events(prefect_api, "alongside.", began)
            if e["resource"]["prefect.resource.id"] == f"alongside.tick.{run_id}"
        ],
        what="the tick's events",
    )
    names = sorted(e["event"] for e in found)
    assert names == [health.MESSAGE_FAILED, health.TICK_COMPLETED]
    failed = next(e for e in found if e["event"] == health.MESSAGE_FAILED)
    assert failed["payload"] == {"organisation": "kent", "count": 1}
    related = {r["prefect.resource.id"]: r["prefect.resource.role"] for r in failed["related"]}
    assert related["alongside.organisation.kent"] == "organisation"
    assert related[f"prefect.flow-run.{run_id}"] == "flow-run"  # Prefect links the run
    assert "alongside.organisation.ro" not in related
    completed = next(e for e in found if e["event"] == health.TICK_COMPLETED)
    assert completed["payload"]["healthy"] is False
    assert completed["payload"]["summary"] == "1 message failed"
    assert "KNT-0042" not in json.dumps(found)  # events carry counts and organisations only


def test_overdue_work_over_the_threshold_fails_the_run_and_a_healthy_tick_completes(
    staffed: str, prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import service
    from tests.conftest import shipped_catalog

    with session_scope(staffed) as session:
        for ref in ("KNT-0001", "KNT-0002"):
            service.open_case(session, shipped_catalog(), ref, "adult-cjs", "nav@example.org",
                {"referral": "2027-01-04T09:00"}, {"age": "34"}, at("2027-01-04T09:05"), operator(),
            )  # fmt: skip
    quiet = flows.call(flows.tick_flow, {"now": at("2027-01-04T09:10")}, "test")
    assert quiet.is_completed(), quiet.message
    assert quiet.message == "healthy"

    monkeypatch.setenv("ALONGSIDE_OVERDUE_THRESHOLD", "1000")
    monkeypatch.setenv("ALONGSIDE_OVERDUE_THRESHOLDS", '{"kent": 1}')
    late = flows.call(flows.tick_flow, {"now": at("2027-01-20T12:00")}, "test")
    assert late.is_failed()
    assert late.message == "1 organisation over its overdue threshold (kent)"


def test_the_health_line_names_counts_and_organisations_only() -> None:
    verdict = health.assess(
        {"kent": 2, "ro": 0},
        {"kent": 40, "ro": 3, "x": 9},
        {"kent": 10, "x": 5}.get,
        ["reconcile", "reconcile", "alerts"],
        1,
    )
    assert not verdict.ok
    assert verdict.line() == (
        "3 steps failed (reconcile x2, alerts); 2 messages failed; "
        "1 case could not be planned; 2 organisations over their overdue threshold (kent, x)"
    )
    assert health.assess({}, {"kent": 4}, lambda org: None, [], 0).line() == "healthy"
