"""The programme page (programme leads and admins): organisations at a glance, failed
messages with a retry button, and the journeys with their validation status and outline.

Counts come from `engine.queries.organisations` within the person's scope; a retry is
`notifications.dispatch.requeue` (the same as `alongside outbox retry`), allowed only for a
message the person can see; a journey's problems are the loader's own, at FILE:LINE:COL.
"""

from __future__ import annotations

from contextlib import suppress

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from engine import queries
from engine.core.errors import UserError
from engine.core.outline import mermaid_diagram, outline
from notifications.dispatch import requeue
from web.context import Visitor, signed_in, web

router = APIRouter()


def programme_lead(request: Request, session, now) -> Visitor:
    """The signed-in programme lead or admin; anyone else gets the 404 page."""
    me = signed_in(request, session, now)
    if not me.programme:
        raise HTTPException(404)
    return me


def _journeys(catalog) -> list[dict]:
    found = []
    for path in catalog.files():
        try:
            journey = catalog.resolve(str(path))
        except UserError as error:
            found.append({"file": path.name, "problems": str(error).splitlines()})
            continue
        found.append(
            {
                "file": path.name,
                "journey": journey,
                "outline": outline(journey),
                "diagram": mermaid_diagram(journey),
                "problems": [],
            }
        )
    return found


@router.get("/programme")
def programme_page(request: Request, retried: int | None = None) -> Response:
    site = web(request)
    with site.unit() as (session, now):
        me = programme_lead(request, session, now)
        return site.page(
            request,
            "programme.html",
            me=me,
            organisations=queries.organisations(session, me.actor, now),
            failed=queries.outbox(session, me.actor, "failed", limit=50),
            journeys=_journeys(site.catalog),
            retried=retried,
            tz=site.settings.zone,
        )


@router.post("/programme/messages/{outbox_id}/retry")
def retry(request: Request, outbox_id: int) -> Response:
    site = web(request)
    with site.unit() as (session, now):
        me = programme_lead(request, session, now)
        visible = {m["id"] for m in queries.outbox(session, me.actor, "failed")}
    if outbox_id not in visible:
        raise HTTPException(404)
    with suppress(UserError):  # retried meanwhile by someone else: nothing left to do
        requeue(site.url, outbox_id, now, actor=me.email)
    return RedirectResponse(f"/programme?retried={outbox_id}", status_code=303)
