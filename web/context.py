"""What every page handler uses: the installation (`Web`), a unit of work, the signed-in
person (`Visitor`), and rendering.

A handler opens one unit of work, resolves the visitor inside it (`signed_in`), calls the
service as that visitor's `Actor`, and renders. Anything not signed in raises
`SignInNeeded`, which the app turns into a redirect to the sign-in page.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.responses import HTMLResponse

from engine import access
from engine.catalog import Catalog
from engine.core.actors import Actor
from engine.settings import Settings
from engine.store import read_scope, session_scope
from web import fields, signin, words

TEMPLATES = Path(__file__).resolve().parent / "templates"
COOKIE = "alongside_session"
CSRF_COOKIE = "csrftoken"  # asgi-csrf's cookie
WARN_BEFORE = 120  # seconds before the idle limit that the page warns


class SignInNeeded(Exception):
    """The request needs a signed-in person and has none (or their session ended)."""


@dataclass(frozen=True, slots=True)
class Visitor:
    """The signed-in person, as the pages need them."""

    email: str
    name: str
    role: str
    actor: Actor
    ends_at: datetime
    now: datetime
    zone: ZoneInfo  # their organisation's: the pages show and read times in it

    @property
    def expires_in(self) -> int:
        """Seconds until the session ends unless the person does something."""
        return max(0, int((self.ends_at - self.now).total_seconds()))

    @property
    def leads(self) -> bool:
        return self.role in ("team_lead", "programme_lead", "programme_admin")

    @property
    def programme(self) -> bool:
        return self.role in ("programme_lead", "programme_admin")


@dataclass
class Web:
    """One installation's web app: its settings, clock and secret, read once at start."""

    settings: Settings
    clock: Callable[[], datetime]
    secret: str
    secure: bool
    templates: Jinja2Templates = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(directory=TEMPLATES)
        # The templates ship with the code: no stat() of each one at every include.
        self.templates.env.auto_reload = False
        self.templates.env.globals.update(words=words, warn_before=WARN_BEFORE, **fields.GLOBALS)
        self.templates.env.filters.update(words.FILTERS, zip_self=lambda xs: [(x, x) for x in xs])

    @property
    def url(self) -> str:
        return self.settings.url

    @cached_property
    def catalog(self) -> Catalog:
        return self.settings.catalog

    @contextmanager
    def unit(self) -> Iterator[tuple[Session, datetime]]:
        """A unit of work and the instant it acts at."""
        with session_scope(self.url) as session:
            yield session, self.clock()

    @contextmanager
    def reading(self) -> Iterator[tuple[Session, datetime]]:
        """A unit of work for a page that only reads (and audits the read, and restarts the
        session's idle clock): no write lock held while it reads and renders
        (`engine.store.read_scope`)."""
        with read_scope(self.url) as session:
            yield session, self.clock()

    def render_text(self, template: str, **context: Any) -> str:
        """A page without a request (the CSRF failure page)."""
        return self.templates.env.get_template(template).render(
            me=None, csrf="", path="/", **context
        )

    def page(
        self,
        request: Request,
        template: str,
        me: Visitor | None = None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """A page (or htmx's part of one); a signed-in page says when the session ends, so
        the time-out warning follows requests made in place."""
        response = self.templates.TemplateResponse(
            request,
            template,
            {"me": me, "csrf": _csrf(request), "path": request.url.path, **context},
            status_code=status,
        )
        if me is not None:
            response.headers["X-Session-Expires-In"] = str(me.expires_in)
        return response

    def not_found(self, request: Request) -> HTMLResponse:
        """The one "not found" page: out of scope, unknown and malformed all look like it."""
        return self.page(request, "not_found.html", status=404)

    def error(self, request: Request, status: int, title: str) -> HTMLResponse:
        return self.page(request, "error.html", status=status, title=title, message=None)


def _csrf(request: Request) -> str:
    """The CSRF token for the page's forms; none on the crash page, which is rendered
    outside the CSRF middleware and has no forms."""
    token = request.scope.get("csrftoken")
    return token() if token else ""


def same_site(request: Request, token: str) -> None:
    """The CSRF check asgi-csrf makes on a form, for a form that posts a file: its token
    must be the CSRF cookie's (which another site can neither read nor set)."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not (cookie and token and secrets.compare_digest(cookie, token)):
        raise CrossSite()


class CrossSite(Exception):
    """A form posted without this site's CSRF token: the "form has expired" page."""


def web(request: Request) -> Web:
    return request.app.state.web


def signed_in(request: Request, session: Session, now: datetime) -> Visitor:
    """The person this request's session cookie belongs to; `SignInNeeded` otherwise."""
    return visitor(session, request.cookies.get(COOKIE), now)


def visitor(session: Session, cookie: str | None, now: datetime) -> Visitor:
    """The person a session cookie's value belongs to; `SignInNeeded` otherwise."""
    found = signin.current(session, cookie, now)
    if found is None:
        raise SignInNeeded()
    person = found.staff
    return Visitor(
        email=person.email,
        name=person.name,
        role=person.role,
        actor=access.actor_of(person, found.team),
        ends_at=found.ends_at,
        now=now,
        zone=ZoneInfo(found.timezone),
    )


def home_for(me: Visitor) -> str:
    """Where a person lands after signing in: their own work, or their team's."""
    if me.role == "team_lead":
        return "/team"
    if me.programme:
        return "/programme"
    return "/work"
