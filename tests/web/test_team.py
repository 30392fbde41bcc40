"""The team page and the programme page: figures per navigator, drilling in, reassigning,
acknowledging escalations; organisations, failed messages, journeys."""

from __future__ import annotations

import re
import shutil

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from engine.store import Acknowledgement, Case, OutboxMessage, Task, session_scope
from tests.conftest import SHIPPED
from tests.web.conftest import BASE, START, open_case, post, sign_in, task_id

LEAD, NAV, NAV2, PROG = (
    "lead@example.org",
    "nav@example.org",
    "nav2@example.org",
    "prog@example.org",
)


@pytest.fixture
def cases(staffed: str) -> str:
    open_case(staffed, "KNT-0001", NAV, "2027-01-01", START)
    open_case(staffed, "KNT-0002", NAV, "2027-01-04", START)
    open_case(staffed, "ROM-0001", "ro-nav@example.org", "2027-01-01", START)
    tid = task_id(staffed, "KNT-0001", "safe-accommodation")
    with session_scope(staffed) as session:
        task = session.get(Task, tid)
        task.escalation_level = 1
        session.add(task)
    return staffed


def test_the_team_page_shows_each_navigator_of_the_leads_team(client, settings, cases):
    sign_in(client, settings, LEAD)
    page = client.get("/team")
    assert page.status_code == 200
    assert f'href="/team/{NAV}"' in page.text and f'href="/team/{NAV2}"' in page.text
    assert "ro-nav@example.org" not in page.text
    row = page.text.split(f'href="/team/{NAV}"')[1].split("</tr>")[0]
    assert 'govuk-tag--orange">1<' in row  # one escalated task


def test_the_team_page_counts_each_navigators_cases_without_contact(client, settings, cases, clock):
    clock.advance(days=20)  # KNT-0001 and KNT-0002, opened 1 and 4 January: no contact since
    sign_in(client, settings, LEAD)
    page = client.get("/team").text
    cells = {
        who: re.findall(
            r'numeric">(?:<strong[^>]*>)?(\d+)<',
            page.split(f'href="/team/{who}"')[1].split("</tr>")[0],
        )
        for who in (NAV, NAV2)
    }
    assert cells[NAV][-1] == "2" and cells[NAV2][-1] == "0"


def test_a_lead_lands_on_the_team_page_and_a_navigator_cannot_see_it(client, settings, cases):
    sign_in(client, settings, LEAD)
    assert client.get("/").headers["location"] == "/team"
    nav = sign_in(TestClient(client.app, base_url=BASE, follow_redirects=False), settings, NAV)
    missing = nav.get("/no-such-page")
    for path in ("/team", f"/team/{NAV}", "/programme"):
        refused = nav.get(path)
        assert refused.status_code == 404 and refused.text == missing.text, path


def test_drilling_into_a_navigator_shows_their_tasks_and_cases(client, settings, cases):
    sign_in(client, settings, LEAD)
    page = client.get(f"/team/{NAV}")
    assert page.status_code == 200
    assert 'value="KNT-0001"' in page.text and 'value="KNT-0002"' in page.text
    assert "Acknowledge escalation" in page.text and "Safe accommodation arranged" in page.text
    assert client.get("/team/ro-nav@example.org").status_code == 404
    assert client.get("/team/nobody@example.org").status_code == 404


def test_reassigning_cases_with_a_reason(client, settings, cases):
    sign_in(client, settings, LEAD)
    back = f"/team/{NAV}"
    no_reason = post(
        client, f"{back}/reassign", {"refs": ["KNT-0001"], "navigator": NAV2}, page=back
    )
    assert no_reason.status_code == 400 and 'id="reason-error"' in no_reason.text
    no_one = post(client, f"{back}/reassign", {"refs": ["KNT-0001"], "reason": "leave"}, page=back)
    assert no_one.status_code == 400 and "Choose who takes the cases on" in no_one.text
    none = post(client, f"{back}/reassign", {"navigator": NAV2, "reason": "leave"}, page=back)
    assert none.status_code == 400 and 'id="refs-error"' in none.text
    moved = post(
        client,
        f"{back}/reassign",
        {"refs": ["KNT-0001"], "navigator": NAV2, "reason": "Ana is on leave"},
        page=back,
    )
    assert moved.status_code == 303 and moved.headers["location"] == f"{back}?moved=1"
    assert "1 case reassigned" in client.get(moved.headers["location"]).text
    with session_scope(cases) as session:
        case = session.exec(select(Case).where(Case.ref == "KNT-0001")).one()
        holder = case.navigator_id
        handovers = session.exec(
            select(OutboxMessage.recipient).where(OutboxMessage.kind == "handover")
        ).all()
    assert sorted(handovers) == sorted([NAV, NAV2])
    everything = post(
        client,
        f"{back}/reassign",
        {"everything": "yes", "navigator": NAV2, "reason": "Ana left"},
        page=back,
    )
    assert everything.headers["location"] == f"{back}?moved=1"
    with session_scope(cases) as session:
        holders = {c.navigator_id for c in session.exec(select(Case)).all() if c.ref != "ROM-0001"}
    assert holders == {holder}


def test_a_lead_acknowledges_an_escalation_and_a_navigator_cannot(client, settings, cases):
    tid = task_id(cases, "KNT-0001", "safe-accommodation")
    nav = sign_in(TestClient(client.app, base_url=BASE, follow_redirects=False), settings, NAV)
    refused = post(nav, f"/tasks/{tid}/ack", {"return_to": "/work"})
    assert refused.status_code == 404
    sign_in(client, settings, LEAD)
    done = post(client, f"/tasks/{tid}/ack", {"return_to": f"/team/{NAV}"}, page=f"/team/{NAV}")
    assert done.status_code == 303
    with session_scope(cases) as session:
        [ack] = session.exec(select(Acknowledgement)).all()
    assert (ack.task_id, ack.staff_email, ack.level) == (tid, LEAD, 1)


def test_the_programme_page_shows_organisations_failed_messages_and_journeys(
    client, settings, cases, staffed
):
    with session_scope(staffed) as session:
        for recipient in (PROG, NAV):
            session.add(
                OutboxMessage(
                    key=f"k-{recipient}",
                    kind="digest",
                    recipient=recipient,
                    status="failed",
                    attempts=3,
                    created_at=START,
                    last_error="550 no such user",
                )
            )
    sign_in(client, settings, PROG)
    assert client.get("/").headers["location"] == "/programme"
    page = client.get("/programme")
    assert page.status_code == 200
    kent = page.text.split('scope="row" class="govuk-table__header">kent')[1].split("</tr>")[0]
    assert ">2<" in kent and "accommodation 2, safety 2" in kent
    assert "ROM-0001" not in page.text and ">ro<" not in page.text
    assert "Adult survivor, NRM consent, criminal justice pathway" in page.text
    assert "Valid" in page.text and "First month [first-month]" in page.text
    assert "550 no such user" in page.text and page.text.count("Retry<") == 1
    with session_scope(staffed) as session:
        mine, theirs = (
            session.exec(
                select(OutboxMessage.id).where(
                    OutboxMessage.recipient == r, OutboxMessage.kind == "digest"
                )
            ).one()
            for r in (PROG, NAV)
        )
    other = post(client, f"/programme/messages/{theirs}/retry", page="/programme")
    assert other.status_code == 404
    retried = post(client, f"/programme/messages/{mine}/retry", page="/programme")
    assert retried.status_code == 303
    assert "is queued again" in client.get(retried.headers["location"]).text
    with session_scope(staffed) as session:
        assert session.get(OutboxMessage, mine).status == "queued"
        assert session.get(OutboxMessage, theirs).status == "failed"


def test_a_journey_with_problems_shows_them_at_their_lines(tmp_path, settings, clock, cases):
    from web.app import create_app

    folder = tmp_path / "journeys"
    shutil.copytree(SHIPPED, folder)
    (folder / "broken.yaml").write_text("journey: broken\ntitle: Broken\nstages: 7\n")
    app = create_app(type(settings)(journeys_dir=folder), clock=clock)
    lead = sign_in(TestClient(app, base_url=BASE, follow_redirects=False), settings, PROG)
    page = lead.get("/programme").text
    assert "broken.yaml" in page and "Not valid" in page and "broken.yaml:" in page
