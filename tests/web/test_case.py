"""The case page: summary, plan ahead with guidance, timeline, and recording events and
facts with the same rules and messages as the command line; reading is audited."""

from __future__ import annotations

import pytest
from sqlmodel import select

from engine.store import AuditEntry, Case, OutboxMessage, session_scope
from tests.web.conftest import START, open_case, post, sign_in, task_id

NAV = "nav@example.org"


@pytest.fixture
def cases(staffed: str) -> str:
    open_case(staffed, "KNT-0001", NAV, "2027-01-01", START)
    open_case(staffed, "KNT-0009", "nav2@example.org", "2027-01-01", START)
    return staffed


def plan_part(html: str) -> str:
    return html.split('id="plan"')[1].split("<h2")[0]


def test_the_case_page_has_the_summary_the_plan_with_guidance_and_the_timeline(
    client, settings, cases
):
    sign_in(client, settings, NAV)
    page = client.get("/cases/KNT-0001")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    assert "Adult survivor, NRM consent, criminal justice pathway" in text
    assert "First month" in text and NAV in text and "referral: 2027-01-01" in text
    assert "uk_national: " in text and "not set (default False)" in text
    plan = plan_part(text)
    assert "Safe accommodation arranged" in plan and "3 days overdue" in plan
    assert "Never use, or send anything" in plan  # the obligation's guidance
    assert "Case opened on adult-cjs" in text and "Event referral recorded" in text


def test_reading_a_case_is_audited(client, settings, cases):
    sign_in(client, settings, NAV)
    client.get("/cases/KNT-0001")
    with session_scope(cases) as session:
        views = session.exec(select(AuditEntry).where(AuditEntry.action == "case.view")).all()
    assert [(v.actor, v.case_ref) for v in views] == [(NAV, "KNT-0001")]


def test_recording_a_new_trial_date_moves_the_plan(client, settings, cases):
    sign_in(client, settings, NAV)
    first = post(
        client,
        "/cases/KNT-0001/events",
        {"name": "trial", "value": "2027-06-15"},
        page="/cases/KNT-0001",
    )
    assert first.status_code == 303
    assert first.headers["location"] == "/cases/KNT-0001?changed=event%20trial#plan"
    page = client.get(first.headers["location"].split("#")[0])
    assert "Saved (event trial)" in page.text
    visit = plan_part(page.text).split("Pre-trial court visit done")[1][:600]
    assert "Tue 1 Jun 2027" in visit
    moved = post(
        client,
        "/cases/KNT-0001/events",
        {"name": "trial", "value": "2027-07-13"},
        page="/cases/KNT-0001",
    )
    assert moved.status_code == 303
    page = client.get("/cases/KNT-0001")
    visit = plan_part(page.text).split("Pre-trial court visit done")[1][:600]
    assert "Tue 29 Jun 2027" in visit and "Tue 1 Jun 2027" not in visit
    assert "Plan moved:" in page.text and "Event trial recorded: 2027-07-13" in page.text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "trial", "value": "soon"}, "soon"),
        ({"name": "trial", "value": ""}, "Enter when it happened"),
        ({"name": "", "value": "2027-06-01"}, "Choose the event"),
        ({"name": "trial", "value": "2031-06-01"}, "tick the box if it is right"),
    ],
)
def test_a_bad_event_is_an_error_beside_the_field_and_nothing_changes(
    client, settings, cases, form, message
):
    sign_in(client, settings, NAV)
    page = post(client, "/cases/KNT-0001/events", form, page="/cases/KNT-0001")
    assert page.status_code == 400 and message in page.text
    assert 'href="#event-value"' in page.text and 'id="event-value-error"' in page.text
    with session_scope(cases) as session:
        assert "trial" not in str(session.exec(select(AuditEntry.detail)).all())


def test_a_date_far_ahead_is_recorded_when_confirmed(client, settings, cases):
    sign_in(client, settings, NAV)
    form = {"name": "trial", "value": "2031-06-01", "confirm": "yes"}
    assert post(client, "/cases/KNT-0001/events", form, page="/cases/KNT-0001").status_code == 303


def test_removing_an_event_needs_a_reason(client, settings, cases):
    sign_in(client, settings, NAV)
    post(
        client,
        "/cases/KNT-0001/events",
        {"name": "trial", "value": "2027-06-15"},
        page="/cases/KNT-0001",
    )
    refused = post(
        client,
        "/cases/KNT-0001/events/remove",
        {"name": "trial", "reason": ""},
        page="/cases/KNT-0001",
    )
    assert refused.status_code == 400 and "give a reason for removing an event" in refused.text
    removed = post(
        client,
        "/cases/KNT-0001/events/remove",
        {"name": "trial", "reason": "listed in error"},
        page="/cases/KNT-0001",
    )
    assert removed.status_code == 303
    assert "Pre-trial court visit done" not in plan_part(client.get("/cases/KNT-0001").text)


def test_setting_and_unsetting_a_fact_follow_the_journeys_types(client, settings, cases):
    sign_in(client, settings, NAV)
    bad = post(
        client, "/cases/KNT-0001/facts", {"name": "age", "value": "young"}, page="/cases/KNT-0001"
    )
    assert bad.status_code == 400 and 'id="fact-value-error"' in bad.text and "age" in bad.text
    low = post(
        client, "/cases/KNT-0001/facts", {"name": "age", "value": "12"}, page="/cases/KNT-0001"
    )
    assert low.status_code == 400
    ok = post(
        client,
        "/cases/KNT-0001/facts",
        {"name": "uk_national", "value": "true"},
        page="/cases/KNT-0001",
    )
    assert ok.status_code == 303
    with session_scope(cases) as session:
        case = session.exec(select(Case).where(Case.ref == "KNT-0001")).one()
        assert case.facts == {"uk_national": True}
    unset = post(
        client, "/cases/KNT-0001/facts/unset", {"name": "uk_national"}, page="/cases/KNT-0001"
    )
    assert unset.status_code == 303
    with session_scope(cases) as session:
        assert session.exec(select(Case).where(Case.ref == "KNT-0001")).one().facts == {}


def test_another_navigators_case_is_not_found_like_a_missing_one(client, settings, cases):
    sign_in(client, settings, NAV)
    theirs, missing = client.get("/cases/KNT-0009"), client.get("/cases/KNT-0404")
    assert theirs.status_code == missing.status_code == 404 and theirs.text == missing.text
    change = post(client, "/cases/KNT-0009/events", {"name": "trial", "value": "2027-06-15"})
    assert change.status_code == 404 and change.text == missing.text


def test_a_task_link_from_an_email_opens_the_task_on_its_case(client, settings, cases):
    sign_in(client, settings, NAV)
    tid = task_id(cases, "KNT-0001", "safe-accommodation")
    opened = client.get(f"/tasks/{tid}")
    assert opened.status_code == 303 and opened.headers["location"] == f"/cases/KNT-0001#task-{tid}"
    theirs = task_id(cases, "KNT-0009", "safe-accommodation")
    assert client.get(f"/tasks/{theirs}").status_code == 404
    assert client.get("/tasks/not-a-number").status_code == 404


def test_completing_a_task_on_the_case_page_returns_there(client, settings, cases):
    sign_in(client, settings, NAV)
    tid = task_id(cases, "KNT-0001", "safe-accommodation")
    back = "/cases/KNT-0001"
    bad = post(client, f"/tasks/{tid}/waive", {"reason": "", "return_to": back}, page=back)
    assert bad.status_code == 400 and "The plan ahead" in bad.text
    done = post(client, f"/tasks/{tid}/done", {"return_to": back}, page=back)
    assert done.headers["location"] == f"/cases/KNT-0001?changed={tid}"


def test_escalations_sent_for_the_cases_tasks_are_on_its_timeline(client, settings, cases):
    """The lead's one escalation message lists both cases' tasks; each case's timeline shows
    its own tasks' escalation, to whom by role and when it was sent, and nothing of the
    other case."""
    from engine import sweep
    from notifications.dispatch import dispatch
    from tests.conftest import at, shipped_catalog

    sweep.plan_and_alert(cases, shipped_catalog(), at("2027-01-05T10:00"))
    dispatch(cases, at("2027-01-05T10:05"), settings)
    with session_scope(cases) as session:
        to_lead = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "escalation")
        ).one()
    assert to_lead.status == "sent" and to_lead.recipient == "lead@example.org"
    assert {i["case"] for i in to_lead.payload["items"]} == {"KNT-0001", "KNT-0009"}
    sign_in(client, settings, NAV)
    text = client.get("/cases/KNT-0001").text
    timeline = text.split("Timeline")[1]
    assert "Safe accommodation arranged: escalation (step 1) sent to the team lead" in timeline
    assert "Tue 5 Jan 2027, 10:05" in timeline  # when it was sent, local time
    assert "KNT-0009" not in text and "nav2@example.org" not in text


def test_a_much_read_case_still_shows_its_history(client, settings, cases):
    """Every read is audited, and the timeline reads the newest 200 entries it shows: a
    case opened hundreds of times still shows when it was opened, not only its reads."""
    with session_scope(cases) as session:
        session.add_all(
            AuditEntry(at=START, actor=NAV, case_ref="KNT-0001", action="case.view", detail={})
            for _ in range(250)
        )
    sign_in(client, settings, NAV)
    timeline = client.get("/cases/KNT-0001").text.split("Timeline")[1]
    assert "Case opened on adult-cjs" in timeline
