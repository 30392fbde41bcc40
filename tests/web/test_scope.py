"""Every route that names a case, a task or a navigator, for every role, on four objects:
the person's own, their team's, another team's, another organisation's. Each is allowed,
or answers exactly as the same route does for an object that does not exist (404, the same
page), so nobody learns that a case exists by being refused it."""

from __future__ import annotations

import pytest

from engine import service
from engine.core.actors import operator
from engine.store import session_scope
from tests.conftest import STAFF_YAML, at
from tests.web.conftest import START, csrf, open_case, sign_in, task_id

MORE_STAFF = """
  - {email: admin@example.org, name: Ada, role: programme_admin, organisation: kent}
  - {email: lead2@example.org, name: Lou, role: team_lead, organisation: kent}
  - {email: nav3@example.org, name: Cy, role: navigator, organisation: kent,
     lead: lead2@example.org}
"""
# object -> (case, its navigator)
OBJECTS = {
    "own": ("KNT-0001", "nav@example.org"),
    "team": ("KNT-0002", "nav2@example.org"),
    "other team": ("KNT-0003", "nav3@example.org"),
    "other organisation": ("ROM-0001", "ro-nav@example.org"),
}
MISSING = ("KNT-0999", "nobody@example.org")
ROLES = {
    "navigator": ("nav@example.org", {"own"}),
    "team lead": ("lead@example.org", {"own", "team"}),
    "programme lead": ("prog@example.org", {"own", "team", "other team"}),
    "programme admin": ("admin@example.org", set(OBJECTS)),
}
LEADS = {"team lead", "programme lead", "programme admin"}


@pytest.fixture
def world(staffed: str) -> dict:
    with session_scope(staffed) as session:
        service.import_staff(session, STAFF_YAML + MORE_STAFF, at("2026-01-02T00:00"), operator())
    ids = {}
    for name, (ref, navigator) in OBJECTS.items():
        open_case(staffed, ref, navigator, "2027-01-01", START)
        ids[name] = task_id(staffed, ref, "safe-accommodation")
    return ids


def routes(ref: str, person: str, task: int) -> list[tuple[str, str, dict]]:
    """(method, path, form) for every route naming an object; forms that would be refused
    by the rules when allowed, so the matrix changes nothing."""
    return [
        ("GET", f"/cases/{ref}", {}),
        ("POST", f"/cases/{ref}/events", {"name": "trial", "value": ""}),
        ("POST", f"/cases/{ref}/events/remove", {"name": "trial", "reason": ""}),
        ("POST", f"/cases/{ref}/facts", {"name": "age", "value": "young"}),
        ("POST", f"/cases/{ref}/facts/unset", {"name": "age"}),
        ("GET", f"/tasks/{task}", {}),
        ("POST", f"/tasks/{task}/done", {"done_at": "2030-01-01T00:00"}),
        ("POST", f"/tasks/{task}/waive", {"reason": ""}),
        ("POST", f"/tasks/{task}/reopen", {}),
        ("POST", f"/tasks/{task}/ack", {}),
        ("GET", f"/team/{person}", {}),
        ("POST", f"/team/{person}/reassign", {"refs": [ref], "navigator": "", "reason": ""}),
        ("GET", f"/work?case={ref}", {}),
    ]


def call(client, method: str, path: str, form: dict, token: str):
    if method == "GET":
        return client.get(path)
    return client.post(path, data={"csrftoken": token, **form})


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("thing", list(OBJECTS))
def test_each_route_is_allowed_or_looks_exactly_like_a_missing_object(
    client, settings, world, role, thing
):
    email, sees = ROLES[role]
    sign_in(client, settings, email)
    token = csrf(client, "/work")
    ref, person = OBJECTS[thing]
    missing = routes(*MISSING, 999_999)
    for (method, path, form), (_, gone_path, gone_form) in zip(
        routes(ref, person, world[thing]), missing, strict=True
    ):
        got = call(client, method, path, form, token)
        gone = call(client, method, gone_path, gone_form, token)
        leads_only = path.startswith("/team/") or path.endswith("/ack")
        allowed = thing in sees and (not leads_only or role in LEADS)
        if path.startswith("/work"):  # a filter: never an error, and theirs only
            assert got.status_code == 200 and (ref in got.text.split("<h1")[1]) == (
                thing == "own" and email == person
            ), path
        elif allowed:
            assert got.status_code != 404, (role, thing, method, path)
        else:
            assert (got.status_code, got.text) == (gone.status_code, gone.text), (
                role, thing, method, path,
            )  # fmt: skip
            assert got.status_code in (400, 404), (role, thing, method, path, got.status_code)
    with session_scope(settings.url) as session:  # the matrix changed nothing
        from sqlmodel import select

        from engine.store import AuditEntry

        changes = session.exec(
            select(AuditEntry.action).where(
                AuditEntry.action.not_in(["case.view", "case.open", "reconcile", "staff.import"]),
                AuditEntry.action.not_like("web.%"),
            )
        ).all()
    assert changes == []


@pytest.mark.parametrize("role", list(ROLES))
def test_the_team_and_programme_pages_follow_the_role(client, settings, world, role):
    email, _ = ROLES[role]
    sign_in(client, settings, email)
    missing = client.get("/no-such-page")
    programme = {"programme lead", "programme admin"}
    for path, who in (("/team", LEADS), ("/programme", programme), ("/reports", programme)):
        got = client.get(path)
        if role in who:
            assert got.status_code == 200, (role, path)
        else:
            assert (got.status_code, got.text) == (404, missing.text), (role, path)
