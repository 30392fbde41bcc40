"""The measures, in the order they run, and the same-run baselines they are compared with.

Every measure times the engine's own code paths (`engine.sweep`, `engine.core.planner`,
`engine.alerts`, the notifications dispatcher) on the synthetic caseload of
`bench.caseload`; the baselines (a raw driver `executemany` of the same task rows, a plain
aiosmtplib loop, a plain function call against a Prefect task) run in the same process on
the same machine a moment apart, so the ratios hold from one machine to another better
than the absolute figures do.
"""

from __future__ import annotations

import logging
import random
import resource
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from statistics import median
from time import perf_counter, process_time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench import caseload
from engine import sweep
from engine.catalog import Catalog, load_journey
from engine.core.planner import plan
from engine.store import Case, OutboxMessage, Task, engine_for, upgrade

log = logging.getLogger("bench")

task_t = Task.__table__
case_t = Case.__table__
REPEATS = 5


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = perf_counter()
    result = fn()
    return perf_counter() - started, result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def fresh_sqlite_url() -> str:
    directory = Path(tempfile.mkdtemp(prefix="alongside-bench-"))
    return f"sqlite:///{directory / 'bench.db'}"


def prepare_database(url: str) -> Engine:
    """Schema at head and no rows: the bench needs an empty store to populate."""
    if url.startswith("sqlite"):
        engine = engine_for(url)
    else:
        upgrade(url)
        engine = engine_for(url)
    with engine.connect() as connection:
        if connection.execute(sa.select(sa.func.count()).select_from(case_t)).scalar():
            raise SystemExit(f"{url} already holds cases: give the bench an empty database")
    return engine


def analyze(engine: Engine) -> None:
    """Fresh planner statistics, as a live database would have after autovacuum/ANALYZE."""
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("ANALYZE")


def checkpoint(engine: Engine) -> None:
    """Fold SQLite's write-ahead log into the database file (outside any transaction)."""
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def journeys_load() -> float:
    """Load and validate every shipped journey file, from YAML, uncached."""
    files = caseload.CATALOG.files()

    def load_all() -> None:
        for path in files:
            load_journey(path)

    return median(timed(load_all)[0] for _ in range(REPEATS))


def plan_one_case(samples: list[caseload.SampleCase], now: datetime) -> float:
    """The pure planner on real generated cases: median over repeats, per case, in µs."""
    journeys = caseload.shipped_journeys()
    inputs = [(journeys[s.journey_id], s.facts, s.events) for s in samples]

    def plan_all() -> None:
        for journey, facts, events in inputs:
            plan(journey, facts, events, {}, now)

    plan_all()  # warm the calendars' holiday caches, as a running engine has them
    return median(timed(plan_all)[0] for _ in range(REPEATS)) / len(inputs) * 1e6


def plan_everything(
    url: str, now: datetime, catalog: Catalog = caseload.CATALOG
) -> tuple[float, dict]:
    """The engine's own sweep planning every case due (replan_at is the epoch for all, or
    `catalog` holds a new version of their journey)."""

    def run() -> dict:
        total, batches = sweep.Counts(), 0
        for counts in sweep.plan_due(url, catalog, now):
            total += counts
            batches += 1
        return {**total.as_dict(), "batches": batches}

    return timed(run)


TASK_COLUMNS = [c.name for c in task_t.columns]


def raw_insert_baseline(engine: Engine, chunk: int) -> tuple[float, int]:
    """The same task rows the plan wrote, inserted again by a plain driver `executemany`.

    The rows are copied aside, the task table is emptied, and each chunk of rows is read
    back (untimed) and inserted through the DB-API cursor (timed), one transaction per
    chunk, into the same, now empty, table with the same indexes. The table ends as it was.
    """
    postgres = engine.dialect.name == "postgresql"
    columns = ", ".join(TASK_COLUMNS)
    marks = ", ".join(["%s" if postgres else "?"] * len(TASK_COLUMNS))
    insert = f"INSERT INTO task ({columns}) VALUES ({marks})"
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS bench_task_copy")
        connection.exec_driver_sql("CREATE TABLE bench_task_copy AS SELECT * FROM task")
        # CASCADE: task_history and acknowledgement refer to tasks, and PostgreSQL will not
        # truncate a table others refer to; both are empty this early in the bench.
        connection.exec_driver_sql("TRUNCATE task CASCADE" if postgres else "DELETE FROM task")
    if not postgres:
        checkpoint(engine)
    raw = engine.raw_connection()  # the DB-API connection, with the engine's pragmas
    dbapi = raw.driver_connection
    elapsed = 0.0
    rows_total = after = 0
    try:
        while True:
            cursor = dbapi.cursor()
            cursor.execute(
                f"SELECT {columns} FROM bench_task_copy "
                f"WHERE id > {after} ORDER BY id LIMIT {chunk}"
            )
            rows = cursor.fetchall()
            if not rows:
                break
            after = rows[-1][0]
            started = perf_counter()
            if not postgres:  # sqlite3 in autocommit mode: one explicit transaction per chunk
                cursor.execute("BEGIN")
            cursor.executemany(insert, rows)
            dbapi.commit() if postgres else cursor.execute("COMMIT")
            elapsed += perf_counter() - started
            rows_total += len(rows)
        cursor.execute("DROP TABLE bench_task_copy")
        dbapi.commit()
    finally:
        raw.close()
    return elapsed, rows_total


def alert_pass(url: str, now: datetime) -> tuple[float, dict]:
    return timed(lambda: sweep.alert_all(url, caseload.CATALOG, now).as_dict())


def sweep_nochange(url: str, now: datetime) -> list[float]:
    sweep.plan_and_alert(
        url, caseload.CATALOG, now
    )  # whatever was left; the timed ones must find nothing
    # The passes before this one changed most task rows (the calendar pass clears 1.5
    # million flags at 100,000 cases): a live database's autovacuum analyzes within a
    # minute, and until it has, PostgreSQL expects millions of flagged tasks and scans
    # for them (1.3 s a sweep). SQLite's statistics the sweep keeps itself.
    analyze(engine_for(url))
    times = []
    for _ in range(REPEATS):
        elapsed, counts = timed(lambda: sweep.plan_and_alert(url, caseload.CATALOG, now))
        assert counts.cases == 0 and counts.created == 0, counts
        times.append(elapsed)
    return times


def sweep_one_percent(engine: Engine, url: str, now: datetime, repeats: int = 3):
    """A new event on 1% of open cases (a different 1% each time), then one timed tick."""
    rng = random.Random(caseload.SEED + 1)
    changed: set[int] = set()
    times, counts = [], []
    for _ in range(repeats):
        chosen = caseload.change_one_percent(engine, now, rng, changed)
        changed.update(chosen)
        elapsed, result = timed(lambda: sweep.plan_and_alert(url, caseload.CATALOG, now))
        times.append(elapsed)
        counts.append(result.as_dict())
    return times, counts


def table_counts(engine: Engine, now: datetime) -> dict:
    with engine.connect() as connection:
        scalar = connection.execute
        return {
            "tasks": scalar(sa.select(sa.func.count()).select_from(task_t)).scalar(),
            "tasks_open": scalar(
                sa.select(sa.func.count()).where(task_t.c.status == "open")
            ).scalar(),
            "tasks_overdue": scalar(
                sa.select(sa.func.count()).where(task_t.c.status == "open", task_t.c.due < now)
            ).scalar(),
            "tasks_done": scalar(
                sa.select(sa.func.count()).where(task_t.c.status == "done")
            ).scalar(),
            "outbox": scalar(
                sa.select(sa.func.count()).select_from(OutboxMessage.__table__)
            ).scalar(),
        }


def database_bytes(engine: Engine, url: str) -> int:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            return connection.execute(
                sa.text("SELECT pg_database_size(current_database())")
            ).scalar()
    checkpoint(engine)
    path = Path(url.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def _dispatch(n: int) -> dict:
    try:
        from bench.dispatch_bench import measure_dispatch
    except ImportError as error:
        log.warning("dispatch measure unavailable: %s", error)
        return {"dispatch_error": str(error)}
    figures = measure_dispatch(n)
    return {
        k if k.startswith(("dispatch", "raw_smtp")) else f"dispatch_{k}": v
        for k, v in figures.items()
    }


def run(
    cases: int,
    url: str | None,
    *,
    dispatch_messages: int = 5_000,
    prefect_tasks: int = 1_000,
    now: datetime = caseload.NOW,
    progress: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> dict:
    temporary = url is None
    url = url or fresh_sqlite_url()
    result: dict[str, Any] = {"cases": cases, "database": url.split("://")[0], "now": now}
    engine = prepare_database(url)
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        version = "SHOW server_version" if postgres else "SELECT sqlite_version()"
        result["database_version"] = connection.exec_driver_sql(version).scalar()

    progress("loading journeys")
    result["journeys_load_s"] = journeys_load()

    progress(f"generating {cases} cases")
    elapsed, made = timed(lambda: caseload.populate(engine, cases, now))
    sample = made.pop("sample")
    result.update(made, generate_s=elapsed)
    analyze(engine)

    progress("planning one case")
    result["plan_one_case_us"] = plan_one_case(sample, now)
    del sample

    progress("initial plan of every case (sweep)")
    cpu = process_time()
    elapsed, counts = plan_everything(url, now)
    result.update(
        plan_all_s=elapsed,
        plan_all_cpu_s=process_time() - cpu,  # this process only: the rest is I/O and waits
        plan_all_cases_per_s=counts["cases"] / elapsed if elapsed else None,
        plan_all_tasks=counts["created"],
    )

    # The baseline commits as often as the sweep did (once per batch of cases: a sweep
    # must not hold the database), so the ratio is the engine's own overhead; the same
    # rows in 50,000-row transactions are reported beside it.
    progress("raw bulk insert of the same task rows (baseline)")
    per_batch = -(-counts["created"] // max(counts["batches"], 1))
    raw_s, raw_rows = raw_insert_baseline(engine, per_batch)
    assert raw_rows == counts["created"], (raw_rows, counts["created"])
    large_s, _ = raw_insert_baseline(engine, 50_000)
    result.update(
        plan_all_batches=counts["batches"],
        raw_insert_s=raw_s,
        raw_insert_rows_per_tx=per_batch,
        plan_all_vs_raw_insert=elapsed / raw_s,
        raw_insert_large_tx_s=large_s,
        plan_all_vs_raw_insert_large_tx=elapsed / large_s,
    )
    analyze(engine)

    progress("completing a share of the tasks (set-based), planning what follows")
    result["completed"] = caseload.complete_share(engine, now, caseload.shipped_journeys())
    result["settle_plan_s"] = plan_everything(url, now)[0]
    result.update({f"before_alerts_{k}": v for k, v in table_counts(engine, now).items()})

    progress("alert pass over the overdue tasks")
    elapsed, counts = alert_pass(url, now)
    result.update(
        alert_pass_s=elapsed,
        alert_pass_reminders=counts["reminders"],
        alert_pass_escalations=counts["escalations"],
    )

    progress("sweep with nothing changed")
    times = sweep_nochange(url, now)
    result.update(sweep_nochange_s=median(times), sweep_nochange_runs=times)

    progress("sweep after 1% of cases changed")
    times, counts = sweep_one_percent(engine, url, now)
    result.update(sweep_1pct_s=median(times), sweep_1pct_runs=times, sweep_1pct_counts=counts[0])

    result.update(table_counts(engine, now))
    size = database_bytes(engine, url)
    result.update(db_bytes=size, db_bytes_per_case=size / cases)
    result["peak_rss_mb_caseload"] = peak_rss_mb()  # before dispatch (Prefect is a child)

    progress(f"dispatch of {dispatch_messages} messages to a local SMTP server")
    result.update(_dispatch(dispatch_messages))

    progress(f"Prefect overhead over {prefect_tasks} trivial tasks (child process)")
    from bench.prefect_overhead import measure

    try:
        result.update(measure(prefect_tasks))
    except Exception as error:  # a broken Prefect must not lose the other figures
        log.warning("%s", error)
        result["prefect_error"] = str(error)
        result.setdefault("prefect_task_overhead_ms", None)

    result["peak_rss_mb"] = peak_rss_mb()
    engine.dispose()
    if temporary:
        shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)
    return result
