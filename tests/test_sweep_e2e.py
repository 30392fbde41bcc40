"""One adult-cjs case driven through months of simulated time with the sweep.

Runs on SQLite and (in CI) PostgreSQL. Every instant is explicit; nothing sleeps.
"""

from __future__ import annotations

import sqlalchemy as sa

from engine import service, sweep
from engine.core.actors import operator
from engine.store import OutboxMessage, Task, session_scope
from tests.conftest import at, shipped_catalog

REF = "KNT-0042"


def tasks(url: str) -> dict[tuple[str, int], Task]:
    with session_scope(url) as session:
        rows = session.execute(sa.select(Task)).scalars().all()
        return {(t.obligation, t.occurrence): t for t in rows}


def messages(url: str) -> list[OutboxMessage]:
    """Every message but calendar entries (tests/test_notify_people.py follows those)."""
    with session_scope(url) as session:
        query = sa.select(OutboxMessage).where(OutboxMessage.kind != "calendar")
        return list(session.execute(query.order_by(OutboxMessage.id)).scalars().all())


def new_messages(url: str, seen: int) -> list[OutboxMessage]:
    return messages(url)[seen:]


def do(url: str, action, *args, now: str):
    with session_scope(url) as session:
        return action(session, shipped_catalog(), *args, at(now), operator())


def task_id(url: str, obligation: str, occurrence: int = 1) -> int:
    return tasks(url)[(obligation, occurrence)].id


def open_case(url: str) -> None:
    with session_scope(url) as session:
        service.open_case(
            session,
            shipped_catalog(),
            REF,
            "adult-cjs",
            "nav@example.org",
            {"referral": "2027-01-04T09:00"},
            {"age": "34", "uk_national": "false"},
            at("2027-01-04T09:05"),
            operator(),
        )


def test_a_case_through_months_of_simulated_time(staffed: str) -> None:
    url = staffed
    open_case(url)

    # Tasks appear as soon as their anchors are recorded: the first month, not the trial.
    planned = tasks(url)
    assert planned[("safe-accommodation", 1)].due == at("2027-01-05T09:00")
    assert planned[("safe-accommodation", 1)].precision == "hour"
    assert planned[("support-services-referral", 1)].due == at("2027-01-06T23:59:59")
    assert not any(ob == "pre-trial-visit" for ob, _ in planned)
    # A stage starting at `referral`, recorded with a time, starts at that instant (language
    # 1.1: stage boundaries start their day, or are the event's instant), so its recurring
    # check-ins start at once: the first a week after, at the end of that day.
    assert planned[("weekly-check-in", 1)].due == at("2027-01-11T23:59:59")

    # 4 hours before the due instant: one reminder per task to the navigator, at once.
    counts = sweep.plan_and_alert(url, shipped_catalog(), at("2027-01-05T05:00"))
    assert counts.reminders == 2  # safe accommodation and essentials
    assert counts.created == 0 and counts.cases == 0  # nothing for time alone to change yet
    sent = messages(url)
    assert {m.kind for m in sent} == {"reminder"}
    assert {m.recipient for m in sent} == {"nav@example.org"}
    assert {m.payload["title"] for m in sent} == {
        "Safe accommodation arranged",
        "Food, phone and interpreter in place",
    }

    # 2 hours after the due instant: the team lead, once, both tasks in one message.
    seen = len(sent)
    assert sweep.plan_and_alert(url, shipped_catalog(), at("2027-01-05T10:59:59")).escalations == 0
    counts = sweep.plan_and_alert(url, shipped_catalog(), at("2027-01-05T11:00"))
    assert counts.escalations == 2
    fresh = new_messages(url, seen)
    # 08:00 local, one working day before its end-of-day deadline: the support referral.
    reminder = next(m for m in fresh if m.kind == "reminder")
    assert reminder.payload["title"] == "Referred to victim support services"
    assert reminder.next_attempt_at == at("2027-01-05T10:59:59")  # the sweep that found it
    fresh = [m for m in fresh if m.kind != "reminder"]
    assert [(m.kind, m.recipient) for m in fresh] == [("escalation", "lead@example.org")]
    assert {i["title"] for i in fresh[0].payload["items"]} == {
        "Safe accommodation arranged",
        "Food, phone and interpreter in place",
    }
    assert tasks(url)[("safe-accommodation", 1)].escalation_level == 1

    # The navigator sorts the essentials; accommodation is still open a working day later.
    do(url, service.complete_task, task_id(url, "essentials"), None, "done", now="2027-01-05T12:00")
    seen = len(messages(url))
    sweep.plan_and_alert(url, shipped_catalog(), at("2027-01-06T23:59:58"))
    assert all(
        m.payload.get("items", [{}])[0].get("title") != "Safe accommodation arranged"
        or m.kind != "escalation"
        for m in new_messages(url, seen)
    )
    seen = len(messages(url))
    sweep.plan_and_alert(
        url, shipped_catalog(), at("2027-01-06T23:59:59")
    )  # end of the next working day after the due date
    fresh = [m for m in new_messages(url, seen) if m.kind == "escalation"]
    to = {m.recipient: m for m in fresh}
    assert set(to) == {"lead@example.org", "prog@example.org"}
    level2 = [
        i
        for i in to["prog@example.org"].payload["items"]
        if i["title"] == "Safe accommodation arranged"
    ]
    assert level2 and level2[0]["level"] == 2
    assert tasks(url)[("safe-accommodation", 1)].escalation_level == 2
    do(
        url,
        service.complete_task,
        task_id(url, "safe-accommodation"),
        None,
        None,
        now="2027-01-07T09:00",
    )

    # A second sweep at the same instant changes nothing and queues nothing.
    seen = len(messages(url))
    again = sweep.plan_and_alert(url, shipped_catalog(), at("2027-01-06T23:59:59"))
    assert (again.created, again.redated, again.cancelled, again.reminders, again.escalations) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert len(messages(url)) == seen

    # Recurring check-ins: the next one falls due a week after the last was completed.
    do(
        url,
        service.complete_task,
        task_id(url, "weekly-check-in"),
        at("2027-01-10T10:00"),
        None,
        now="2027-01-10T10:05",
    )
    assert tasks(url)[("weekly-check-in", 2)].due == at("2027-01-17T23:59:59")
    assert tasks(url)[("weekly-check-in", 1)].status == "done"

    # Time alone: the first month ends (its open check-in is cancelled) and the
    # investigation contact starts (its first fortnightly check-in appears), with no event.
    counts = sweep.plan_and_alert(url, shipped_catalog(), at("2027-02-05T00:00"))
    assert tasks(url)[("weekly-check-in", 2)].status == "cancelled"
    assert tasks(url)[("fortnightly-check-in", 1)].due == at("2027-02-18T23:59:59")
    assert counts.cancelled >= 1 and counts.created >= 1

    # Charge and trial listing: the silent period starts, trial tasks are visible early.
    do(
        url,
        service.record_events,
        REF,
        {"charge": "2027-03-01", "hearing_listed": "2027-04-01", "trial": "2027-11-15"},
        now="2027-03-01T16:00",
    )
    sweep.plan_and_alert(url, shipped_catalog(), at("2027-03-02T00:00"))
    planned = tasks(url)
    assert planned[("fortnightly-check-in", 1)].status == "cancelled"  # investigation contact ended
    assert planned[("monthly-check-in", 1)].due == at("2027-04-01T22:59:59")  # BST
    assert planned[("pre-trial-visit", 1)].due == at("2027-11-01T23:59:59")
    assert planned[("special-measures-outcome", 1)].due == at("2027-10-04T22:59:59")

    # Silent-period check-ins recur after each completion.
    do(
        url,
        service.complete_task,
        task_id(url, "monthly-check-in"),
        at("2027-03-30"),
        None,
        now="2027-03-30T12:00",
    )
    assert tasks(url)[("monthly-check-in", 2)].due == at("2027-04-30T22:59:59")
    do(
        url,
        service.complete_task,
        task_id(url, "monthly-check-in", 2),
        at("2027-05-03"),
        None,
        now="2027-05-03T12:00",
    )
    assert tasks(url)[("monthly-check-in", 3)].due == at("2027-06-03T22:59:59")

    # The trial is moved: open trial tasks are re-dated with one notice; done ones untouched.
    do(
        url,
        service.complete_task,
        task_id(url, "special-measures-outcome"),
        None,
        None,
        now="2027-05-10T10:00",
    )
    done_due = tasks(url)[("special-measures-outcome", 1)].due
    seen = len(messages(url))
    do(url, service.record_events, REF, {"trial": "2027-12-06"}, now="2027-05-11T10:00")
    planned = tasks(url)
    assert planned[("pre-trial-visit", 1)].due == at("2027-11-22T23:59:59")
    assert planned[("pre-trial-visit", 1)].sequence == 1
    assert planned[("special-measures-outcome", 1)].due == done_due
    assert planned[("special-measures-outcome", 1)].status == "done"
    notices = [m for m in new_messages(url, seen) if m.kind == "replan"]
    assert len(notices) == 1 and notices[0].recipient == "nav@example.org"
    moved = {i["title"] for i in notices[0].payload["items"]}
    assert "Pre-trial court visit done" in moved
    assert "Special measures outcome known" not in moved
    assert (
        sweep.plan_and_alert(url, shipped_catalog(), at("2027-05-11T10:00")).redated == 0
    )  # already applied at once

    # Closing the case cancels what is open and leaves the rest.
    with session_scope(url) as session:
        cancelled = service.close_case(
            session, shipped_catalog(), REF, "moved away", at("2027-06-01T09:00"), operator()
        )
    assert cancelled > 0
    final = tasks(url)
    assert not [t for t in final.values() if t.status == "open"]
    assert final[("special-measures-outcome", 1)].status == "done"
    assert final[("pre-trial-visit", 1)].status == "cancelled"
    after = sweep.plan_and_alert(url, shipped_catalog(), at("2027-12-31T00:00"))
    assert (after.created, after.reminders, after.escalations) == (0, 0, 0)
