"""The programme page's impact preview: an uploaded journey file is validated (problems
beside the field, at FILE:LINE:COL) and previewed on the open cases the person can see, as
`alongside journeys preview` does, installing and changing nothing."""

from __future__ import annotations

import json

from sqlmodel import select

from engine.store import AuditEntry, Task, session_scope
from tests.conftest import SHIPPED, cli
from tests.web.conftest import START, csrf, open_case, sign_in

ADULT = (SHIPPED / "adult-cjs.yaml").read_text()
FASTER = ADULT.replace(
    "due: 24 hours after referral                 # default: safe place within 24 hours",
    "due: 12 hours after referral",
)


def upload(client, text: str | None, name: str = "adult-cjs.yaml"):
    token = csrf(client, "/programme")
    files = {"journey": (name, text.encode(), "application/yaml")} if text is not None else None
    return client.post("/programme/preview", data={"csrftoken": token}, files=files)


def snapshot(url: str) -> tuple:
    with session_scope(url) as session:
        tasks = session.exec(select(Task.id, Task.due, Task.status)).all()
        audit = session.exec(select(AuditEntry.id)).all()
    return sorted(tasks), len(audit)


def test_a_preview_shows_the_changes_on_the_leads_own_cases_and_changes_nothing(
    client, settings, capsys, tmp_path
):
    open_case(settings.url, "KNT-0001", "nav@example.org", "2027-01-04", START)
    open_case(settings.url, "KNT-0002", "nav2@example.org", "2027-01-04", START)
    open_case(settings.url, "RO-0001", "ro-nav@example.org", "2027-01-04", START)
    sign_in(client, settings, "prog@example.org")
    before = snapshot(settings.url)
    page = upload(client, FASTER)
    assert page.status_code == 200
    assert "2 of 2 open cases would change: 0 tasks created, 2 re-dated, 0 cancelled" in page.text
    assert "KNT-0001" in page.text and "RO-0001" not in page.text  # Kent's cases only
    assert snapshot(settings.url) == before  # installs nothing, changes nothing

    changed = tmp_path / "adult-cjs.yaml"
    changed.write_text(FASTER)
    code, out, _ = cli(capsys, "journeys", "preview", str(changed), "--now",
                       "2027-01-05T09:00", "--json")  # fmt: skip
    every = json.loads(out)["totals"]
    assert code == 0 and every["cases_changed"] == 3  # the operator sees Romania's too


def test_a_file_with_problems_gets_them_beside_the_field(client, settings):
    sign_in(client, settings, "prog@example.org")
    page = upload(client, ADULT.replace("category: accommodation", "category: lodging", 1))
    assert page.status_code == 400
    field = page.text.split('id="journey-file-error"')[1].split('id="journey-file"')[0]
    assert "adult-cjs.yaml has 1 problem: nothing was previewed" in field
    line = ADULT[: ADULT.index("category: accommodation")].count("\n") + 1
    assert f"adult-cjs.yaml:{line}:" in field and "lodging" in field
    assert 'href="#journey-file"' in page.text  # the error summary
    none = upload(client, None)
    assert none.status_code == 400 and "Choose a journey file (YAML) to preview" in none.text
    binary = client.post(
        "/programme/preview",
        data={"csrftoken": csrf(client, "/programme")},
        files={"journey": ("x.yaml", b"\xff\xfe", "application/yaml")},
    )
    assert binary.status_code == 400 and "x.yaml:1:1: not UTF-8 text" in binary.text


def test_the_preview_is_not_found_for_anyone_else(client, settings):
    sign_in(client, settings, "lead@example.org")
    missing = client.post("/no-such-page", data={"csrftoken": csrf(client, "/work")})
    got = upload_as_other(client)
    assert (got.status_code, got.text) == (404, missing.text)


def upload_as_other(client):
    token = csrf(client, "/work")
    files = {"journey": ("adult-cjs.yaml", FASTER.encode(), "application/yaml")}
    return client.post("/programme/preview", data={"csrftoken": token}, files=files)


def test_an_upload_without_the_sites_token_is_refused(client, settings):
    sign_in(client, settings, "prog@example.org")
    client.get("/programme")  # the CSRF cookie is set
    files = {"journey": ("adult-cjs.yaml", FASTER.encode(), "application/yaml")}
    forged = client.post("/programme/preview", data={"csrftoken": "not-it"}, files=files)
    bare = client.post("/programme/preview", files=files)
    assert forged.status_code == bare.status_code == 403
    assert "This form has expired" in forged.text


def test_the_diagram_page_alone_allows_inline_styles_and_only_for_programme_leads(client, settings):
    sign_in(client, settings, "prog@example.org")
    diagram = client.get("/programme/journeys/adult-cjs/diagram")
    assert diagram.status_code == 200 and "flowchart" in diagram.text
    policy = diagram.headers["content-security-policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "frame-ancestors 'self'" in policy
    assert "script-src 'self';" in policy and diagram.headers["x-frame-options"] == "SAMEORIGIN"
    page = client.get("/programme")
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert client.get("/programme/journeys/no-such/diagram").status_code == 404

    sign_in(client, settings, "nav@example.org")
    missing = client.get("/no-such-page")
    got = client.get("/programme/journeys/adult-cjs/diagram")
    assert (got.status_code, got.text) == (404, missing.text)
