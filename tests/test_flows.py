"""The flows' batching and reporting, with no Prefect API at all.

`run_tick` takes its steps as plain callables, so these tests drive the exact code path
the `tick` flow runs, with the steps' own functions in place of the Prefect tasks. The
suite's conftest disables Prefect's ephemeral server: any accidental Prefect call fails.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from engine import service
from engine.core.actors import operator
from engine.core.errors import UserError
from engine.store import AuditEntry, Case, OutboxMessage, Staff, Task, session_scope
from flows import report
from flows import sweep as flows
from tests.conftest import at, shipped_catalog

KENT = ["KNT-0001", "KNT-0002", "KNT-0003", "KNT-0004"]


def open_cases(url: str) -> None:
    """Four Kent cases and one Romanian, referred on 4 January 2027 at 09:00 local and opened
    just before (06:55 UTC is before 09:00 in Bucharest too), so that a tick has them all to
    plan: their stages start at 09:00 (language 1.1, rule 1: an event recorded with a time
    starts a stage at that instant)."""
    opened = at("2027-01-04T06:55")
    with session_scope(url) as session:
        for ref in KENT:
            service.open_case(session, shipped_catalog(), ref, "adult-cjs", "nav@example.org",
                {"referral": "2027-01-04T09:00"}, {"age": "34"}, opened, operator(),
            )  # fmt: skip
        service.open_case(session, shipped_catalog(), "RO-0001", "safe-return-romania",
            "ro-nav@example.org",
            {"referral": "2027-01-04T09:00"}, {}, opened, operator(),
        )  # fmt: skip


class Spy:
    """The plain steps, recording what `run_tick` asked of them."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, list[int]]] = []
        self.order: list[str] = []
        self.reports: list[flows.TickResult] = []

    def reconcile(self, number: int, ids: list[int], now: datetime) -> flows.StepResult:
        self.batches.append((number, ids))
        self.order.append("reconcile")
        return flows.reconcile_batch(number, ids, now)

    def alerts(self, now: datetime) -> flows.StepResult:
        self.order.append("alerts")
        return flows.send_alerts(now)

    def dispatch(self, now: datetime) -> flows.Dispatched:
        self.order.append("dispatch")
        return flows.dispatch_due(now)

    def report(self, result: flows.TickResult) -> None:
        self.order.append("report")
        self.reports.append(result)

    def steps(self) -> flows.TickSteps:
        return flows.TickSteps(self.reconcile, self.alerts, self.dispatch, self.report)


def case_ids(url: str) -> list[int]:
    with session_scope(url) as session:
        return list(session.execute(sa.select(Case.id).order_by(Case.id)).scalars())


def test_a_tick_reconciles_in_batches_of_the_batch_size_then_alerts_then_dispatches(
    staffed: str,
) -> None:
    open_cases(staffed)
    spy = Spy()
    # Two days on: time alone has started the first month of every case.
    result = flows.run_tick(at("2027-01-06T12:00"), 2, spy.steps())

    assert [n for n, _ in spy.batches] == [1, 2, 3]
    assert [len(ids) for _, ids in spy.batches] == [2, 2, 1]
    assert sorted(i for _, ids in spy.batches for i in ids) == case_ids(staffed)
    assert spy.order == ["reconcile"] * 3 + ["alerts", "dispatch", "report"]
    assert spy.reports == [result]
    assert result.batches == 3
    totals = result.totals()
    assert totals["cases"] == 5 and totals["created"] > 0 and totals["escalations"] > 0
    assert totals["sent"] > 0 and totals["failed"] == 0

    # A second tick at the same instant finds nothing to plan and nothing to send.
    again = flows.run_tick(at("2027-01-06T12:00"), 2, Spy().steps())
    assert again.batches == 0
    assert again.totals()["created"] == 0 and again.totals()["sent"] == 0


def test_a_batch_size_larger_than_the_caseload_is_one_batch(staffed: str) -> None:
    open_cases(staffed)
    spy = Spy()
    flows.run_tick(at("2027-01-06T12:00"), 500, spy.steps())
    assert [len(ids) for _, ids in spy.batches] == [5]


def test_a_tick_with_nothing_due_runs_no_batch(staffed: str) -> None:
    spy = Spy()
    result = flows.run_tick(at("2027-01-06T12:00"), 10, spy.steps())
    assert spy.batches == [] and result.batches == 0
    assert spy.order == ["alerts", "dispatch", "report"]


def test_the_batch_size_must_be_positive(staffed: str) -> None:
    with pytest.raises(UserError):
        flows.run_tick(at("2027-01-06T12:00"), 0, flows.PLAIN_STEPS)


def test_the_report_splits_the_tick_by_organisation_and_adds_up(staffed: str) -> None:
    open_cases(staffed)
    now = at("2027-01-06T12:00")
    result = flows.run_tick(now, 2, flows.PLAIN_STEPS)
    table, markdown = flows.build_report(result)
    rows = {r["organisation"]: r for r in table}
    assert set(rows) == {"kent", "ro", "all"}
    totals = result.totals()
    for column, total in [
        ("tasks_created", "created"),
        ("tasks_redated", "redated"),
        ("tasks_cancelled", "cancelled"),
        ("escalations_sent", "escalations"),
        ("messages_sent", "sent"),
        ("messages_failed", "failed"),
    ]:
        assert rows["kent"][column] + rows["ro"][column] == rows["all"][column] == totals[total]

    with session_scope(staffed) as session:
        overdue = Counter(
            session.execute(
                sa.select(Case.organisation_id)
                .join(Task, Task.case_id == Case.id)
                .where(Task.status == "open", Task.due < now)
            ).scalars()
        )
        created: Counter = Counter()
        for org, detail in session.execute(
            sa.select(Case.organisation_id, AuditEntry.detail)
            .join(Case, Case.ref == AuditEntry.case_ref)
            .where(AuditEntry.at == now, AuditEntry.action == "reconcile")
        ):
            created[org] += len(detail.get("created", []))
        sent = Counter(
            session.execute(
                sa.select(Staff.organisation_id)
                .select_from(OutboxMessage)
                .join(Staff, Staff.email == OutboxMessage.recipient)
                .where(OutboxMessage.status == "sent", OutboxMessage.sent_at == now)
            ).scalars()
        )
    assert {o: rows[o]["overdue_now"] for o in ("kent", "ro")} == {
        o: overdue[o] for o in ("kent", "ro")
    }
    assert rows["kent"]["overdue_now"] > 0
    assert (
        rows["kent"]["messages_sent"] == sent["kent"] and rows["ro"]["messages_sent"] == sent["ro"]
    )
    assert rows["kent"]["tasks_created"] == created["kent"] > 0
    assert rows["ro"]["tasks_created"] == created["ro"]

    assert markdown.startswith("# Tick at 2027-01-06 12:00 UTC")
    assert "## Failed messages" in markdown and "None in this tick." in markdown
    assert "## Oldest overdue tasks" in markdown and "| kent | accommodation |" in markdown
    # Case references only where an operator must act (failed messages), and no titles.
    assert "KNT-0001" not in markdown and "Safe accommodation arranged" not in markdown


def test_failed_messages_are_listed_with_their_case_reference(staffed: str) -> None:
    open_cases(staffed)
    now = at("2027-01-06T12:00")
    with session_scope(staffed) as session:
        session.add(
            OutboxMessage(
                key="x", kind="reminder", recipient="nav@example.org", case_ref="KNT-0002",
                status="failed", attempts=3, created_at=now, last_error="550 mailbox unavailable",
            )
        )  # fmt: skip
    result = flows.run_tick(now, 10, flows.PLAIN_STEPS)
    result.dispatched.delivery.failed.append(
        {"id": 99, "kind": "escalation", "recipient": "lead@example.org", "case": "KNT-0003",
         "attempts": 3, "error": "550 no such user"}
    )  # fmt: skip
    _, markdown = flows.build_report(result)
    assert "| 99 | escalation | lead@example.org | KNT-0003 | 3 | 550 no such user |" in markdown
    assert "1 failed messages in all are waiting" in markdown


def test_the_digest_steps_queue_and_send_each_persons_digest(staffed: str) -> None:
    open_cases(staffed)
    flows.run_tick(at("2027-01-06T07:00"), 10, flows.PLAIN_STEPS)
    totals = flows.digest_steps(at("2027-01-06T08:00"))
    with session_scope(staffed) as session:
        digests = session.execute(
            sa.select(OutboxMessage.recipient, OutboxMessage.status).where(
                OutboxMessage.kind == "digest"
            )
        ).all()
    # Both navigators have tasks due this week; their leads have overdue work to hear of.
    assert {"nav@example.org", "ro-nav@example.org"} <= {r for r, _ in digests}
    assert {s for _, s in digests} == {"sent"}
    assert totals["sent"] >= len(digests) and totals["failed"] == 0


def test_instants_and_run_names() -> None:
    assert flows.instant("2027-03-01T09:15:00Z") == datetime(2027, 3, 1, 9, 15, tzinfo=UTC)
    assert flows.instant("2027-03-01T09:15") == datetime(2027, 3, 1, 9, 15, tzinfo=UTC)
    assert flows.instant(datetime(2027, 3, 1, 10, 15)).tzinfo == UTC
    assert flows.stamp(at("2027-03-01T09:15:42")) == "2027-03-01T09:15Z"
    run_id = "3f2a9c71-0000-4000-8000-000000000000"
    assert flows.name_for("tick", at("2027-03-01T09:15:42"), run_id) == (
        "tick-2027-03-01T09:15:42Z-3f2a9c"
    )
    assert abs((flows.instant(None) - datetime.now(UTC)).total_seconds()) < 60


def test_the_flows_take_only_an_instant_and_a_batch_size() -> None:
    assert set(flows.tick_flow.parameters.properties) == {"now", "batch_size"}
    assert set(flows.digest_flow.parameters.properties) == {"now"}
    assert flows.dispatch_task.retries == flows.DISPATCH_RETRIES > 0
    assert flows.reconcile_task.retries == 0  # a batch is one transaction: the next tick redoes it


def test_a_step_error_reaches_prefect_as_its_type_only(caplog: pytest.LogCaptureFixture) -> None:
    secret = "Zuzanna-Kowalska-1987"

    def fails() -> None:
        raise sa.exc.IntegrityError("UPDATE case SET facts=?", {"facts": secret}, Exception("x"))

    with pytest.raises(flows.StepFailed) as raised:
        flows.private(fails)()
    assert secret not in str(raised.value) and "IntegrityError" in str(raised.value)
    assert raised.value.__suppress_context__
    assert secret in caplog.text  # the whole error is in the local log

    def refuses() -> None:
        raise UserError("unknown case 'KNT-0009'")

    with pytest.raises(UserError, match="KNT-0009"):
        flows.private(refuses)()


def test_organisation_table_lists_every_organisation_and_a_total() -> None:
    table = report.organisation_table(
        ["kent", "ro"], {"kent": Counter(tasks_created=2), "x": Counter(messages_sent=1)}
    )
    assert [r["organisation"] for r in table] == ["kent", "ro", "x", "all"]
    assert table[-1]["tasks_created"] == 2 and table[-1]["messages_sent"] == 1
    assert table[1] == {"organisation": "ro", **dict.fromkeys(report.COLUMNS, 0)}
