"""Signing in by emailed link, sessions, CSRF, security headers and error pages."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from engine.store import OutboxMessage, SignInLink, Staff, WebSession, session_scope
from tests.web.conftest import (
    BASE,
    ask_for_link,
    csrf,
    last_link,
    new_client,
    outbox_messages,
    post,
    sign_in,
)
from tests.web.conftest import (
    START as START_AT,
)
from web.app import logged_path, secure_cookies

NAV = "nav@example.org"


def test_the_link_in_the_outbox_opens_a_confirm_page_whose_button_signs_in(client, settings):
    page = ask_for_link(client, NAV)
    assert page.status_code == 200 and "Check your email" in page.text
    [message] = outbox_messages(settings)
    assert message["To"] == NAV and message["Subject"] == "[Alongside] Your sign-in link"
    link = last_link(settings, NAV).removeprefix(BASE)
    confirm = client.get(link)  # what a mail scanner does: it spends nothing
    assert confirm.status_code == 200 and 'method="post"' in confirm.text
    assert client.get("/work").status_code == 303
    assert client.get(link).status_code == 200  # opening it twice is still fine
    signed = client.post(link, data={"csrftoken": csrf(client, link)})
    assert signed.status_code == 303 and signed.headers["location"] == "/work"
    cookie = signed.headers["set-cookie"]
    assert "alongside_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback only
    work = client.get("/work")
    assert work.status_code == 200 and "My work" in work.text and NAV in work.text


def test_a_link_works_once(client, settings):
    sign_in(client, settings, NAV)
    link = last_link(settings, NAV).removeprefix(BASE)
    other = new_client(client.app)
    again = other.post(link, data={"csrftoken": csrf(other, link)})
    assert again.status_code == 400 and "expired or has already been used" in again.text
    assert "set-cookie" not in again.headers or "alongside_session" not in again.headers.get(
        "set-cookie", ""
    )


def test_a_link_works_for_15_minutes(client, settings, clock):
    ask_for_link(client, NAV)
    link = last_link(settings, NAV).removeprefix(BASE)
    clock.advance(minutes=15)
    late = client.post(link, data={"csrftoken": csrf(client, link)})
    assert late.status_code == 400 and "expired" in late.text


def test_an_unknown_address_gets_the_same_page_and_no_message(client, settings):
    known = ask_for_link(client, NAV).text.replace(NAV, "ADDRESS")
    unknown = ask_for_link(client, "nobody@example.org").text.replace(
        "nobody@example.org", "ADDRESS"
    )
    assert known == unknown
    assert [m["To"] for m in outbox_messages(settings)] == [NAV]


def test_a_leaver_cannot_sign_in_with_a_link_sent_before_they_left(client, settings, staffed):
    ask_for_link(client, NAV)
    link = last_link(settings, NAV).removeprefix(BASE)
    with session_scope(staffed) as session:
        person = session.exec(select(Staff).where(Staff.email == NAV)).one()
        person.active = False
        session.add(person)
    refused = client.post(link, data={"csrftoken": csrf(client, link)})
    assert refused.status_code == 400


def test_the_token_is_kept_only_as_a_digest_and_leaves_the_outbox_once_sent(
    client, settings, staffed
):
    ask_for_link(client, NAV)
    token = last_link(settings, NAV).rsplit("/", 1)[1]
    with session_scope(staffed) as session:
        [link] = session.exec(select(SignInLink)).all()
        [row] = session.exec(select(OutboxMessage)).all()
    assert link.token_hash != token and token not in link.token_hash
    assert row.status == "sent" and row.payload["token"] == "" and row.case_ref is None


def test_a_bad_address_is_an_error_beside_the_field_and_in_the_summary(client, settings):
    page = ask_for_link(client, "not an address")
    assert page.status_code == 400
    assert 'class="govuk-error-summary"' in page.text and 'href="#email"' in page.text
    assert 'id="email-error"' in page.text and "correct format" in page.text
    assert page.text.count("correct format") == 2 and "<title>Error: Sign in" in page.text
    empty = ask_for_link(client, "  ")
    assert "Enter your work email address" in empty.text
    assert outbox_messages(settings) == []


@pytest.mark.parametrize("address", [NAV, "nobody@example.org"])
def test_links_are_rate_limited_per_address_known_or_not(client, settings, address):
    for _ in range(5):
        assert ask_for_link(client, address).status_code == 200
    refused = ask_for_link(client, address)
    assert refused.status_code == 429 and "Too many sign-in links" in refused.text
    assert len(outbox_messages(settings)) == (5 if address == NAV else 0)


def test_links_are_rate_limited_per_client_and_the_limit_passes(client, settings, clock):
    for n in range(20):
        assert ask_for_link(client, f"someone{n}@example.org").status_code == 200
    assert ask_for_link(client, NAV).status_code == 429
    clock.advance(minutes=16)
    assert ask_for_link(client, NAV).status_code == 200


def test_a_session_ends_after_30_idle_minutes(client, settings, clock):
    sign_in(client, settings, NAV)
    clock.advance(minutes=29)
    page = client.get("/work")
    assert page.status_code == 200
    assert 'data-session-expires-in="1800"' in page.text  # the idle clock restarted
    clock.advance(minutes=30)
    gone = client.get("/work")
    assert gone.status_code == 303 and gone.headers["location"] == "/sign-in?next=/work"


def test_a_session_ends_12_hours_after_signing_in_however_busy(client, settings, clock):
    sign_in(client, settings, NAV)
    for _ in range(35):  # a request every 20 minutes for 11 h 40 min
        clock.advance(minutes=20)
        assert client.get("/work").status_code == 200
    assert 'data-session-expires-in="1200"' in client.get("/work").text
    clock.advance(minutes=20)
    assert client.get("/work").status_code == 303


def test_stay_signed_in_restarts_the_idle_clock(client, settings, clock):
    sign_in(client, settings, NAV)
    clock.advance(minutes=28)
    token = csrf(client, "/work")
    kept = client.post("/session/extend", headers={"x-csrftoken": token})
    assert kept.status_code == 204 and kept.headers["x-session-expires-in"] == "1800"
    clock.advance(minutes=28)
    assert client.get("/work").status_code == 200


def test_a_time_out_ends_the_session_and_keeps_its_text_for_the_person_once(
    client, settings, clock, staffed
):
    sign_in(client, settings, NAV)
    token = csrf(client, "/work")
    typed = {"/work:/tasks/1/waive:reason": "Moved in with family", "/work:/x:note": "  "}
    clock.advance(minutes=31)  # the page's clock ran out late (a sleeping laptop)
    out = client.post("/session/time-out", json=typed, headers={"x-csrftoken": token})
    assert out.status_code == 204
    assert client.get("/work").status_code == 303  # the session has ended
    other = sign_in(new_client(client.app), settings, NAV)  # another browser, same person
    token = csrf(other, "/work")
    taken = other.post("/session/drafts", headers={"x-csrftoken": token})
    assert taken.json() == {"/work:/tasks/1/waive:reason": "Moved in with family"}
    assert other.post("/session/drafts", headers={"x-csrftoken": token}).json() == {}
    someone = sign_in(new_client(client.app), settings, "nav2@example.org")
    mine = someone.post("/session/drafts", headers={"x-csrftoken": csrf(someone, "/work")})
    assert mine.json() == {}


def test_a_time_out_with_bad_drafts_is_refused_and_changes_nothing(client, settings, staffed):
    sign_in(client, settings, NAV)
    token = csrf(client, "/work")
    for bad in (b"not json", b"[1, 2]", b'{"key": 3}'):
        refused = client.post("/session/time-out", content=bad, headers={"x-csrftoken": token})
        assert refused.status_code == 400
        assert refused.text == "drafts are at most 50 fields of text\n"
    assert client.get("/work").status_code == 200  # still signed in


def test_signing_out_ends_this_session_and_everywhere_ends_them_all(client, settings, staffed):
    sign_in(client, settings, NAV)
    laptop = sign_in(new_client(client.app), settings, NAV)
    phone = sign_in(new_client(client.app), settings, NAV)
    out = post(client, "/sign-out")
    assert out.status_code == 303 and out.headers["location"] == "/sign-in?signed_out=here"
    assert client.get("/work").status_code == 303
    assert laptop.get("/work").status_code == 200
    everywhere = post(laptop, "/sign-out/everywhere")
    assert everywhere.headers["location"] == "/sign-in?signed_out=everywhere"
    assert phone.get("/work").status_code == 303 and laptop.get("/work").status_code == 303
    assert "signed out on every device" in laptop.get(everywhere.headers["location"]).text
    with session_scope(staffed) as session:
        assert all(s.ended_at for s in session.exec(select(WebSession)).all())


def test_every_state_change_needs_the_csrf_token(client, settings):
    sign_in(client, settings, NAV)
    for path in (
        "/sign-out", "/sign-out/everywhere", "/session/extend", "/session/time-out",
        "/session/drafts", "/sign-in",
    ):  # fmt: skip
        refused = client.post(path, data={"email": NAV})
        assert refused.status_code == 403 and "This form has expired" in refused.text
        forged = client.post(path, data={"csrftoken": "forged", "email": NAV})
        assert forged.status_code == 403
    fresh = new_client(client.app)  # no cookies at all is no exemption
    assert fresh.post("/sign-in", data={"email": NAV}).status_code == 403
    assert client.get("/work").status_code == 200


def test_every_page_carries_the_security_headers(client, settings):
    sign_in(client, settings, NAV)
    for path in ("/work", "/sign-in", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
    static = client.get("/static/app.js")
    assert static.status_code == 200 and "no-store" not in static.headers["cache-control"]


def test_no_page_has_inline_script_or_style(client, settings):
    sign_in(client, settings, NAV)
    for path in ("/work", "/sign-in"):
        text = client.get(path).text
        assert "<script>" not in text and "<style" not in text and " style=" not in text
        assert " on" + "click=" not in text


def test_a_missing_page_is_a_plain_404_and_a_crash_shows_no_traceback(
    app, client, settings, monkeypatch
):
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "Page not found" in missing.text
    sign_in(client, settings, NAV)
    from engine import queries

    def broken(*args, **kwargs):
        raise RuntimeError("ZZSECRET fact text in an error")

    monkeypatch.setattr(queries, "work", broken)
    from fastapi.testclient import TestClient

    crashing = TestClient(app, base_url=BASE, raise_server_exceptions=False)
    crashing.cookies = client.cookies
    page = crashing.get("/work")
    assert page.status_code == 500 and "Sorry, there is a problem" in page.text
    assert "Traceback" not in page.text and "ZZSECRET" not in page.text


def test_a_page_asked_for_before_signing_in_is_where_the_link_leads(client, settings):
    away = client.get("/work")
    assert away.headers["location"] == "/sign-in?next=/work"
    ask_for_link(client, NAV, next="/work")
    link = last_link(settings, NAV)
    assert link.endswith("?next=/work")
    path = link.removeprefix(BASE)
    confirm = client.get(path)
    done = client.post(
        path.split("?")[0],
        data={"csrftoken": csrf(client, path), "next": "/work"},
    )
    assert confirm.status_code == 200 and done.headers["location"] == "/work"
    assert ask_for_link(client, NAV, next="https://evil.example/").status_code == 200
    assert "?next=" not in last_link(settings, NAV)


def test_cookies_are_secure_except_on_plain_http_loopback():
    assert not secure_cookies("http://127.0.0.1:8000")
    assert not secure_cookies("http://localhost:8000")
    assert secure_cookies("https://alongside.example.org")
    assert secure_cookies("http://alongside.example.org")


def test_the_access_log_names_paths_only_never_a_token(client, settings, caplog):
    with caplog.at_level(logging.INFO, logger="alongside.web.access"):
        sign_in(client, settings, NAV)
    token = last_link(settings, NAV).rsplit("/", 1)[1]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST /sign-in/… 303" in logged and token not in logged
    assert logged_path("/cases/KNT-0001") == "/cases/KNT-0001"


def test_the_demo_gets_a_working_link_for_each_person_it_names(client, settings):
    from web.signin import links_for

    [link] = links_for(settings, [NAV], START_AT)
    assert link == last_link(settings, NAV)
    path = link.removeprefix(BASE)
    assert client.post(path, data={"csrftoken": csrf(client, path)}).status_code == 303
