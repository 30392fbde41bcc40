"""My work: open tasks by when they are due, filters, flags, and acting on tasks in place
(htmx) and without JavaScript."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from engine import queries
from engine.store import AuditEntry, Task, TaskHistory, session_scope
from tests.conftest import at
from tests.web.conftest import START, csrf, open_case, post, sign_in, task_id

NAV = "nav@example.org"


@pytest.fixture
def cases(staffed: str) -> str:
    """KNT-0001 (referral 1 Jan, opened 5 Jan) and KNT-0002 (opened 20 days ago, quiet) for
    nav; KNT-0009 for nav2."""
    open_case(staffed, "KNT-0001", NAV, "2027-01-01", START)
    open_case(staffed, "KNT-0002", NAV, "2026-12-16", at("2026-12-16T10:00"))
    open_case(staffed, "KNT-0009", "nav2@example.org", "2027-01-01", START)
    return staffed


def sections(html: str) -> dict[str, str]:
    """Each group's part of the page, by heading."""
    parts = re.split(r'<h2 class="govuk-heading-m">', html)[1:]
    return {p.split(" <span", 1)[0].strip(): p for p in parts}


def test_open_tasks_are_grouped_by_when_they_are_due_with_the_due_date_in_words(
    client, settings, cases
):
    sign_in(client, settings, NAV)
    page = client.get("/work")
    assert page.status_code == 200
    groups = sections(page.text)
    assert list(groups) == ["Overdue", "Today", "This week", "Later"]
    assert "KNT-0001</a>: Safe accommodation" in groups["Overdue"]
    assert "3 days overdue" in groups["Overdue"]
    assert "Referral to support services" in groups["Today"] or "due today" in groups["Today"]
    assert "due in 3 days" in groups["This week"]  # the weekly check-in, end of Fri 8 Jan
    assert "due in 10 days" in groups["Later"]  # GP registration, end of Fri 15 Jan
    assert "KNT-0009" not in page.text  # another navigator's case
    assert page.headers["cache-control"] == "no-store"


def test_filters_by_category_and_case_work_without_javascript(client, settings, cases):
    sign_in(client, settings, NAV)
    health = client.get("/work?category=health")
    assert "GP" in health.text and "Safe accommodation" not in health.text
    one = client.get("/work?case=KNT-0002")
    assert "KNT-0002</a>:" in one.text and "KNT-0001</a>:" not in one.text
    none = client.get("/work?case=KNT-0009")  # not theirs: simply nothing matches
    assert "KNT-0009</a>:" not in none.text and "No tasks match the filters" in none.text
    assert 'hx-get="/work"' in health.text  # and in place with htmx


def test_a_case_with_no_contact_done_in_14_days_is_flagged(client, settings, cases):
    sign_in(client, settings, NAV)
    page = client.get("/work")
    assert "No contact done in 14 days:</strong>" in page.text
    flagged = re.search(r"No contact done in 14 days:</strong>(.*?)</p>", page.text).group(1)
    assert "KNT-0002" in flagged and "KNT-0001" not in flagged


def test_the_quiet_query_looks_only_at_the_cases_asked_about(cases):
    with session_scope(cases) as session:
        assert set(queries.quiet_cases(session, ["KNT-0001", "KNT-0002"], START)) == {"KNT-0002"}
        assert queries.quiet_cases(session, ["KNT-0001"], START) == set()
        assert queries.quiet_cases(session, [], START) == set()


def test_my_works_page_of_tasks_is_every_open_task_of_theirs_bucketed_soonest_first(cases):
    """`queries.work` reads the shown tasks only; what it answers is the plain listing of
    the person's open tasks, cut into the headings, filtered and paged."""
    from bisect import bisect_right
    from zoneinfo import ZoneInfo

    from engine.access import resolve
    from web import words

    bounds = words.bounds(START, ZoneInfo("Europe/London"))
    with session_scope(cases) as session:
        actor = resolve(session, NAV)
        every = queries.tasks(session, actor, START, navigator=NAV, status="open")
        for row in every:
            row["bucket"] = bisect_right(bounds, datetime.fromisoformat(row["due"]))
        assert len({r["bucket"] for r in every}) == 4 and len({r["case"] for r in every}) == 2
        filters = [{}, {"category": "health"}, {"case": "KNT-0002"}, {"case": "KNT-0009"}]
        for kept in filters:
            chosen = [r for r in every if all(r[k] == v for k, v in kept.items())]
            for bucket, offset, limit in [(None, 0, 1), (None, 0, 50), (0, 0, 2), (0, 2, 2)]:
                found = queries.work(
                    session, actor, NAV, bounds, bucket=bucket, offset=offset, limit=limit,
                    quiet_before=START - timedelta(days=14),
                    **kept,
                )  # fmt: skip
                expected = []
                for n in range(len(bounds) + 1):
                    if bucket is None or n == bucket:
                        expected += [r for r in chosen if r["bucket"] == n][offset:][:limit]
                assert found["tasks"] == sorted(expected, key=lambda r: (r["due"], r["id"]))
                assert found["sizes"] == [
                    sum(r["bucket"] == n for r in chosen) for n in range(len(bounds) + 1)
                ]
                assert found["categories"] == sorted({r["category"] for r in every})
                assert found["refs"] == ["KNT-0001", "KNT-0002"]
                assert found["quiet"] == ["KNT-0002"]  # as `quiet_cases` has it, above


def test_escalated_tasks_say_so(client, settings, cases):
    tid = task_id(cases, "KNT-0001", "safe-accommodation")
    with session_scope(cases) as session:
        task = session.get(Task, tid)
        task.escalation_level = 2
        session.add(task)
    sign_in(client, settings, NAV)
    part = client.get("/work").text.split(f'id="task-{tid}"')[1].split("</li>")[0]
    assert "Escalated: step 2" in part


def test_completing_without_javascript_returns_to_my_work_with_a_banner_and_undo(
    client, settings, cases, clock
):
    sign_in(client, settings, NAV)
    tid = task_id(cases, "KNT-0001", "safe-accommodation")
    form = {"note": "Placed in refuge", "done_at": "2027-01-04T15:30", "return_to": "/work"}
    done = post(client, f"/tasks/{tid}/done", form)
    assert done.status_code == 303 and done.headers["location"] == f"/work?changed={tid}"
    page = client.get(done.headers["location"])
    assert "Safe accommodation arranged is done" in page.text and "Undo: reopen it" in page.text
    assert f'id="task-{tid}"' not in page.text  # no longer open
    with session_scope(cases) as session:
        task = session.get(Task, tid)
        assert task.status == "done" and task.note == "Placed in refuge"
        assert task.closed_at == at("2027-01-04T15:30")  # London is UTC in January
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "task.done")).one()
    undo = post(client, f"/tasks/{tid}/reopen", {"return_to": "/work"})
    assert undo.status_code == 303
    assert f'id="task-{tid}"' in client.get("/work").text


def test_completing_in_place_with_htmx_answers_with_the_task_alone(client, settings, cases):
    sign_in(client, settings, NAV)
    tid = task_id(cases, "KNT-0001", "essentials")
    token = csrf(client, "/work")
    part = client.post(
        f"/tasks/{tid}/done",
        data={"csrftoken": token, "return_to": "/work"},
        headers={"HX-Request": "true"},
    )
    assert part.status_code == 200 and "<html" not in part.text
    assert part.text.strip().startswith(f'<li class="app-task" id="task-{tid}">')
    assert "Done" in part.text and f'action="/tasks/{tid}/reopen"' in part.text
    again = client.post(
        f"/tasks/{tid}/reopen",
        data={"csrftoken": token, "return_to": "/work"},
        headers={"HX-Request": "true"},
    )
    assert f'action="/tasks/{tid}/done"' in again.text
    with session_scope(cases) as session:
        actions = session.exec(select(TaskHistory.action).where(TaskHistory.task_id == tid)).all()
    assert actions == ["done", "reopened"]


def test_a_time_in_the_future_is_an_error_beside_the_field_and_nothing_changes(
    client, settings, cases
):
    sign_in(client, settings, NAV)
    tid = task_id(cases, "KNT-0001", "safe-accommodation")
    form = {"note": "kept text", "done_at": "2027-01-06T10:00", "return_to": "/work"}
    page = post(client, f"/tasks/{tid}/done", form)
    assert page.status_code == 400
    assert f'href="#done-at-{tid}"' in page.text and f'id="done-at-{tid}-error"' in page.text
    assert "is in the future: give when it was done" in page.text
    assert "kept text</textarea>" in page.text  # what they typed is still there
    before = post(
        client, f"/tasks/{tid}/done", {"done_at": "2026-12-31T10:00", "return_to": "/work"}
    )
    assert "before the event task" in before.text and before.status_code == 400
    with session_scope(cases) as session:
        assert session.get(Task, tid).status == "open"


def test_waiving_needs_a_reason_beside_the_field(client, settings, cases):
    sign_in(client, settings, NAV)
    tid = task_id(cases, "KNT-0001", "safe-accommodation")
    missing = post(client, f"/tasks/{tid}/waive", {"reason": "  ", "return_to": "/work"})
    assert missing.status_code == 400 and f'id="reason-{tid}-error"' in missing.text
    assert "give a reason for waiving" in missing.text
    token = csrf(client, "/work")
    inline = client.post(
        f"/tasks/{tid}/waive",
        data={"csrftoken": token, "reason": ""},
        headers={"HX-Request": "true"},
    )
    assert inline.status_code == 200 and f'id="reason-{tid}-error"' in inline.text
    waived = post(client, f"/tasks/{tid}/waive", {"reason": "Has a place already"})
    assert waived.status_code == 303
    with session_scope(cases) as session:
        task = session.get(Task, tid)
        assert (task.status, task.reason) == ("waived", "Has a place already")


def test_another_navigators_task_is_not_found_like_a_missing_one(client, settings, cases):
    sign_in(client, settings, NAV)
    theirs = task_id(cases, "KNT-0009", "safe-accommodation")
    refused = post(client, f"/tasks/{theirs}/done", {"return_to": "/work"})
    missing = post(client, "/tasks/999999/done", {"return_to": "/work"})
    assert refused.status_code == missing.status_code == 404
    assert refused.text == missing.text
    with session_scope(cases) as session:
        assert session.get(Task, theirs).status == "open"


def test_a_contact_task_is_completed_reached_or_not_and_only_reached_counts_as_contact(
    client, settings, cases, clock
):
    sign_in(client, settings, NAV)
    tid = task_id(cases, "KNT-0001", "weekly-check-in")
    page = client.get("/work").text.split(f'id="task-{tid}"')[1].split("</li>")[0]
    assert 'name="outcome" type="radio" value="not_reached"' in page
    clock.advance(minutes=20)
    between = START + timedelta(minutes=10)  # after the case opened, before the call
    tried = post(client, f"/tasks/{tid}/done", {"outcome": "not_reached", "return_to": "/work"})
    assert tried.status_code == 303
    with session_scope(cases) as session:
        assert session.get(Task, tid).outcome == "not_reached"
        assert "KNT-0001" in queries.quiet_cases(session, ["KNT-0001"], between, days=0)
    assert post(client, f"/tasks/{tid}/reopen", {"return_to": "/work"}).status_code == 303
    post(client, f"/tasks/{tid}/done", {"outcome": "reached", "return_to": "/work"})
    with session_scope(cases) as session:
        assert session.get(Task, tid).outcome == "reached"
        assert queries.quiet_cases(session, ["KNT-0001"], between, days=0) == set()


def test_each_heading_shows_its_soonest_tasks_and_the_rest_are_a_link_away(
    client, settings, cases, monkeypatch
):
    from web import work

    monkeypatch.setattr(work, "SHOWN", 1)
    monkeypatch.setattr(work, "PAGE", 2)
    sign_in(client, settings, NAV)
    overdue = sections(client.get("/work").text)["Overdue"]
    size = int(re.search(r"(\d+) tasks</span>", overdue).group(1))
    assert size > 2 and overdue.count('class="app-task"') == 1
    assert f'href="/work?group=overdue">Show all {size} overdue tasks</a>' in overdue
    pages = -(-size // 2)
    first = client.get("/work?group=overdue")
    assert list(sections(first.text)) == ["Overdue"]
    assert f"page 1 of {pages}" in first.text and 'rel="next"' in first.text
    seen = []
    for page in range(1, pages + 1):
        html = client.get(f"/work?group=overdue&page={page}").text
        seen += re.findall(r'<li class="app-task" id="(task-\d+)"', html)
    assert len(seen) == len(set(seen)) == size  # every overdue task once, soonest first
    filtered = client.get("/work?group=overdue&case=KNT-0002").text
    assert "KNT-0001</a>:" not in filtered and 'name="group" value="overdue"' in filtered


def test_the_romanian_team_reads_its_times_in_bucharest_and_londons_duties_by_the_hour(
    client, settings, staffed
):
    # The pages show a person's times in their organisation's zone. The Romanian journey's
    # in-country work ends Bucharest days and reads as days; its Victims' Code duties end
    # London days (rule 6): the VPS offer is due by the end of Mon 1 Feb 2027 in London,
    # 01:59 on Tue 2 Feb in Bucharest, and "by end of Tue 2 Feb" would be a day late.
    from engine import service
    from engine.core.actors import operator
    from tests.conftest import shipped_catalog

    with session_scope(staffed) as session:
        service.open_case(
            session, shipped_catalog(), "ROM-0001", "safe-return-romania", "ro-nav@example.org",
            {"referral": "2027-01-04"}, {}, START, operator(),
        )  # fmt: skip
    sign_in(client, settings, "ro-nav@example.org")
    court = client.get("/work?category=court&case=ROM-0001").text
    assert "(by end of Wed 20 Jan 2027)" in court  # Bucharest's clock
    assert "(by 01:59 EET on Tue 2 Feb 2027)" in court  # the VPS offer, on London's
    assert "by end of Tue 2 Feb 2027" not in court
    assert 'value="2027-01-05T11:00"' in court  # "done at" defaults to now, in Bucharest
