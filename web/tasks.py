"""Completing, waiving and reopening a task (and a lead acknowledging its escalation).

Each is a form that works without JavaScript (POST, then back to the page it came from with
a banner, or that page again with the error beside the field) and, with htmx, in place:
the answer is the task's own part of the page. The rules and their messages are the
service's (`engine.service`), exactly as `alongside task done|waive|reopen|ack` has them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import unquote, urlencode, urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from sqlmodel import Session
from starlette.responses import RedirectResponse, Response

from engine import queries, service
from engine.acknowledgements import acknowledge_task
from engine.core.errors import UserError
from engine.core.values import parse_instant
from web.cases import render_case
from web.context import Visitor, signed_in, web
from web.work import render_work, task_context, task_view

router = APIRouter()


def _back(return_to: str | None) -> str:
    """The page a form came from: a path on this site, else My work."""
    if return_to and return_to.startswith("/") and not return_to.startswith("//"):
        return return_to
    return "/work"


def _with(path: str, **query: object) -> str:
    parts = urlsplit(path)
    kept = [p for p in parts.query.split("&") if p and not p.startswith("changed=")]
    return f"{parts.path}?{'&'.join([*kept, urlencode(query)])}"


def field_of(message: str) -> str:
    """Which field of a task's forms a service message is about."""
    if message.startswith("--at") or "counts from" in message:
        return "done-at"
    if "outcome" in message or "reached" in message:
        return "outcome"
    if "reason" in message or "waiv" in message:
        return "reason"
    return "note"


def plain(message: str) -> str:
    """A service message as a page says it: the form's words, not the command line's."""
    return message.replace("--at ", "The time done, ").replace(" (--reason TEXT)", "")


def _act(
    request: Request,
    task_id: int,
    return_to: str | None,
    change: Callable[[Session, datetime, Visitor], object],
    values: dict[str, str],
) -> Response:
    """Run one change as the signed-in person; answer in place (htmx) or by redirect."""
    site = web(request)
    htmx = bool(request.headers.get("hx-request"))
    error: str | None = None
    try:
        with site.unit() as (session, now):
            me = signed_in(request, session, now)
            change(session, now, me)
    except UserError as failed:
        error = str(failed)
        if error.startswith(f"unknown task {task_id}"):
            raise HTTPException(404) from None
    back = _back(return_to)
    if error is None and not htmx:
        return RedirectResponse(_with(back, changed=task_id), status_code=303)
    with site.unit() as (session, now):
        me = signed_in(request, session, now)
        errors = {task_id: {field_of(error): plain(error)}} if error else {}
        if htmx:
            return _task_part(request, session, now, me, task_id, errors, values, back)
        if back.startswith("/cases/"):  # the form was on a case's page: that page again
            ref = unquote(urlsplit(back).path.removeprefix("/cases/"))
            return render_case(
                request, session, now, me, ref, task_errors=errors, values=values, status=400
            )
        return render_work(request, session, now, me, errors=errors, values=values, status=400)


def _task_part(
    request: Request,
    session: Session,
    now: datetime,
    me: Visitor,
    task_id: int,
    errors: dict[int, dict[str, str]],
    values: dict[str, str],
    return_to: str,
) -> Response:
    site = web(request)
    row = queries.task_detail(session, me.actor, task_id)
    quiet = queries.quiet_cases(session, [row["case"]], now)
    return site.page(
        request,
        "_task_part.html",
        me=me,
        task=task_view(row, now, me.zone, quiet),
        return_to=return_to,
        **task_context(me.zone, now, errors, values),
    )


@router.post("/tasks/{task_id}/done")
def complete(
    request: Request,
    task_id: int,
    note: str = Form(""),
    done_at: str = Form(""),
    outcome: str = Form(""),
    return_to: str | None = Form(None),
) -> Response:
    def change(session: Session, now: datetime, me: Visitor) -> None:
        at = parse_instant(done_at, me.zone) if done_at.strip() else None
        catalog = web(request).catalog
        service.complete_task(
            session, catalog, task_id, at, note.strip() or None, now, me.actor,
            outcome=outcome or None,
        )  # fmt: skip

    values = {"note": note, "done-at": done_at, "outcome": outcome}
    return _act(request, task_id, return_to, change, values)


@router.post("/tasks/{task_id}/waive")
def waive(
    request: Request, task_id: int, reason: str = Form(""), return_to: str | None = Form(None)
) -> Response:
    def change(session: Session, now: datetime, me: Visitor) -> None:
        service.waive_task(session, web(request).catalog, task_id, reason.strip(), now, me.actor)

    return _act(request, task_id, return_to, change, {"reason": reason})


@router.post("/tasks/{task_id}/reopen")
def reopen(request: Request, task_id: int, return_to: str | None = Form(None)) -> Response:
    def change(session: Session, now: datetime, me: Visitor) -> None:
        service.reopen_task(session, web(request).catalog, task_id, now, me.actor)

    return _act(request, task_id, return_to, change, {})


@router.post("/tasks/{task_id}/ack")
def acknowledge(request: Request, task_id: int, return_to: str | None = Form(None)) -> Response:
    def change(session: Session, now: datetime, me: Visitor) -> None:
        if not me.leads:  # a navigator leads nobody: as for the team page, no such thing
            raise HTTPException(404)
        acknowledge_task(session, web(request).catalog, task_id, now, me.actor)

    return _act(request, task_id, return_to, change, {})
