"""My work: the signed-in person's open tasks, grouped by when they are due, with filters.

The tasks are those of the cases the person holds (their own, and any they cover), read
through `engine.queries` with their `Actor`, so nothing outside their scope can appear.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.responses import Response

from engine import queries
from engine.core.errors import UserError
from notifications.render import due_text
from web import words
from web.context import Visitor, signed_in, web
from web.fields import Blank, BlankText, ErrorsByTask

router = APIRouter()


def task_view(row: dict, now: datetime, tz: ZoneInfo, quiet: Collection[str]) -> dict:
    """One task as the pages show it, in the reader's zone `tz`: the query's row, its due
    date in words, its flags."""
    due = datetime.fromisoformat(row["due"])
    return {
        **row,
        "due_at": due,
        "due_words": words.due_words(due, now, tz),
        "due_text": due_text(due, row["precision"], tz),  # as the emails say it
        "overdue": row["status"] == "open" and due < now,
        "closed": datetime.fromisoformat(row["closed_at"]) if row.get("closed_at") else None,
        "quiet": row["case"] in quiet,
    }


def task_context(
    tz: ZoneInfo,
    now: datetime,
    errors: dict[int, dict[str, str]] | None = None,
    values: dict | None = None,
) -> dict:
    """What the task partial needs besides the task, in the reader's zone `tz`: with the
    field `errors` of each task and the `values` posted, if a form is shown again."""
    return {
        "tz": tz,
        "now_input": words.local_input(now, tz),
        "quiet_days": queries.QUIET_DAYS,
        "task_errors": ErrorsByTask(
            {task_id: Blank(fields) for task_id, fields in (errors or {}).items()}
        ),
        "values": BlankText(values or {}),
    }


SHOWN = 10  # tasks under each heading of My work; the rest a link away
PAGE = 50  # tasks on a page of one heading


def work_groups(
    session: Session,
    now: datetime,
    me: Visitor,
    navigator: str,
    *,
    category: str | None = None,
    case: str | None = None,
    group: str | None = None,
    page: int = 1,
) -> dict:
    """The headings of someone's open tasks, each with its first `SHOWN` tasks, or (`group`)
    one heading's page of `PAGE`: only what is shown is read and rendered, however many
    tasks there are."""
    tz = me.zone
    bucket = words.SLUGS.index(group) if group in words.SLUGS else None
    limit = PAGE if bucket is not None else SHOWN
    page = min(max(1, page), 100_000) if bucket is not None else 1
    found = queries.work(
        session, me.actor, navigator, words.bounds(now, tz), category=category, case=case,
        bucket=bucket, offset=(page - 1) * limit, limit=limit,
        quiet_before=now - timedelta(days=queries.QUIET_DAYS),
    )  # fmt: skip
    quiet = set(found["quiet"])
    groups: dict[str, list[dict]] = {
        name: [] for n, name in enumerate(words.GROUPS) if bucket is None or n == bucket
    }
    for row in found["tasks"]:
        groups[words.GROUPS[row["bucket"]]].append(task_view(row, now, tz, quiet))
    sizes = dict(zip(words.GROUPS, found["sizes"], strict=True))
    return {
        "groups": groups,
        "sizes": sizes,
        "slugs": dict(zip(words.GROUPS, words.SLUGS, strict=True)),
        "group": words.GROUPS[bucket] if bucket is not None else None,
        "page": page,
        "pages": max(1, -(-sizes[words.GROUPS[bucket]] // PAGE)) if bucket is not None else 1,
        "categories": found["categories"],
        "refs": found["refs"],
        "quiet": quiet,
    }


def render_work(
    request: Request,
    session: Session,
    now: datetime,
    me: Visitor,
    *,
    category: str | None = None,
    case: str | None = None,
    group: str | None = None,
    page: int = 1,
    errors: dict[int, dict[str, str]] | None = None,
    values: dict[str, str] | None = None,
    changed: dict | None = None,
    status: int = 200,
) -> Response:
    site = web(request)
    shown = work_groups(
        session, now, me, me.email, category=category, case=case, group=group, page=page
    )
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
        **{k: v for k, v in shown.items() if k != "quiet"},
        category=category or "",
        case=case or "",
        quiet_refs=sorted(shown["quiet"]),
        errors=summary,
        changed=changed,
        return_to=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        **task_context(me.zone, now, errors, values),
    )


@router.get("/work")
def my_work(
    request: Request,
    category: str | None = None,
    case: str | None = None,
    group: str | None = None,
    page: int = 1,
    changed: int | None = None,
) -> Response:
    site = web(request)
    with site.reading() as (session, now):
        me = signed_in(request, session, now)
        done = changed_task(session, me, changed)
        return render_work(
            request, session, now, me, category=category, case=case, group=group, page=page,
            changed=done,
        )  # fmt: skip


def changed_task(session: Session, me: Visitor, task_id: int | None) -> dict | None:
    """The task a form without JavaScript just changed, for the banner that says so."""
    if task_id is None:
        return None
    try:
        return queries.task_detail(session, me.actor, task_id)
    except UserError:
        return None
