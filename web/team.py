"""The team page (team leads, and programme leads for their organisations): each navigator's
open, overdue and escalated tasks and quiet cases; one navigator's work; reassigning cases.

The figures are `engine.queries.team`'s (the same as `alongside team show`), reassigning is
`service.assign` (the same as `alongside case assign`), and acknowledging an escalation is
the task form of `web.tasks`. A navigator, who leads nobody, gets the 404 page here.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from sqlmodel import Session
from starlette.responses import RedirectResponse, Response

from engine import queries, service
from engine.core.errors import UserError
from web import words
from web.context import Visitor, signed_in, web
from web.work import task_context, task_view

router = APIRouter()


def _lead(request: Request, session: Session, now: datetime) -> Visitor:
    me = signed_in(request, session, now)
    if not me.leads:
        raise HTTPException(404)
    return me


def _rows(session: Session, me: Visitor, now: datetime) -> list[dict]:
    lead = me.email if me.role == "team_lead" else None
    return queries.team(session, me.actor, now, lead, queries.QUIET_DAYS)


def _person(rows: list[dict], email: str) -> dict:
    """A navigator on the lead's team page; anyone else is the 404 page."""
    found = next((r for r in rows if r["navigator"] == email), None)
    if found is None:
        raise HTTPException(404)
    return found


@router.get("/team")
def team_page(request: Request) -> Response:
    site = web(request)
    with site.reading() as (session, now):
        me = _lead(request, session, now)
        rows = _rows(session, me, now)
        return site.page(request, "team.html", me=me, rows=rows, quiet_days=queries.QUIET_DAYS)


def render_navigator(
    request: Request,
    session: Session,
    now: datetime,
    me: Visitor,
    email: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict | None = None,
    moved: int | None = None,
    status: int = 200,
) -> Response:
    site = web(request)
    rows = _rows(session, me, now)
    person = _person(rows, email)
    tasks = queries.tasks(session, me.actor, now, navigator=email, status="open")
    held = [c for c in queries.cases(session, me.actor, email, None) if c["status"] == "open"]
    quiet = queries.quiet_cases(session, [c["ref"] for c in held], now)
    groups: dict[str, list[dict]] = {name: [] for name in words.GROUPS}
    for row in tasks:
        view = task_view(row, now, me.zone, quiet)
        groups[words.group(view["due_at"], now, me.zone)].append(view)
    others = [r["navigator"] for r in rows if r["active"] and r["navigator"] != email]
    return site.page(
        request,
        "navigator.html",
        me=me,
        status=status,
        person=person,
        groups=groups,
        held=held,
        quiet=quiet,
        others=others,
        errors=errors or {},
        moved=moved,
        return_to=f"/team/{quote(email, safe='@')}",
        **task_context(me.zone, now, None, values),
    )


@router.get("/team/{email}")
def navigator_page(request: Request, email: str, moved: int | None = None) -> Response:
    site = web(request)
    with site.reading() as (session, now):
        me = _lead(request, session, now)
        return render_navigator(request, session, now, me, email, moved=moved)


def _field(message: str) -> str:
    if "reason" in message:
        return "reason"
    if "case reference" in message or "unknown case" in message or "closed" in message:
        return "refs"
    return "navigator"


@router.post("/team/{email}/reassign")
def reassign(
    request: Request,
    email: str,
    refs: list[str] = Form(default=[]),
    navigator: str = Form(""),
    reason: str = Form(""),
    everything: str | None = Form(None),
) -> Response:
    """Give some of a navigator's cases, or all of them (a leaver's), to someone else."""
    site = web(request)
    values = {"refs": refs, "navigator": navigator, "reason": reason, "everything": everything}
    try:
        with site.unit() as (session, now):
            me = _lead(request, session, now)
            _person(_rows(session, me, now), email)
            if not navigator:
                raise UserError("Choose who takes the cases on")
            moved = service.assign(
                session, site.catalog, [] if everything else refs, navigator,
                reason, now, me.actor, from_email=email if everything else None,
            )  # fmt: skip
    except UserError as error:
        message = str(error).replace(" (--reason TEXT)", "").replace(" (or --from EMAIL)", "")
        with site.unit() as (session, now):
            me = _lead(request, session, now)
            return render_navigator(
                request, session, now, me, email,
                errors={_field(message): message}, values=values, status=400,
            )  # fmt: skip
    return RedirectResponse(f"/team/{quote(email, safe='@')}?moved={len(moved)}", status_code=303)
