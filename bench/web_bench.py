"""The web app's pages under load, against a bare FastAPI route measured in the same run.

The caseload is the national-scale one (`bench.caseload`, 100,000 cases by default),
planned by the engine's sweep and made lived-in. Ten signed-in people (the navigators with
the most open cases, and team leads) each request their page in a loop, ten at a time,
over HTTP on loopback against uvicorn: My work, a case of theirs (an audited read, so a
write per request), and Team. The baseline is a bare FastAPI route returning a fixed page
on the same server, with the same clients. Figures are latencies as the clients see them
(p50, p95) and requests per second; the target is My work, Case and Team p95 <= 100 ms.

    python -m bench.web_bench                      # 100,000 cases, fresh SQLite file
    python -m bench.web_bench --database postgresql+psycopg://postgres@127.0.0.1/bench
    python -m bench.web_bench --cases 2000 --json
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import quantiles

import httpx
import sqlalchemy as sa
from fastapi.responses import HTMLResponse

from bench import caseload
from bench.run import analyze, fresh_sqlite_url, plan_everything, prepare_database
from engine.settings import SHIPPED_JOURNEYS, Settings
from engine.store import Case, Staff, WebSession
from web.signin import digest

NOW = caseload.NOW
USERS = 10
REQUESTS = 30  # per user per page
TARGET_MS = 100.0
case_t, staff_t = Case.__table__, Staff.__table__


def sessions(engine: sa.Engine) -> list[dict]:
    """Ten people signed in: the busiest navigators and the team leads, with a case each."""
    with engine.connect() as connection:
        busiest = connection.execute(
            sa.select(case_t.c.navigator_id, sa.func.min(case_t.c.ref).label("ref"))
            .where(case_t.c.status == "open")
            .group_by(case_t.c.navigator_id)
            .order_by(sa.func.count().desc())
            .limit(USERS // 2)
        ).all()
        leads = connection.execute(
            sa.select(staff_t.c.id).where(staff_t.c.role == "team_lead").limit(USERS // 2)
        ).all()
    people = [{"id": r.navigator_id, "ref": r.ref, "lead": False} for r in busiest]
    people += [{"id": r.id, "ref": busiest[0].ref, "lead": True} for r in leads]
    rows = []
    for person in people:
        person["cookie"] = secrets.token_urlsafe(32)
        rows.append(
            {
                "token_hash": digest(person["cookie"]),
                "staff_id": person["id"],
                "created_at": NOW,
                "last_seen_at": NOW,
                "expires_at": NOW + timedelta(hours=12),
                "ended_at": None,
            }
        )
    with engine.begin() as connection:
        connection.execute(sa.insert(WebSession.__table__), rows)
    return people


def serve(app) -> tuple[str, object, threading.Thread]:
    import uvicorn

    from notifications.testing import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def load(base: str, people: list[dict], path_for) -> dict:
    """Every person requests their page REQUESTS times, all at once: latencies in ms."""

    def one(person: dict) -> list[float]:
        times = []
        cookies = {"alongside_session": person["cookie"]}
        with httpx.Client(base_url=base, cookies=cookies, timeout=120) as c:
            path = path_for(person)
            for _ in range(REQUESTS):
                began = time.perf_counter()
                response = c.get(path)
                times.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (path, response.status_code)
        return times

    began = time.perf_counter()
    with ThreadPoolExecutor(len(people)) as pool:
        every = [t for times in pool.map(one, people) for t in times]
    took = time.perf_counter() - began
    cuts = quantiles(every, n=100)
    return {
        "p50_ms": round(cuts[49], 1),
        "p95_ms": round(cuts[94], 1),
        "requests_per_s": round(len(every) / took, 1),
        "requests": len(every),
    }


def run(cases: int, url: str | None) -> dict:
    from web.app import create_app

    own = url is None
    url = url or fresh_sqlite_url()
    home = Path(tempfile.mkdtemp(prefix="alongside-web-bench-"))
    try:
        engine = prepare_database(url)
        caseload.populate(engine, cases, NOW)
        plan_everything(url, NOW)
        caseload.complete_share(engine, NOW, caseload.shipped_journeys())
        plan_everything(url, NOW)
        analyze(engine)
        people = sessions(engine)
        settings = Settings(home=home, database_url=url, journeys_dir=SHIPPED_JOURNEYS)
        app = create_app(settings, clock=lambda: NOW)

        @app.get("/bare")
        def bare() -> HTMLResponse:
            return HTMLResponse("<!DOCTYPE html><title>bare</title><p>a fixed page</p>")

        base, server, thread = serve(app)
        pages = {
            "bare": lambda p: "/bare",
            "my_work": lambda p: "/work",
            "case": lambda p: f"/cases/{p['ref']}",
            "team": lambda p: "/team",
        }
        figures = {}
        for name, path_for in pages.items():
            # Team is the leads' page; a case page is read by the navigator who holds it
            chosen = (
                [p for p in people if p["lead"] == (name == "team")]
                if name in ("team", "case")
                else people
            )
            chosen = (chosen * USERS)[:USERS]
            load(base, chosen[:2], path_for)  # warm up
            figures[name] = load(base, chosen, path_for)
            print(name, figures[name], file=sys.stderr)
        server.should_exit = True
        thread.join(10)
        dialect = engine.dialect.name
        engine.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if own:
            shutil.rmtree(Path(url.partition(":///")[2]).parent, ignore_errors=True)
    bare_p95 = figures["bare"]["p95_ms"]
    for name, figure in figures.items():
        figure["p95_vs_bare"] = round(figure["p95_ms"] / bare_p95, 1) if bare_p95 else None
        if name != "bare":
            figure["met"] = figure["p95_ms"] <= TARGET_MS
    return {
        "cases": cases,
        "database": dialect,
        "users": USERS,
        "requests_per_user": REQUESTS,
        "pages": figures,
        "target_p95_ms": TARGET_MS,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    args = parser.parse_args(argv)
    result = run(args.cases, args.database)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    print(f"{result['cases']:,} cases on {result['database']}, {USERS} users at once")
    for name, f in result["pages"].items():
        met = "" if name == "bare" else (" met" if f["met"] else " NOT met")
        print(
            f"  {name:8} p50 {f['p50_ms']:7.1f} ms  p95 {f['p95_ms']:7.1f} ms "
            f"({f['p95_vs_bare']}x bare)  {f['requests_per_s']:7.1f} req/s{met}"
        )


if __name__ == "__main__":
    main()
