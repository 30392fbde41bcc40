"""Signing in with an emailed link, signing out (here or everywhere), keeping a session.

The sign-in form answers "check your email" whether or not the address belongs to someone,
and the message is sent straight after the answer (a background task), so neither the
page nor the time it takes says whether an account exists.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Form, Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from engine.core.errors import UserError
from engine.store import session_scope
from notifications.dispatch import dispatch
from web import signin
from web.context import COOKIE, Web, home_for, signed_in, visitor, web

router = APIRouter()


def _local(path: str | None) -> str | None:
    """A `next` page to return to: a path on this site only, never another site."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return None


def deliver(site: Web, outbox_id: int) -> None:
    """Send one sign-in message now, then forget its token."""
    dispatch(site.url, site.clock(), site.settings, only=[outbox_id])
    with session_scope(site.url) as session:
        signin.forget_token(session, outbox_id)


@router.get("/")
def home(request: Request) -> Response:
    site = web(request)
    with site.reading() as (session, now):
        me = signed_in(request, session, now)
    return RedirectResponse(home_for(me), status_code=303)


@router.get("/sign-in")
def sign_in_form(
    request: Request, next: str | None = None, signed_out: str | None = None
) -> Response:
    return web(request).page(
        request,
        "sign_in.html",
        next=_local(next),
        signed_out=signed_out,
        email="",
        errors={},
    )


@router.post("/sign-in")
def ask_for_link(
    request: Request, email: str = Form(""), next: str | None = Form(None)
) -> Response:
    site = web(request)
    client = request.client.host if request.client else "unknown"
    try:
        with site.unit() as (session, now):
            outbox_id = signin.request_link(
                session, email, client, now, site.secret, next_path=_local(next)
            )
    except UserError as error:
        status = 429 if isinstance(error, signin.TooManyRequests) else 400
        return site.page(
            request, "sign_in.html", status=status, next=_local(next), email=email,
            errors={"email": str(error)}, signed_out=None,
        )  # fmt: skip
    response = site.page(request, "check_email.html", email=email.strip())
    if outbox_id is not None:
        response.background = BackgroundTask(deliver, site, outbox_id)
    return response


@router.get("/sign-in/{token}")
def confirm_page(request: Request, token: str, next: str | None = None) -> Response:
    """The page a link opens: a button, so that a scanner opening the link spends nothing."""
    return web(request).page(request, "confirm.html", token=token, next=_local(next))


@router.post("/sign-in/{token}")
def confirm(request: Request, token: str, next: str | None = Form(None)) -> Response:
    site = web(request)
    try:
        with site.unit() as (session, now):
            value, _person = signin.redeem(session, token, now)
            me = visitor(session, value, now)
    except signin.LinkUnusable as error:
        return site.page(request, "link_unusable.html", status=400, message=str(error))
    response = RedirectResponse(_local(next) or home_for(me), status_code=303)
    response.set_cookie(COOKIE, value, httponly=True, samesite="lax", secure=site.secure, path="/")
    return response


def _signed_out(everywhere: bool) -> Response:
    response = RedirectResponse(
        f"/sign-in?signed_out={'everywhere' if everywhere else 'here'}", status_code=303
    )
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    site = web(request)
    with site.unit() as (session, now):
        signin.end(session, request.cookies.get(COOKIE), now)
    return _signed_out(False)


@router.post("/sign-out/everywhere")
def sign_out_everywhere(request: Request) -> Response:
    site = web(request)
    with site.unit() as (session, now):
        signin.end(session, request.cookies.get(COOKIE), now, everywhere=True)
    return _signed_out(True)


@router.post("/session/extend")
def extend(request: Request) -> Response:
    """ "Stay signed in" on the time-out warning: a request is all it takes."""
    site = web(request)
    with site.unit() as (session, now):
        me = signed_in(request, session, now)
    return Response(status_code=204, headers={"X-Session-Expires-In": str(me.expires_in)})


@router.post("/session/time-out")
async def timed_out(request: Request) -> Response:
    """The page's time-out warning ran out: the session ends, and the text typed into the
    page's forms (a JSON map of field key to text) is kept for signing in again."""
    try:
        drafts = json.loads(await request.body() or b"{}")
    except ValueError:
        drafts = None
    return await run_in_threadpool(_time_out, web(request), request.cookies.get(COOKIE), drafts)


def _time_out(site: Web, cookie: str | None, drafts: object) -> Response:
    try:
        with site.unit() as (session, now):
            signin.time_out(session, cookie, drafts, now)
    except signin.BadDrafts as error:
        return PlainTextResponse(f"{error}\n", status_code=400)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/session/drafts")
def drafts(request: Request) -> Response:
    """What a time-out kept for the signed-in person, given back once (to the first page
    that asks, which keeps it in the tab as the page's own drafts)."""
    site = web(request)
    with site.unit() as (session, now):
        me = signed_in(request, session, now)
        kept = signin.take_drafts(session, me.actor.staff_id, now)
    return JSONResponse(kept, headers={"X-Session-Expires-In": str(me.expires_in)})
