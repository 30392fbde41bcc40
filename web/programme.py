"""The programme page (programme leads and admins): organisations at a glance, failed
messages with a retry button, the journeys with their validation status and outline, and
the impact preview of an uploaded journey file.

Counts come from `engine.queries.organisations` within the person's scope; a retry is
`notifications.dispatch.requeue` (the same as `alongside outbox retry`), allowed only for a
message the person can see; a journey's problems are the loader's own, at FILE:LINE:COL.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from starlette.responses import RedirectResponse, Response

from engine import installing, queries
from engine.catalog import parse_bytes
from engine.core.errors import UserError
from engine.core.loader import MAX_BYTES, JourneyError
from engine.core.outline import mermaid_diagram, outline
from notifications.dispatch import requeue
from web.context import Visitor, same_site, signed_in, web

router = APIRouter()
SHOWN = 50  # cases listed in a preview; the totals count them all
# The journey diagram is a page of its own, framed by the programme page: Mermaid draws
# with inline styles, so this one page allows them (and being framed by this site); it
# has no form and no case data, and its scripts are still this site's files only.
DIAGRAM_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "frame-ancestors 'self'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)


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


def _render(request: Request, session, now, me: Visitor, status: int = 200, **extra) -> Response:
    site = web(request)
    return site.page(
        request,
        "programme.html",
        me=me,
        status=status,
        organisations=queries.organisations(session, me.actor, now),
        failed=queries.outbox(session, me.actor, "failed", limit=50),
        journeys=_journeys(site.catalog),
        tz=me.zone,
        **{"retried": None, "preview": None, "errors": {}, "problems": [], **extra},
    )


@router.get("/programme")
def programme_page(request: Request, retried: int | None = None) -> Response:
    site = web(request)
    with site.unit() as (session, now):
        me = programme_lead(request, session, now)
        return _render(request, session, now, me, retried=retried)


@router.get("/programme/journeys/{journey_id}/diagram")
def diagram(request: Request, journey_id: str) -> Response:
    """One installed journey's Mermaid diagram, drawn in the browser by the vendored
    Mermaid; its source is on the programme page as text too."""
    site = web(request)
    with site.unit() as (session, now):
        programme_lead(request, session, now)
    found = next(
        (
            j
            for j in _journeys(site.catalog)
            if not j["problems"] and j["journey"].journey == journey_id
        ),
        None,
    )
    if found is None:
        raise HTTPException(404)
    response = site.templates.TemplateResponse(
        request, "diagram.html", {"journey": found["journey"], "diagram": found["diagram"]}
    )
    response.headers["Content-Security-Policy"] = DIAGRAM_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@router.post("/programme/preview")
async def preview(
    request: Request, journey: UploadFile | None = None, csrftoken: str = Form("")
) -> Response:
    """What installing an uploaded journey file would do to the open cases on its journey
    that the person can see (`alongside journeys preview`): it installs nothing and
    changes nothing; a file's problems are shown beside the field, at FILE:LINE:COL."""
    site = web(request)
    same_site(request, csrftoken)
    name = Path(journey.filename or "journey.yaml").name if journey else ""
    raw = await journey.read(MAX_BYTES + 1) if journey and name else b""
    with site.unit() as (session, now):
        me = programme_lead(request, session, now)
        if not name:
            errors = {"journey-file": "Choose a journey file (YAML) to preview"}
            return _render(request, session, now, me, 400, errors=errors)
        try:
            definition = parse_bytes(raw, name)
        except JourneyError as error:
            problems = [str(p) for p in error.problems]
            count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
            errors = {"journey-file": f"{name} has {count}: nothing was previewed"}
            return _render(request, session, now, me, 400, errors=errors, problems=problems)
        impact = installing.preview(session, definition, now, me.actor)
        session.rollback()  # a preview changes nothing, whatever it read
        shown = {"file": name, **impact.as_dict(), "more": max(0, len(impact.cases) - SHOWN)}
        shown["cases"] = shown["cases"][:SHOWN]
        return _render(request, session, now, me, preview=shown)


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
