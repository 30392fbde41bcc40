"""Every router of the web app, in one list for `create_app`."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from web import auth, cases, programme, reports, tasks, team, work

    return [
        auth.router,
        work.router,
        tasks.router,
        cases.router,
        team.router,
        programme.router,
        reports.router,
    ]
