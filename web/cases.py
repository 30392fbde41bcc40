"""The case page: summary, the plan ahead with guidance, the timeline, and the forms that
record or correct an event and set or unset a fact.

Reading a case goes through `service.view_case` (audited); every form calls the use case
the command line calls (`alongside case event|fact`), so the rules and the messages are the
same. A case out of the person's scope is the same 404 page as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Request
from sqlmodel import Session
from starlette.responses import RedirectResponse, Response

from engine import queries, service
from engine.core.errors import UserError
from engine.core.planner import stage_window
from engine.core.values import EventTime
from engine.store import Case, CaseEvent
from web.context import Visitor, signed_in, web
from web.work import task_context, task_view

router = APIRouter()


def _unknown_case(error: UserError) -> bool:
    return str(error).startswith("unknown case ")


def _stages_now(journey, events: dict[str, EventTime], now: datetime) -> list[str]:
    """The titles of the stages active at `now` (the planner's own windows)."""
    titles = []
    for stage in journey.stages:
        start, end = stage_window(journey, stage, events)
        if start is not None and start <= now and (end is None or now < end):
            titles.append(stage.title)
    return titles


_event_t, _case_t = CaseEvent.__table__, Case.__table__
# The case's recorded events, oldest first, as Core rows: built once, for the stage now.
_EVENTS_OF = (
    sa.select(_event_t.c.name, _event_t.c.instant, _event_t.c.date_only)
    .join(_case_t, _case_t.c.id == _event_t.c.case_id)
    .where(_case_t.c.ref == sa.bindparam("ref"))
    .order_by(_event_t.c.id)
)

ROLES = {"navigator": "navigator", "team_lead": "team lead", "programme_lead": "programme lead"}


def _escalations(entry: dict, titles: dict[int, str], messages: dict[str, dict]) -> list[dict]:
    """A `task.escalate` entry as the timeline shows it: this case's tasks in the message,
    to whom (by role) and when it was sent; nothing of the other cases it may list."""
    extra = entry["detail"] or {}
    message = messages.get(extra.get("message", ""))
    if message is None:  # never queued (a leaver) or since purged: nothing was sent
        return []
    role = ROLES.get(message["role"] or "", "someone who has left")
    sent = message["status"] == "sent"
    when = message["sent_at"].isoformat() if sent else entry["at"]
    state = {"sent": "sent to", "failed": "failed to reach"}.get(
        message["status"], "waiting to be sent to"
    )
    return [
        {
            "at": when,
            "what": f"{titles.get(t['task'], 'A task')}: escalation (step {t['level']}) "
            f"{state} the {role}",
            "by": entry["actor"],
        }
        for t in extra.get("tasks", [])
    ]


# The audit entries `_timeline` shows; not the reads (`case.view`), one for every time
# the case page is opened, which filled the 200 newest entries of a much-read case.
TIMELINE_ACTIONS = frozenset(
    {
        "task.escalate",
        "reconcile",
        "case.assign",
        "case.event.remove",
        "case.fact",
        "case.fact.unset",
        "task.ack",
        "case.open",
    }
)


def _timeline(detail: dict, audit: list[dict], messages: dict[str, dict]) -> list[dict]:
    """Events recorded, tasks closed and reopened (with notes), re-dates, escalations,
    reassignments, newest first. Notes and reasons are shown here, with the case, and
    nowhere else."""
    items: list[dict] = []
    for event in detail["event_history"]:
        items.append(
            {
                "at": event["recorded_at"],
                "what": f"Event {event['name']} recorded: {event['value']}",
                "by": event["recorded_by"],
            }
        )
    titles = {t["id"]: t["title"] for t in detail["tasks"]}
    for task in detail["tasks"]:
        for step in task["history"]:
            verb = {"done": "done", "waived": "waived", "reopened": "reopened"}[step["action"]]
            items.append(
                {
                    "at": step["recorded_at"],
                    "what": f"{titles[task['id']]}: {verb}",
                    "by": step["by"],
                    "note": step.get("note"),
                    "reason": step.get("reason"),
                }
            )
    for entry in audit:
        action, extra = entry["action"], entry["detail"] or {}
        if action == "task.escalate":
            items += _escalations(entry, titles, messages)
            continue
        if action == "reconcile" and extra.get("redated"):
            what = f"Plan moved: {len(extra['redated'])} task(s) re-dated"
        elif action == "case.assign":
            what = f"Reassigned from {extra.get('previous')} to {extra.get('navigator')}"
        elif action == "case.event.remove":
            what = f"Event {extra.get('event')} removed"
        elif action in ("case.fact", "case.fact.unset"):
            verb = "set" if action == "case.fact" else "unset"
            what = f"Facts {verb}: {', '.join(extra.get('facts', []))}"
        elif action == "task.ack":
            what = f"Escalation acknowledged (step {extra.get('level')})"
        elif action == "case.open":
            what = f"Case opened on {extra.get('journey')}"
        else:
            continue
        items.append(
            {"at": entry["at"], "what": what, "by": entry["actor"], "reason": extra.get("reason")}
        )
    for item in items:
        item["at"] = datetime.fromisoformat(item["at"])
    return sorted(items, key=lambda i: i["at"], reverse=True)


def render_case(
    request: Request,
    session: Session,
    now: datetime,
    me: Visitor,
    ref: str,
    *,
    errors: dict[str, str] | None = None,
    task_errors: dict[int, dict[str, str]] | None = None,
    values: dict[str, str] | None = None,
    changed: str | None = None,
    status: int = 200,
) -> Response:
    site = web(request)
    try:
        detail = service.view_case(session, site.catalog, ref, now, me.actor)
    except UserError as error:
        if _unknown_case(error):
            raise HTTPException(404) from None
        raise
    journey = site.catalog.resolve(detail["journey"])
    recorded = session.execute(_EVENTS_OF, {"ref": ref})  # in scope: view_case said so
    events = {e.name: EventTime(e.instant, e.date_only) for e in recorded}  # the latest wins
    quiet = queries.quiet_cases(session, [ref], now)
    guidance = {ob_id: ob.description for ob_id, (_, ob) in journey.obligations.items()}
    ahead = [
        {**task_view(t, now, me.zone, quiet), "guidance": guidance.get(t["obligation"])}
        for t in detail["tasks"]
        if t["status"] == "open"
    ]
    audit = queries.audit(session, me.actor, ref, 200, TIMELINE_ACTIONS)
    keys = [e["detail"]["message"] for e in audit if e["action"] == "task.escalate"]
    messages = queries.messages_by_key(session, keys)
    summary = {f"{field}": message for field, message in (errors or {}).items()}
    for task_id, fields in (task_errors or {}).items():
        summary.update({f"{f}-{task_id}": m for f, m in fields.items()})
    return site.page(
        request,
        "case.html",
        me=me,
        status=status,
        case=detail,
        journey=journey,
        stages_now=_stages_now(journey, events, now),
        ahead=ahead,
        timeline=_timeline(detail, audit, messages),
        quiet=ref in quiet,
        errors=summary,
        form_errors=errors or {},
        changed=changed,
        return_to=f"/cases/{quote(ref, safe='')}",
        show_case=False,
        **task_context(me.zone, now, task_errors, values),
    )


@router.get("/cases/{ref}")
def case_page(request: Request, ref: str, changed: str | None = None) -> Response:
    site = web(request)
    with site.reading() as (session, now):
        me = signed_in(request, session, now)
        return render_case(request, session, now, me, ref, changed=changed)


@router.get("/tasks/{task_id}")
def task_page(request: Request, task_id: int) -> Response:
    """Where every email's task link goes: the task on its case's page."""
    site = web(request)
    with site.reading() as (session, now):
        me = signed_in(request, session, now)
        try:
            row = queries.task_detail(session, me.actor, task_id)
        except UserError:
            raise HTTPException(404) from None
    return RedirectResponse(f"/cases/{quote(row['case'], safe='')}#task-{task_id}", 303)


def plain(message: str) -> str:
    """A service message in the form's words rather than the command line's."""
    return (
        message.replace("give --confirm if it is right", "tick the box if it is right")
        .replace(" (--reason TEXT)", "")
        .replace("give at least one NAME=WHEN", "Enter when it happened")
        .replace("give at least one NAME=VALUE", "Enter a value")
    )


def _change(
    request: Request,
    ref: str,
    field: str,
    change: Callable[[Session, datetime, Visitor], object],
    values: dict[str, str],
    done: str,
) -> Response:
    """Run one change to the case; back to the case page with a banner, or the page again
    with the message beside `field` and nothing changed."""
    site = web(request)
    try:
        with site.unit() as (session, now):
            me = signed_in(request, session, now)
            change(session, now, me)
    except UserError as error:
        if _unknown_case(error):
            raise HTTPException(404) from None
        with site.unit() as (session, now):
            me = signed_in(request, session, now)
            return render_case(
                request, session, now, me, ref,
                errors={field: plain(str(error))}, values=values, status=400,
            )  # fmt: skip
    return RedirectResponse(f"/cases/{quote(ref, safe='')}?changed={done}#plan", 303)


@router.post("/cases/{ref}/events")
def record_event(
    request: Request,
    ref: str,
    name: str = Form(""),
    value: str = Form(""),
    confirm: str | None = Form(None),
) -> Response:
    def change(session: Session, now: datetime, me: Visitor) -> None:
        if not name:
            raise UserError("Choose the event")
        if not value.strip():
            raise UserError("Enter when it happened, like 2027-03-01 or 2027-03-01 14:00")
        service.record_events(
            session, web(request).catalog, ref, {name: value.strip()}, now, me.actor,
            confirm=confirm is not None,
        )  # fmt: skip

    values = {"event-name": name, "event-value": value}
    return _change(request, ref, "event-value", change, values, f"event {name}")


@router.post("/cases/{ref}/events/remove")
def remove_event(
    request: Request, ref: str, name: str = Form(""), reason: str = Form("")
) -> Response:
    def change(session: Session, now: datetime, me: Visitor) -> None:
        if not name:
            raise UserError("Choose the event to remove")
        service.remove_event(session, web(request).catalog, ref, name, reason, now, me.actor)

    values = {"remove-name": name, "remove-reason": reason}
    return _change(request, ref, "remove-reason", change, values, f"removed {name}")


@router.post("/cases/{ref}/facts")
def set_fact(request: Request, ref: str, name: str = Form(""), value: str = Form("")) -> Response:
    def change(session: Session, now: datetime, me: Visitor) -> None:
        if not name:
            raise UserError("Choose the fact")
        if not value.strip():
            raise UserError("Enter a value")
        service.record_facts(
            session, web(request).catalog, ref, {name: value.strip()}, now, me.actor
        )

    values = {"fact-name": name, "fact-value": value}
    return _change(request, ref, "fact-value", change, values, f"fact {name}")


@router.post("/cases/{ref}/facts/unset")
def unset_fact(request: Request, ref: str, name: str = Form("")) -> Response:
    def change(session: Session, now: datetime, me: Visitor) -> None:
        if not name:
            raise UserError("Choose the fact to unset")
        service.unset_facts(session, web(request).catalog, ref, [name], now, me.actor)

    return _change(request, ref, "unset-name", change, {"unset-name": name}, f"unset {name}")
