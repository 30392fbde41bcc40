"""Fatigue rules of the alert pass: quiet nights for whole-day deadlines, one escalation
message per recipient per sweep."""

from __future__ import annotations

import sqlalchemy as sa

from engine import service, sweep
from engine.core.actors import operator
from engine.store import OutboxMessage, session_scope
from tests.conftest import at, shipped_catalog


def open_case(url: str, ref: str, referral: str) -> None:
    with session_scope(url) as session:
        service.open_case(
            session,
            shipped_catalog(),
            ref,
            "adult-cjs",
            "nav@example.org",
            {"referral": referral},
            {},
            at(referral),
            operator(),
        )


def queued(url: str) -> list[OutboxMessage]:
    with session_scope(url) as session:
        return list(session.execute(sa.select(OutboxMessage)).scalars())


def test_whole_day_reminder_found_at_night_waits_for_the_morning(staffed: str) -> None:
    open_case(staffed, "KNT-0100", "2027-01-04T07:00")
    # Support referral: due end of Wed 6 Jan, reminder 08:00 Tue 5 Jan. The engine was down
    # all Tuesday; the sweep at 21:00 finds the reminder and holds it until 08:00 Wednesday.
    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-05T21:00"))
    reminders = [m for m in queued(staffed) if m.kind == "reminder"]
    day = [m for m in reminders if m.payload["precision"] == "day"]
    assert [m.payload["title"] for m in day] == ["Referred to victim support services"]
    assert day[0].next_attempt_at == at("2027-01-06T08:00")


def test_urgent_steps_alert_at_once_even_at_night_and_the_rest_wait_for_work(
    staffed: str,
) -> None:
    open_case(staffed, "KNT-0101", "2027-01-04T01:00")  # due 01:00 Tuesday
    sweep.plan_and_alert(
        staffed, shipped_catalog(), at("2027-01-05T03:00")
    )  # 2 hours overdue, at 3 in the morning
    escalations = [m for m in queued(staffed) if m.kind == "escalation"]
    held = {m.payload["items"][0]["title"]: m.next_attempt_at for m in escalations}
    assert held == {
        "Safe accommodation arranged": at("2027-01-05T03:00"),  # urgent: at once
        "Food, phone and interpreter in place": at("2027-01-05T08:00"),
    }


def test_one_escalation_message_per_recipient_per_sweep(staffed: str) -> None:
    for n in range(3):
        open_case(staffed, f"KNT-02{n:02d}", "2027-01-04T09:00")
    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-05T11:00"))
    to_lead = [m for m in queued(staffed) if m.kind == "escalation"]
    assert [m.recipient for m in to_lead] == ["lead@example.org"]
    cases = {item["case"] for item in to_lead[0].payload["items"]}
    assert cases == {"KNT-0200", "KNT-0201", "KNT-0202"}
    assert len(to_lead[0].payload["items"]) == 6  # accommodation and essentials, each case


def test_top_of_the_ladder_reaches_a_programme_lead_in_another_organisation(staffed: str) -> None:
    # The Romanian team has no programme lead of its own: Kent's programme lead hears.
    with session_scope(staffed) as session:
        service.open_case(session, shipped_catalog(), "ROU-0001", "adult-cjs", "ro-nav@example.org",
            {"referral": "2027-01-04T09:00"}, {}, at("2027-01-04T09:00"), operator(),
        )  # fmt: skip
    sweep.plan_and_alert(
        staffed, shipped_catalog(), at("2027-01-07T12:00")
    )  # a working day past the 24-hour deadline
    recipients = {m.recipient for m in queued(staffed) if m.kind == "escalation"}
    assert recipients == {"ro-lead@example.org", "prog@example.org"}


def test_one_message_per_recipient_even_when_many_tasks_escalate(staffed: str) -> None:
    # More escalating tasks than any batch size: still one message to the lead.
    for n in range(600):
        open_case(staffed, f"KNT-{n:04d}", "2027-01-04T09:00")
    sweep.plan_and_alert(staffed, shipped_catalog(), at("2027-01-05T11:00"))
    to_lead = [m for m in queued(staffed) if m.kind == "escalation"]
    assert [m.recipient for m in to_lead] == ["lead@example.org"]
    assert len(to_lead[0].payload["items"]) == 1200


def test_a_catch_up_pass_asks_for_acknowledgements_in_slices_sqlite_takes(staffed: str) -> None:
    # After days down, one alert pass can hold hundreds of thousands of due tasks; SQLite
    # refuses a statement with more than 32,766 parameters ("too many SQL variables").
    from engine.alerts import _acknowledged
    from engine.batches import chunks

    assert [len(c) for c in chunks(list(range(2_500)))] == [1000, 1000, 500]
    with session_scope(staffed) as session:
        assert _acknowledged(session, list(range(1, 40_001))) == set()
