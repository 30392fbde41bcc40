"""The web app under FastAPI's TestClient: a real database (SQLite and PostgreSQL), the file
transport, and a clock the test moves.

`sign_in(client, email)` goes the whole way a person does: the form, the `.eml` in the
outbox, the confirm page, its button.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import at

BASE = "http://127.0.0.1:8000"
START = at("2027-01-05T09:00")
LINK = re.compile(r"http://127\.0\.0\.1:8000/sign-in/[A-Za-z0-9_\-]+(\?next=[^\s\"<>]*)?")
CSRF = re.compile(r'name="csrftoken" value="([^"]+)"')


@dataclass
class Clock:
    """The app's clock: `now` until a test moves it."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(staffed: str, home: Path):
    from engine.settings import Settings

    return Settings()


@pytest.fixture
def app(settings, clock: Clock):
    from web.app import create_app

    return create_app(settings, clock=clock)


@pytest.fixture
def client(app) -> TestClient:
    return TestClient(app, base_url=BASE, follow_redirects=False)


def new_client(app) -> TestClient:
    """Another browser on the same app."""
    return TestClient(app, base_url=BASE, follow_redirects=False)


def csrf(client: TestClient, path: str = "/sign-in") -> str:
    """The CSRF token a page's forms carry (and its cookie, now in the client's jar)."""
    page = client.get(path)
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def post(client: TestClient, path: str, data: dict | None = None, *, page: str | None = None, **kw):
    """POST a form as the browser would: with the CSRF token from the page it is on."""
    token = csrf(client, page or ("/sign-in" if path.startswith("/sign-in") else "/work"))
    return client.post(path, data={"csrftoken": token, **(data or {})}, **kw)


def outbox_messages(settings) -> list:
    return [
        message_from_bytes(p.read_bytes(), policy=default_policy)
        for p in sorted(settings.outbox_dir.glob("*.eml"))
    ]


def last_link(settings, email: str) -> str:
    """The sign-in link in the newest message to `email` in the outbox."""
    for message in reversed(outbox_messages(settings)):
        if message["To"] == email:
            body = message.get_body(("plain",)).get_content()
            return LINK.search(body).group(0)
    raise AssertionError(f"no sign-in message to {email}")


def ask_for_link(client: TestClient, email: str, next: str | None = None):
    data = {"email": email, **({"next": next} if next else {})}
    return post(client, "/sign-in", data)


def sign_in(client: TestClient, settings, email: str) -> TestClient:
    """Sign `client` in as `email` through the emailed link, as a person would."""
    assert ask_for_link(client, email).status_code == 200
    link = last_link(settings, email).removeprefix(BASE)
    path = link.split("?")[0]
    confirm = client.get(link)
    assert confirm.status_code == 200 and "Sign in" in confirm.text
    response = client.post(path, data={"csrftoken": CSRF.search(confirm.text).group(1)})
    assert response.status_code == 303, response.text
    return client


def open_case(url: str, ref: str, navigator: str, referral: str, now: datetime, **facts: str):
    """Open a case on adult-cjs as the operator would, at `now`."""
    from engine import service
    from engine.core.actors import operator
    from engine.store import session_scope
    from tests.conftest import shipped_catalog

    with session_scope(url) as session:
        service.open_case(
            session, shipped_catalog(), ref, "adult-cjs", navigator,
            {"referral": referral}, dict(facts), now, operator(),
        )  # fmt: skip


def task_id(url: str, ref: str, obligation: str) -> int:
    from sqlmodel import select

    from engine.store import Case, Task, session_scope

    with session_scope(url) as session:
        return session.exec(
            select(Task.id)
            .join(Case, Case.id == Task.case_id)
            .where(Case.ref == ref, Task.obligation == obligation, Task.status == "open")
        ).one()
