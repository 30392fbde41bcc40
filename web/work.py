"""My work: the signed-in person's open tasks, grouped by when they are due, with filters.

The tasks are those of the cases the person holds (their own, and any they cover), read
through `engine.queries` with their `Actor`, so nothing outside their scope can appear.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.responses import Response

from engine import queries
from engine.core.errors import UserError
from web import words
from web.context import Visitor, Web, signed_in, web

router = APIRouter()


def task_view(row: dict, now: datetime, site: Web, quiet: dict[str, Any]) -> dict:
    """One task as the pages show it: the query's row, its due date in words, its flags."""
    tz = site.settings.zone
    due = datetime.fromisoformat(row["due"])
    return {
        **row,
        "due_at": due,
        "due_words": words.due_words(due, now, tz),
        "overdue": row["status"] == "open" and due < now,
        "closed": datetime.fromisoformat(row["closed_at"]) if row.get("closed_at") else None,
        "quiet": row["case"] in quiet,
        "last_contact": quiet.get(row["case"]),
    }


def task_context(site: Web, now: datetime) -> dict:
    """What the task partial needs besides the task."""
    tz = site.settings.zone
    return {"tz": tz, "now_input": words.local_input(now, tz), "quiet_days": queries.QUIET_DAYS}


def render_work(
    request: Request,
    session: Session,
    now: datetime,
    me: Visitor,
    *,
    category: str | None = None,
    case: str | None = None,
    errors: dict[int, dict[str, str]] | None = None,
    values: dict[str, str] | None = None,
    changed: dict | None = None,
    status: int = 200,
) -> Response:
    site = web(request)
    rows = queries.tasks(session, me.actor, now, navigator=me.email, status="open")
    categories = sorted({r["category"] for r in rows})
    refs = sorted({r["case"] for r in rows})
    quiet = queries.quiet_cases(session, refs, now)
    shown = [
        r
        for r in rows
        if (not category or r["category"] == category) and (not case or r["case"] == case)
    ]
    tz = site.settings.zone
    groups: dict[str, list[dict]] = {name: [] for name in words.GROUPS}
    for row in shown:
        view = task_view(row, now, site, quiet)
        groups[words.group(view["due_at"], now, tz)].append(view)
    summary = {
        f"{field}-{task_id}": message
        for task_id, fields in (errors or {}).items()
        for field, message in fields.items()
    }
    return site.page(
        request,
        "work.html",
        me=me,
        status=status,
        groups=groups,
        categories=categories,
        refs=refs,
        category=category or "",
        case=case or "",
        quiet_refs=sorted(quiet),
        errors=summary,
        task_errors=errors or {},
        values=values or {},
        changed=changed,
        return_to=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        **task_context(site, now),
    )


@router.get("/work")
def my_work(
    request: Request,
    category: str | None = None,
    case: str | None = None,
    changed: int | None = None,
) -> Response:
    site = web(request)
    with site.unit() as (session, now):
        me = signed_in(request, session, now)
        done = changed_task(session, me, changed)
        return render_work(request, session, now, me, category=category, case=case, changed=done)


def changed_task(session: Session, me: Visitor, task_id: int | None) -> dict | None:
    """The task a form without JavaScript just changed, for the banner that says so."""
    if task_id is None:
        return None
    try:
        return queries.task_detail(session, me.actor, task_id)
    except UserError:
        return None
