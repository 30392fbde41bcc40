"""The initial plan by two tick processes at once, against one process, on the same caseload.

Each process runs the sweep's planning half (`sweep.plan_due`, itself two batches at a time
on PostgreSQL) over every open case, as two Prefect workers' ticks would; row locks
(`FOR UPDATE SKIP LOCKED`) share the batches between them. The caseload is written once,
then planned alternately by one process and by two, starting from the same state each time
(no tasks, every open case due), so the ratio is measured in the same run.

    python -m bench.concurrent_plan --database postgresql+psycopg://postgres@127.0.0.1:5432/alongside_bench
    python -m bench.concurrent_plan --cases 2000 --json          # SQLite: one writer at a time

The PostgreSQL database must be empty. SQLite takes one writer at a time, so two processes
there show only what waiting for the lock costs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from statistics import median
from time import perf_counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench import caseload
from bench.output import show
from bench.run import fresh_sqlite_url, prepare_database
from engine import sweep
from engine.store import EPOCH, Case, engine_for

REPEATS = 3
# Emptied between runs: everything a plan writes (and what hangs off its tasks).
WRITTEN = ("acknowledgement", "task_history", "task", "audit", "outbox")


def reset(engine: Engine) -> None:
    """Back to the caseload as written: no tasks, and every open case due for planning."""
    case_t = Case.__table__
    # Fresh connections each time: the one that created a new SQLite file saw the engine
    # open and close the file beside it (engine.files.private_sqlite), which drops a
    # process's POSIX locks, and other processes' writes would be unsafe beside it.
    engine.dispose()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"TRUNCATE {', '.join(WRITTEN)}")
        else:
            for table in WRITTEN:
                connection.exec_driver_sql(f"DELETE FROM {table}")
        connection.execute(
            sa.update(case_t).where(case_t.c.status == "open").values(replan_at=EPOCH)
        )
        connection.exec_driver_sql("ANALYZE")  # in the transaction: both databases allow it
    engine.dispose()  # no connection of this process stays open while the ticks run


def worker(url: str, now: datetime) -> None:
    """One tick process (`--worker`): connect, say so, wait for the word, then plan
    whatever it can lock and print its counts as one JSON line."""
    engine_for(url).dispose()  # connected and checked once, before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()
    total = sweep.Counts()
    for counts in sweep.plan_due(url, caseload.CATALOG, now):
        total += counts
    engine_for(url).dispose()
    print(json.dumps(total.as_dict()), flush=True)


def plan_with(url: str, processes: int, now: datetime) -> tuple[float, list[dict]]:
    """Wall time from the moment every process is ready until the last one has finished."""
    command = [sys.executable, "-m", "bench.concurrent_plan", "--worker", url, now.isoformat()]
    workers = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    for process in workers:
        if process.stdout.readline().strip() != "ready":
            raise SystemExit("a tick process failed to start")
    began = perf_counter()
    for process in workers:
        process.stdin.write("go\n")
        process.stdin.flush()
    counts = [json.loads(process.stdout.readline() or "null") for process in workers]
    elapsed = perf_counter() - began
    for process in workers:
        if process.wait() != 0 or None in counts:
            raise SystemExit(f"a tick process failed (exit {process.returncode})")
    return elapsed, counts


def run(cases: int, url: str | None, repeats: int = REPEATS, now: datetime = caseload.NOW) -> dict:
    temporary = url is None
    url = url or fresh_sqlite_url()
    engine = prepare_database(url)
    made = caseload.populate(engine, cases, now)
    runs: dict[int, list[float]] = {1: [], 2: []}
    created: set[int] = set()
    for _ in range(repeats):
        for processes in (1, 2):
            reset(engine)
            elapsed, counts = plan_with(url, processes, now)
            runs[processes].append(round(elapsed, 3))
            created.add(sum(c["created"] for c in counts))
    if len(created) != 1:  # two processes must write exactly what one does
        raise SystemExit(f"the runs created different numbers of tasks: {sorted(created)}")
    engine.dispose()
    if temporary:
        shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)
    one, two = median(runs[1]), median(runs[2])
    return {
        "cases": cases,
        "open_cases": made["open_cases"],
        "database": url.split("://")[0],
        "tasks": created.pop(),
        "one_process_s": one,
        "two_processes_s": two,
        "one_process_runs_s": runs[1],
        "two_processes_runs_s": runs[2],
        "two_vs_one": round(two / one, 3),
    }


def summary(result: dict[str, Any]) -> Iterator[str]:
    """The result in a few lines, for a person at a terminal."""
    yield (
        f"initial plan of {result['open_cases']:,} open cases on {result['database']}: "
        f"one process {result['one_process_s']:.2f} s, two at once {result['two_processes_s']:.2f}"
        f" s (median of {len(result['one_process_runs_s'])}); two / one = {result['two_vs_one']}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.concurrent_plan", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--cases", type=int, default=20_000, help="caseload size")
    parser.add_argument("--database", help="an EMPTY database URL (default: a fresh SQLite file)")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs of each kind")
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    parser.add_argument("--worker", nargs=2, metavar=("URL", "NOW"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker[0], datetime.fromisoformat(args.worker[1]))
        return
    result = run(args.cases, args.database, args.repeats)
    show(result, args.json, summary)


if __name__ == "__main__":
    main()
