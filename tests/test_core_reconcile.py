"""The pure halves of reconcile and the alert pass, with no database: the diff between a
plan and a case's tasks, the task lifecycle, and the one-message-per-recipient grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.catalog import load_journey
from engine.core import lifecycle
from engine.core.diff import (
    NOT_PLANNED,
    ExistingTask,
    diff,
    differs,
    new_task,
    planned_fields,
    starting_alert_state,
    starting_alerts,
)
from engine.core.errors import UserError
from engine.core.escalation import rebased
from engine.core.grouping import Escalated, group, items_key, messages_for
from engine.core.messages import EscalatedItem, task_item
from engine.core.planner import PlannedTask

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
DUE = datetime(2027, 3, 5, 23, 59, 59, tzinfo=UTC)
ALERTS = lifecycle.alert_state(1, NOW + timedelta(hours=3))


def planned(obligation: str = "gp", occurrence: int = 1, due: datetime = DUE, **kw) -> PlannedTask:
    fields = {"stage": "first-month", "title": "Registered with a GP", "category": "health"}
    return PlannedTask(
        obligation=obligation,
        occurrence=occurrence,
        due=due,
        precision="day",
        **{**fields, **kw},
    )


def existing(task: PlannedTask, id: int = 7, status="open", sequence=0, **kw) -> ExistingTask:
    fields = {
        "stage": task.stage,
        "title": task.title,
        "category": task.category,
        "due": task.due,
        "precision": task.precision,
    }
    return ExistingTask(
        id=id,
        obligation=task.obligation,
        occurrence=task.occurrence,
        status=status,
        sequence=sequence,
        alerts_handled=2,
        next_alert_at=NOW + timedelta(days=1),
        escalation_level=1,
        **{**fields, **kw},
    )


def run(plan: list[PlannedTask], tasks: list[ExistingTask]):
    return diff(plan, {t.key: t for t in tasks}, NOW, lambda _: ALERTS)


# --- the diff -------------------------------------------------------------------------------


def test_a_new_obligation_is_created_open_with_its_alerts_started() -> None:
    task = planned()
    changes = run([task], [])
    [(created, row)] = changes.created
    assert created is task
    assert row == {
        "obligation": "gp",
        "occurrence": 1,
        "stage": "first-month",
        "title": "Registered with a GP",
        "category": "health",
        "due": DUE,
        "precision": "day",
        "status": "open",
        "sequence": 0,
        "calendar_pending": True,
        **ALERTS,
    }
    assert changes.labels() == {"created": ["gp#1"], "redated": [], "cancelled": []}


def test_a_moved_due_date_redates_bumps_the_sequence_and_restarts_alerts() -> None:
    later = DUE + timedelta(days=14)
    before = existing(planned(), sequence=3)
    changes = run([planned(due=later)], [before])
    [redate] = changes.redated
    assert redate.moved and not redate.reopened
    assert (redate.before.due, redate.planned.due) == (DUE, later)
    assert redate.update["due"] == later and redate.update["sequence"] == 4
    assert redate.update["alerts_handled"] == 1 and redate.update["escalation_level"] == 0
    assert changes.labels()["redated"] == ["gp#1"] and not changes.created


def test_a_new_title_alone_keeps_the_sequence_and_the_ladder() -> None:
    before = existing(planned(), sequence=3)
    [redate] = run([planned(title="GP registration")], [before]).redated
    assert not redate.moved
    assert redate.update["title"] == "GP registration" and redate.update["sequence"] == 3
    assert (redate.update["alerts_handled"], redate.update["escalation_level"]) == (2, 1)


def test_a_cancelled_task_the_plan_wants_again_is_reopened_and_counted_as_created() -> None:
    before = existing(planned(), status="cancelled")
    changes = run([planned()], [before])
    [redate] = changes.redated
    assert redate.reopened and not redate.moved
    assert redate.update["status"] == "open" and redate.update["closed_at"] is None
    assert redate.update["alerts_handled"] == 1  # its ladder starts again
    assert changes.labels() == {"created": ["gp#1"], "redated": [], "cancelled": []}


def test_an_open_task_the_plan_no_longer_wants_is_cancelled() -> None:
    before = existing(planned())
    changes = run([], [before])
    [(task, row)] = changes.cancelled
    assert task is before
    assert row == {
        "status": "cancelled",
        "reason": NOT_PLANNED,
        "closed_at": NOW,
        "next_alert_at": None,
        "calendar_pending": True,
    }


@pytest.mark.parametrize("status", ["done", "waived"])
def test_done_and_waived_tasks_are_never_touched(status: str) -> None:
    gone = existing(planned("gp"), id=1, status=status)
    moved = existing(planned("housing"), id=2, status=status)
    changes = run([planned("housing", due=DUE + timedelta(days=3))], [gone, moved])
    assert not changes
    assert changes.labels() == {"created": [], "redated": [], "cancelled": []}


def test_an_unchanged_plan_changes_nothing() -> None:
    task = planned()
    assert not run([task], [existing(task)])


@pytest.mark.parametrize("name", list(planned_fields(planned())))
def test_each_planned_field_is_compared_and_written(name: str) -> None:
    # `differs` and `new_task` spell the planned fields out for speed: they must not drift
    # from `planned_fields`, the one list of what a task takes from its plan
    task = planned()
    other = {"due": DUE + timedelta(hours=1), "precision": "hour"}.get(name, "changed")
    assert differs(existing(task), task._replace(**{name: other}))
    assert not differs(existing(task), task)
    row = new_task(task, ALERTS)
    assert {k: row[k] for k in planned_fields(task)} == planned_fields(task)


SHIPPED = Path(__file__).resolve().parent.parent / "journeys"
JOURNEYS = [load_journey(path) for path in sorted(SHIPPED.glob("*.yaml"))]


@settings(max_examples=80, deadline=None)
@given(
    journey=st.sampled_from(JOURNEYS),
    data=st.data(),
    due=st.datetimes(datetime(2024, 1, 1), datetime(2031, 12, 31), timezones=st.just(UTC)),
    now_after=st.integers(min_value=-90 * 24, max_value=90 * 24),
)
def test_starting_alerts_are_the_policys_rebased_ladder(journey, data, due, now_after) -> None:
    # the diff's alerts skip the policy for obligations with nothing to send: the same state
    ob = data.draw(st.sampled_from([ob for _, ob in journey.obligations.values()]))
    now = due + timedelta(hours=now_after)
    task = planned(ob.id, due=due)
    clock = journey.clock(ob.id)
    expected = lifecycle.alert_state(*rebased(ob, due, clock.calendar, clock.tz, now))
    assert starting_alerts(journey, now)(task) == expected


def test_occurrences_are_separate_tasks() -> None:
    first = existing(planned("call", 1), id=1, status="done")
    changes = run([planned("call", 2)], [first])
    assert [p.key for p, _ in changes.created] == [("call", 2)]


# --- the lifecycle --------------------------------------------------------------------------


def test_an_open_task_is_done_or_waived_and_its_alerts_stop() -> None:
    done = lifecycle.close(5, "open", "done", NOW, note="registered")
    assert done == {
        "status": "done",
        "closed_at": NOW,
        "next_alert_at": None,
        "note": "registered",
        "reason": None,
        "outcome": None,
        "calendar_pending": True,
    }
    waived = lifecycle.close(5, "open", "waived", NOW, reason="declined")
    assert waived["status"] == "waived" and waived["reason"] == "declined"
    assert waived["outcome"] is None


def test_a_contact_task_is_done_reached_unless_not_reached() -> None:
    def outcome(**given: str | None) -> str | None:
        return lifecycle.close(5, "open", "done", NOW, category="contact", **given)["outcome"]

    assert outcome() == "reached"
    assert outcome(outcome="not_reached") == "not_reached"
    with pytest.raises(UserError, match="task 5 is a court task: only contact tasks have"):
        lifecycle.close(5, "open", "done", NOW, category="court", outcome="reached")
    with pytest.raises(UserError, match="outcome 'nobody' is not one of: reached, not_reached"):
        lifecycle.close(5, "open", "done", NOW, category="contact", outcome="nobody")
    waived = lifecycle.close(5, "open", "waived", NOW, reason="on holiday", category="contact")
    assert waived["outcome"] is None


@pytest.mark.parametrize("status", ["done", "waived", "cancelled"])
def test_only_open_tasks_close(status: str) -> None:
    with pytest.raises(UserError, match=f"task 5 is {status}: only open tasks can be done"):
        lifecycle.close(5, status, "done", NOW)


def test_waiving_needs_a_reason() -> None:
    for reason in (None, "", "   "):
        with pytest.raises(UserError, match="give a reason for waiving"):
            lifecycle.close(5, "open", "waived", NOW, reason=reason)


@pytest.mark.parametrize("status", ["done", "waived"])
def test_done_and_waived_tasks_reopen_with_their_ladder_restarted(status: str) -> None:
    assert lifecycle.reopen(5, status, ALERTS) == {
        "status": "open",
        "closed_at": None,
        "note": None,
        "reason": None,
        "outcome": None,
        "calendar_pending": True,
        **ALERTS,
    }


@pytest.mark.parametrize("status", ["open", "cancelled"])
def test_open_and_cancelled_tasks_do_not_reopen(status: str) -> None:
    with pytest.raises(UserError, match="only done or waived tasks can be reopened"):
        lifecycle.reopen(5, status, ALERTS)


# --- one escalation message per recipient per sweep -----------------------------------------


def escalated(task_id: int, case: str, level: int, *recipients: str) -> Escalated:
    item = task_item(
        case=case,
        task_id=task_id,
        title="Safe accommodation arranged",
        stage="First month",
        category="accommodation",
        due=DUE,
        precision="hour",
    )
    return Escalated(EscalatedItem(**item, level=level, navigator="nav@x.org"), recipients)


def test_each_recipient_gets_one_message_for_all_their_tasks() -> None:
    grouped = group(
        [
            escalated(1, "KNT-1", 1, "lead@x.org"),
            escalated(2, "KNT-2", 2, "lead@x.org", "prog@x.org"),
            escalated(3, "KNT-2", 1, "nav@x.org", "lead@x.org"),
        ]
    )
    assert {key: [i["task_id"] for i in items] for key, items in grouped.items()} == {
        ("escalation", "lead@x.org"): [1, 2, 3],
        ("escalation", "prog@x.org"): [2],
        ("overdue", "nav@x.org"): [3],
    }


def test_a_person_reached_through_two_roles_sees_each_task_once() -> None:
    grouped = group([escalated(1, "KNT-1", 2, "lead@x.org", "lead@x.org")])
    assert [i["task_id"] for i in grouped[("escalation", "lead@x.org")]] == [1]


def test_messages_name_their_case_only_when_they_carry_one() -> None:
    grouped = group(
        [
            escalated(1, "KNT-1", 1, "lead@x.org"),
            escalated(2, "KNT-2", 1, "lead@x.org"),
            escalated(3, "KNT-3", 1, "prog@x.org"),
        ]
    )
    found = {m.recipient: m for m in messages_for(grouped, lambda _: "Europe/London")}
    assert found["lead@x.org"].case_ref is None and found["prog@x.org"].case_ref == "KNT-3"
    assert found["lead@x.org"].payload["timezone"] == "Europe/London"
    assert found["lead@x.org"].kind == "escalation"


def test_the_key_follows_the_tasks_and_steps_not_their_order() -> None:
    one, two = escalated(1, "K", 1).item, escalated(2, "K", 1).item
    assert items_key("escalation", "a", [one, two]) == items_key("escalation", "a", [two, one])
    higher = escalated(2, "K", 2).item
    assert items_key("escalation", "a", [one, two]) != items_key("escalation", "a", [one, higher])
    assert items_key("escalation", "a", [one]) != items_key("overdue", "a", [one])


def test_a_reopened_tasks_alerts_count_on_its_obligations_own_clock() -> None:
    # `task reopen` and the sweep share starting_alert_state. The Romanian journey's
    # Victims' Code duties count English working days: told of a charge by Friday 28 May
    # 2027, the first step is Tuesday 1 June after the spring bank holiday, not Monday.
    from engine.core.calendar import get_calendar
    from engine.core.lifecycle import alert_state

    journey = next(j for j in JOURNEYS if j.journey == "safe-return-romania")
    _, ob = journey.obligations["told-of-charge"]
    due = datetime(2027, 5, 28, 22, 59, 59, tzinfo=UTC)  # 23:59:59 in London
    now = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
    own = rebased(ob, due, get_calendar("england-and-wales"), ZoneInfo("Europe/London"), now)
    journeys_clock = rebased(ob, due, get_calendar(journey.calendar), journey.tz, now)
    assert own != journeys_clock  # the two clocks disagree on this day
    assert starting_alert_state(journey, "told-of-charge", due, now) == alert_state(*own)
    assert starting_alert_state(journey, "no-such-obligation", due, now) == alert_state(0, None)
