"""The web app: one FastAPI application over the service layer, rendered on the server.

`create_app(settings)` builds it; `alongside serve` runs it with uvicorn. Every page works
without JavaScript; htmx only saves a reload. The pages use the use cases of
`engine.service` with the signed-in person as the acting `Actor`, so the web gets the same
rules, scopes, messages and audit as the command line.

Around every request (outermost first): an access log that names the path only (never a
query string, never a sign-in token); security headers (a strict Content Security Policy
with no inline script, `nosniff`, `no-referrer`, and `no-store` on every page, because
case pages are read on shared computers); CSRF on every request that is not a read
(`asgi-csrf`: a signed cookie that every form and htmx request sends back).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from asgi_csrf import asgi_csrf_decorator
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from engine.clock import utcnow
from engine.failures import explain
from engine.files import private_dir, write_private
from engine.settings import Settings
from web import pages
from web.context import CrossSite, SignInNeeded, Web

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SECRET_FILE = "web-secret"
UPLOADS = {"/programme/preview"}  # the forms that post files

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]

# A page may set these itself: only the journey diagram does (web.programme.DIAGRAM_CSP).
FRAMEABLE = {b"content-security-policy", b"x-frame-options"}

access_log = logging.getLogger("alongside.web.access")


def secure_cookies(base_url: str) -> bool:
    """Cookies are `Secure` unless the app is served over plain HTTP on this machine."""
    parts = urlsplit(base_url)
    return not (parts.scheme == "http" and (parts.hostname or "") in LOOPBACK)


def web_secret(settings: Settings) -> str:
    """ALONGSIDE_WEB_SECRET, else a random secret kept (0600) in the home, made once."""
    if settings.web_secret:
        return settings.web_secret
    import secrets

    path = settings.home / SECRET_FILE
    if not path.exists():
        private_dir(settings.home)
        write_private(path, secrets.token_urlsafe(48).encode())
    return path.read_text().strip()


class _Everywhere:
    """`always_protect` for asgi-csrf: every path, even a request with no cookies."""

    def __contains__(self, path: object) -> bool:
        return True


def expired(web: Web) -> HTMLResponse:
    """The page a form without this site's CSRF token gets."""
    body = web.render_text(
        "error.html",
        title="This form has expired",
        message="Go back, reload the page and try again.",
    )
    return HTMLResponse(body, status_code=403)


def _checks_its_own_upload(scope: dict) -> bool:
    """A file upload's form checks its CSRF token in its handler (`web.context.same_site`):
    asgi-csrf's multipart reader fails on the python-multipart this app installs."""
    return scope["method"] == "POST" and scope["path"] in UPLOADS


class CSRF:
    """asgi-csrf as a Starlette middleware class; its failure page is our own."""

    def __init__(self, app: Any, *, secret: str, secure: bool, web: Web) -> None:
        async def failed(scope: dict, send: Callable, _reason: Any) -> None:
            await expired(web)(scope, None, send)

        self.app = asgi_csrf_decorator(
            signing_secret=secret,
            always_protect=_Everywhere(),
            cookie_secure=secure,
            send_csrf_failed=failed,
            skip_if_scope=_checks_its_own_upload,
        )(app)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        await self.app(scope, receive, send)


class SecurityHeaders:
    """The headers every response carries; `no-store` on everything but static files."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        began = time.perf_counter()
        status = 500

        async def with_headers(event: dict) -> None:
            nonlocal status
            if event["type"] == "http.response.start":
                status = event["status"]
                given = event.get("headers", [])
                own = {h[0] for h in given} & FRAMEABLE  # a diagram's own, looser policy
                headers = [h for h in given if h[0] != b"cache-control"]
                headers += [h for h in HEADERS if h[0] not in own]
                headers.append(
                    (b"cache-control", b"public, max-age=3600" if static else b"no-store")
                )
                event = {**event, "headers": headers}
            await send(event)

        try:
            await self.app(scope, receive, with_headers)
        finally:
            access_log.info(
                "%s %s %s %.1fms",
                scope["method"],
                logged_path(scope["path"]),
                status,
                (time.perf_counter() - began) * 1000,
            )


def logged_path(path: str) -> str:
    """The path as the access log may keep it: a sign-in token is never written down."""
    return "/sign-in/…" if path.startswith("/sign-in/") else path


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    """The application for one installation; `clock` is the wall clock unless a test
    gives its own."""
    secure = secure_cookies(settings.base_url)
    web = Web(settings=settings, clock=clock, secret=web_secret(settings), secure=secure)
    web.catalog.warm()  # each worker parses its journeys before it serves anyone
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in pages.routers():
        app.include_router(router)

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, _error: SignInNeeded) -> Response:
        target = "/sign-in"
        if request.method == "GET" and request.url.path not in ("/", "/sign-in"):
            target = f"/sign-in?next={request.url.path}"
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CrossSite)
    async def cross_site(request: Request, _error: CrossSite) -> Response:
        return expired(web)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            return web.not_found(request)
        title = "Sorry, that did not work" if error.status_code != 405 else "Not allowed"
        return web.error(request, error.status_code, title)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, _error: RequestValidationError) -> Response:
        # A malformed path (`/tasks/abc`) is a page that does not exist; nothing is echoed.
        return web.not_found(request)

    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception) -> Response:
        # One line by kind (engine.failures): an error's text can hold a case's facts.
        line, _ = explain(error, settings.url)
        logging.getLogger("alongside.web").error(
            "%s %s failed: %s", request.method, logged_path(request.url.path), line
        )
        return web.error(request, 500, "Sorry, there is a problem with the service")

    app.add_middleware(CSRF, secret=web.secret, secure=secure, web=web)
    app.add_middleware(SecurityHeaders)
    return app
