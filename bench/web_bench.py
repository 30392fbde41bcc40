"""The web app's pages under load, against a bare FastAPI route measured in the same run.

The caseload is the national-scale one (`bench.caseload`, 100,000 cases by default),
planned by the engine's sweep and made lived-in. Ten signed-in people (the navigators with
the most open cases, and team leads) each request their page in a loop, ten at a time,
over HTTP on loopback against uvicorn in processes of their own (`--workers`, one by
default, as `alongside serve [--workers N]` runs it): My work, a case of theirs (an audited
read, so a write per request), and Team. The baseline is a bare FastAPI route returning a
fixed page on the same server, with the same clients. Figures are server time (from the
app's access log: request in to response sent, waiting for a thread or the GIL included;
not the time a request waits in the socket before a worker takes it) and latency as the
clients see them (p50, p95), and requests per second; the target is My work, Case and Team
server p95 <= 100 ms.

    python -m bench.web_bench                      # 100,000 cases, fresh SQLite file
    python -m bench.web_bench --database postgresql+psycopg://postgres@127.0.0.1/bench
    python -m bench.web_bench --cases 2000 --json
    python -m bench.web_bench --database sqlite:////tmp/web.db --reuse   # built once, kept
    python -m bench.web_bench --database sqlite:////tmp/web.db --reuse --workers 2
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import quantiles
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from bench import caseload
from bench.output import show
from bench.run import analyze, fresh_sqlite_url, plan_everything, prepare_database
from engine.settings import SHIPPED_JOURNEYS, Settings
from engine.store import Case, Staff, WebSession, engine_for, upgrade
from web.signin import digest

NOW = caseload.NOW
USERS = 10
REQUESTS = 30  # per user per page
TARGET_MS = 100.0
ROOT = Path(__file__).resolve().parent.parent  # the checkout the workers import from
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


def bench_app() -> FastAPI:
    """The app under test, made in each uvicorn worker (`uvicorn --factory`), as
    `alongside serve --workers N` makes it, from what the bench puts in the environment;
    besides the pages, the bare route. Each worker appends its server time for every
    request to a file of its own in the times folder (the access log's figure)."""
    from web.app import create_app

    url, home, folder = (os.environ[f"ALONGSIDE_BENCH_{k}"] for k in ("URL", "HOME", "TIMES"))
    settings = Settings(home=Path(home), database_url=url, journeys_dir=SHIPPED_JOURNEYS)
    app = create_app(settings, clock=lambda: NOW)
    access = logging.getLogger("alongside.web.access")
    access.addHandler(ServerTimes(Path(folder) / f"{os.getpid()}.txt"))
    access.setLevel(logging.INFO)

    @app.get("/bare")
    def bare() -> HTMLResponse:
        return HTMLResponse("<!DOCTYPE html><title>bare</title><p>a fixed page</p>")

    return app


def serve(url: str, home: Path, workers: int) -> tuple[str, subprocess.Popen, TimesRead]:
    """uvicorn with `workers` processes in a process of its own, as production runs it
    (`docs/operations.md`), so the clients' threads do not share its interpreter lock."""
    from notifications.testing import free_port
    from web.app import web_secret
    from web.server import PROTOCOL

    # made once, before the workers start, so that they all read the same one
    web_secret(Settings(home=home, database_url=url, journeys_dir=SHIPPED_JOURNEYS))
    port = free_port()
    folder = home / "times"
    folder.mkdir()
    env = {
        **os.environ,
        "ALONGSIDE_BENCH_URL": url,
        "ALONGSIDE_BENCH_HOME": str(home),
        "ALONGSIDE_BENCH_TIMES": str(folder),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "bench.web_bench:bench_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--http", PROTOCOL,
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    child = subprocess.Popen(command, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    answered = 0
    for _ in range(600):
        try:
            for _ in range(4 * workers):  # every worker up: each answers some of these
                httpx.get(f"{base}/bare", timeout=1)
                answered += 1
            times = TimesRead(folder)
            times.wait_for(answered)  # so that no line of these is taken for the pages'
            return base, child, times
        except httpx.TransportError:
            if child.poll() is not None:
                break
            time.sleep(0.1)
    child.kill()
    raise SystemExit("the web server did not start")


class ServerTimes(logging.Handler):
    """The server's own time for each request, from the access log (`web.app`), one line
    per request in a file of this worker's."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self.file = path.open("a", buffering=1)

    def emit(self, record: logging.LogRecord) -> None:
        self.file.write(f"{float(record.args[3])}\n")  # type: ignore[index]


class TimesRead:
    """The workers' time files, read on from where the last reading stopped."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.offsets: dict[Path, int] = {}

    def wait_for(self, count: int) -> list[float]:
        """The next `count` times: a worker writes a request's just after its response,
        so the last few may not be there yet when the clients have their answers."""
        found: list[float] = []
        for _ in range(100):
            found += self.new()
            if len(found) >= count:
                break
            time.sleep(0.05)
        assert len(found) == count, (len(found), count)
        return found

    def new(self) -> list[float]:
        found = []
        for path in sorted(self.folder.iterdir()):
            with path.open() as f:
                f.seek(self.offsets.get(path, 0))
                text = f.read()
            done = text.rfind("\n") + 1  # a line being written is read next time
            self.offsets[path] = self.offsets.get(path, 0) + done
            found += [float(line) for line in text[:done].split()]
        return found


def percentiles(times: list[float], prefix: str) -> dict:
    cuts = quantiles(times, n=100)
    return {f"{prefix}p50_ms": round(cuts[49], 1), f"{prefix}p95_ms": round(cuts[94], 1)}


class CpuMeter:
    """CPU seconds used so far by the server's worker processes and by the database server's
    processes (PostgreSQL's backends; SQLite runs inside the workers), read from /proc.

    Why: on a shared machine a page's p95 moves twofold from one run to the next, while the
    CPU a request costs is steady, and it is what bounds the pages: ten people asking back
    to back keep every core busy, so a page's mean time is ten over the requests a second
    (Little's law), and those are the cores over the CPU each request costs."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, server_pid: int, database_server: bool) -> None:
        self.server_pid = server_pid
        self.database_server = database_server

    def read(self) -> tuple[float, float | None]:
        workers = [self.server_pid, *self._children(self.server_pid)]
        if not self.database_server:
            return self._seconds(workers), None
        database = [pid for pid in self._all() if self._command(pid).startswith("postgres")]
        return self._seconds(workers), self._seconds(database)

    @staticmethod
    def _children(pid: int) -> list[int]:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(child) for child in text.split()]

    @staticmethod
    def _all() -> list[int]:
        return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]

    @staticmethod
    def _command(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return ""  # gone meanwhile

    def _seconds(self, pids: list[int]) -> float:
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # gone meanwhile
            # its own user and system time, and that of its children that have ended (a
            # backend that closes while the pages load is then still counted, with the
            # postmaster that waited for it)
            total += sum(int(field) for field in fields[11:15])
        return total / self.TICK


def load(base: str, times: TimesRead, people: list[dict], path_for, meter: CpuMeter) -> dict:
    """Every person requests their page REQUESTS times, all at once: latencies in ms.

    The clients stand in for browsers on other machines, but share this one's cores with
    the server: each is a plain keep-alive `http.client` connection, which costs about a
    sixth of the CPU of an httpx client a request (0.19 against 1.2 ms for a 140 kB
    page), so they take as little from the server as they can. Their CPU is reported."""
    address = urlsplit(base)

    def one(person: dict) -> list[float]:
        times = []
        headers = {"Cookie": f"alongside_session={person['cookie']}"}
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        path = path_for(person)
        try:
            for _ in range(REQUESTS):
                began = time.perf_counter()
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                times.append((time.perf_counter() - began) * 1000)
                assert response.status == 200, (path, response.status)
        finally:
            connection.close()
        return times

    times.new()  # from here on
    load_before = os.getloadavg()[0]
    cpu_before = time.process_time()
    workers_before, database_before = meter.read()
    began = time.perf_counter()
    with ThreadPoolExecutor(len(people)) as pool:
        every = [t for times in pool.map(one, people) for t in times]
    took = time.perf_counter() - began
    clients_cpu = time.process_time() - cpu_before
    workers_after, database_after = meter.read()
    server = times.wait_for(len(every))
    return {
        **percentiles(server, "server_"),
        **percentiles(every, "client_"),
        "requests_per_s": round(len(every) / took, 1),
        "requests": len(every),
        "workers_cpu_ms_per_request": _per_request(workers_after - workers_before, every),
        "database_cpu_ms_per_request": (
            None
            if database_before is None or database_after is None
            else _per_request(database_after - database_before, every)
        ),
        "clients_cpu_ms_per_request": _per_request(clients_cpu, every),
        "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def _per_request(seconds: float, requests: list) -> float:
    return round(seconds * 1000 / len(requests), 2)


def vacuum(engine: sa.Engine) -> None:
    """On PostgreSQL, the dead rows of planning twice cleared, as autovacuum would have done
    on a live database: without it a case index held three entries per case, and the
    Team page's plans read them all."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("VACUUM ANALYZE")


def built(url: str, cases: int) -> bool:
    """Whether `url` already holds the bench's caseload of `cases` (a `--reuse` run)."""
    if not url.startswith("sqlite"):
        upgrade(url)  # an empty PostgreSQL database gets its schema first
    engine = engine_for(url)
    with engine.connect() as connection:
        held = connection.execute(sa.select(sa.func.count()).select_from(case_t)).scalar()
    if held and held != cases:
        raise SystemExit(f"{url} holds {held:,} cases, not {cases:,}")
    return bool(held)


def run(cases: int, url: str | None, reuse: bool = False, workers: int = 1) -> dict:
    own = url is None
    url = url or fresh_sqlite_url()
    home = Path(tempfile.mkdtemp(prefix="alongside-web-bench-"))
    server = None
    try:
        if reuse and built(url, cases):
            engine = engine_for(url)
        else:
            engine = prepare_database(url)
            caseload.populate(engine, cases, NOW)
            plan_everything(url, NOW)
            caseload.complete_share(engine, NOW, caseload.shipped_journeys())
            plan_everything(url, NOW)
            analyze(engine)
            vacuum(engine)
        people = sessions(engine)
        base, server, times = serve(url, home, workers)
        meter = CpuMeter(server.pid, database_server=engine.dialect.name == "postgresql")
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
            load(base, times, chosen[:2], path_for, meter)  # warm up
            figures[name] = load(base, times, chosen, path_for, meter)
            print(name, figures[name], file=sys.stderr)
        dialect = engine.dialect.name
        engine.dispose()
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(home, ignore_errors=True)
        if own:
            shutil.rmtree(Path(url.partition(":///")[2]).parent, ignore_errors=True)
    bare = figures["bare"]
    for name, figure in figures.items():
        figure["server_p95_vs_bare"] = round(figure["server_p95_ms"] / bare["server_p95_ms"], 1)
        figure["rps_vs_bare"] = round(figure["requests_per_s"] / bare["requests_per_s"], 2)
        if name != "bare":
            figure["met"] = figure["server_p95_ms"] <= TARGET_MS
    return {
        "cases": cases,
        "database": dialect,
        "users": USERS,
        "workers": workers,
        "cores": os.cpu_count(),
        "requests_per_user": REQUESTS,
        "pages": figures,
        "target_p95_ms": TARGET_MS,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def summary(result: dict[str, Any]) -> Iterator[str]:
    """The result in a few lines, for a person at a terminal."""
    yield (
        f"{result['cases']:,} cases on {result['database']}, {USERS} users at once,"
        f" {result['workers']} uvicorn worker(s) on {result['cores']} cores"
    )
    for name, f in result["pages"].items():
        met = "" if name == "bare" else (" met" if f["met"] else " NOT met")
        yield (
            f"  {name:8} server p50 {f['server_p50_ms']:7.1f} ms  p95 {f['server_p95_ms']:7.1f}"
            f" ms ({f['server_p95_vs_bare']}x bare); client p50 {f['client_p50_ms']:7.1f} ms"
            f"  p95 {f['client_p95_ms']:7.1f} ms; {f['requests_per_s']:7.1f} req/s"
            f" ({f['rps_vs_bare']}x bare){met}"
        )
        database = f["database_cpu_ms_per_request"]
        yield (
            f"           CPU a request: workers {f['workers_cpu_ms_per_request']} ms"
            + (" (SQLite's included)" if database is None else f", database {database} ms")
            + f", clients {f['clients_cpu_ms_per_request']} ms"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument(
        "--reuse", action="store_true", help="use the caseload already in --database, if any"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default 1)"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    args = parser.parse_args(argv)
    if args.reuse and not args.database:
        parser.error("--reuse needs --database (a database kept from an earlier run)")
    result = run(args.cases, args.database, args.reuse, args.workers)
    show(result, args.json, summary)


if __name__ == "__main__":
    main()
