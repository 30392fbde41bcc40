"""Each report over the benchmark caseload, against a baseline measured in the same run.

The caseload is the national-scale one (`bench.caseload`: 100,000 cases by default), planned
by the engine's sweep and made lived-in (`complete_share`), with investigations added: the
cases with an arrest, in threes within an organisation, each three linked to one
investigation whose strategic advice, arrest and charge are recorded, and one linked
survivor in ten withdrawn. Each report covers the month before the bench's `NOW`; the
target is under 2 s each, on SQLite and on PostgreSQL. The baseline is one plain
`count(*)` of the tasks due in that month: one pass over the task table.

    python -m bench.reports_bench                       # 100,000 cases, fresh SQLite file
    python -m bench.reports_bench --database postgresql+psycopg://postgres@127.0.0.1/bench
    python -m bench.reports_bench --cases 2000 --json
"""

from __future__ import annotations

import argparse
import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench import caseload
from bench.output import show
from bench.run import analyze, fresh_sqlite_url, plan_everything, prepare_database, timed
from engine import reports
from engine.core.actors import operator
from engine.core.investigations import WITHDREW
from engine.core.reporting import previous_month
from engine.store import (
    Case,
    CaseEvent,
    Investigation,
    InvestigationCase,
    InvestigationEvent,
    Task,
    session_scope,
)

NOW = caseload.NOW
MONTH = previous_month(NOW.date())
REPEATS = 3
TARGET_S = 2.0
GROUP = 3  # survivors per investigation

case_t, event_t, task_t = Case.__table__, CaseEvent.__table__, Task.__table__
inv_t, link_t, inv_event_t = (
    Investigation.__table__,
    InvestigationCase.__table__,
    InvestigationEvent.__table__,
)


def add_investigations(engine: Engine) -> dict:
    """Investigations over the cases with an arrest: set-based, seeded by case id."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(case_t.c.id, case_t.c.organisation_id, event_t.c.name, event_t.c.instant)
            .join(event_t, event_t.c.case_id == case_t.c.id)
            .where(event_t.c.name.in_(("arrest", "charge")))
            .order_by(case_t.c.organisation_id, case_t.c.id)
        ).all()
    firsts: dict[int, dict[str, datetime]] = defaultdict(dict)
    org_of: dict[int, str] = {}
    for r in rows:
        org_of[r.id] = r.organisation_id
        firsts[r.id].setdefault(r.name, r.instant)
    by_org: dict[str, list[int]] = defaultdict(list)
    for case_id in sorted(c for c in firsts if "arrest" in firsts[c]):
        by_org[org_of[case_id]].append(case_id)
    investigations, links, events, withdrawn = [], [], [], []
    for org, ids in sorted(by_org.items()):
        for start in range(0, len(ids) - GROUP + 1, GROUP):
            group = ids[start : start + GROUP]
            number = len(investigations) + 1
            arrest = min(firsts[c]["arrest"] for c in group)
            investigations.append(
                {
                    "id": number,
                    "ref": f"OP-{number:06d}",
                    "organisation_id": org,
                    "opened_at": arrest,
                    "opened_by": "bench",
                }
            )
            when = {"strategic_advice": arrest - timedelta(days=7), "arrest": arrest}
            charges = [firsts[c]["charge"] for c in group if "charge" in firsts[c]]
            if charges:
                when["charge"] = min(charges)
            for name, instant in when.items():
                events.append(
                    {
                        "investigation_id": number,
                        "name": name,
                        "instant": instant,
                        "date_only": True,
                        "count": None if name == "strategic_advice" else 1 + number % 3,
                        "recorded_at": instant,
                        "recorded_by": "bench",
                    }
                )
            for case_id in group:
                links.append(
                    {
                        "investigation_id": number,
                        "case_id": case_id,
                        "linked_at": arrest,
                        "linked_by": "bench",
                        "unlinked_at": None,
                    }
                )
                if case_id % 10 == 0:
                    withdrawn.append(
                        {
                            "case_id": case_id,
                            "name": WITHDREW,
                            "instant": arrest + timedelta(days=30),
                            "date_only": True,
                            "recorded_at": arrest + timedelta(days=30),
                            "recorded_by": "bench",
                        }
                    )
    with engine.begin() as connection:
        for table, values in (
            (inv_t, investigations),
            (link_t, links),
            (inv_event_t, events),
            (event_t, withdrawn),
        ):
            if values:
                connection.execute(sa.insert(table), values)
        if engine.dialect.name == "postgresql" and investigations:
            connection.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence('investigation', 'id'), "
                    "(SELECT max(id) FROM investigation))"
                )
            )
    return {
        "investigations": len(investigations),
        "linked": len(links),
        "investigation_events": len(events),
        "withdrawn": len(withdrawn),
    }


def baseline(engine: Engine) -> float:
    """One plain count of the tasks due in the month: a pass over the task table."""
    start, end = MONTH.bounds(caseload.CATALOG.resolve("adult-cjs").tz)
    query = sa.select(sa.func.count()).where(task_t.c.due >= start, task_t.c.due < end)

    def count() -> int:
        with engine.connect() as connection:
            return connection.execute(query).scalar()

    return median(timed(count)[0] for _ in range(REPEATS))


def measure(url: str) -> dict[str, dict]:
    """Each report, median of REPEATS runs, as the operator (every organisation)."""
    calls = {
        "outcomes": lambda s: reports.outcomes(s, caseload.CATALOG, MONTH, operator()),
        "duties": lambda s: reports.duties(s, caseload.CATALOG, MONTH, NOW, operator()),
        "contact": lambda s: reports.contact(s, caseload.CATALOG, MONTH, operator()),
    }
    found = {}
    for name, call in calls.items():

        def once(call=call) -> dict:
            with session_scope(url) as session:
                return call(session)

        runs, results = zip(*(timed(once) for _ in range(REPEATS)), strict=True)
        found[name] = {
            "median_s": round(median(runs), 3),
            "runs_s": [round(t, 3) for t in runs],
            "result": results[0],
        }
    return found


def run(cases: int, url: str | None) -> dict:
    own = url is None
    url = url or fresh_sqlite_url()
    try:
        engine = prepare_database(url)
        populated = caseload.populate(engine, cases, NOW)
        plan_everything(url, NOW)
        caseload.complete_share(engine, NOW, caseload.shipped_journeys())
        plan_everything(url, NOW)
        added = add_investigations(engine)
        analyze(engine)
        base = baseline(engine)
        figures = measure(url)
        engine.dispose()
    finally:
        if own:
            shutil.rmtree(Path(url.partition(":///")[2]).parent, ignore_errors=True)
    outcomes = figures["outcomes"]["result"]
    return {
        "cases": cases,
        "database": engine.dialect.name,
        "open_cases": populated["open_cases"],
        **added,
        "period": [MONTH.first.isoformat(), MONTH.last.isoformat()],
        "baseline_count_tasks_due_s": round(base, 4),
        "reports": {
            name: {
                "median_s": f["median_s"],
                "runs_s": f["runs_s"],
                "vs_baseline": round(f["median_s"] / base, 1) if base else None,
                "met": f["median_s"] < TARGET_S,
            }
            for name, f in figures.items()
        },
        "outcomes_totals": {k: v for k, v in outcomes.items() if k != "organisations"},
        "target_s": TARGET_S,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def summary(result: dict[str, Any]) -> Iterator[str]:
    """The result in a few lines, for a person at a terminal."""
    yield (
        f"{result['cases']:,} cases on {result['database']}, {result['investigations']:,} "
        f"investigations; month {result['period'][0]} to {result['period'][1]}"
    )
    yield (
        f"  baseline: count(*) of the tasks due in the month: "
        f"{result['baseline_count_tasks_due_s']:.3f} s"
    )
    for name, figure in result["reports"].items():
        met = "met" if figure["met"] else "NOT met"
        yield (
            f"  report {name}: {figure['median_s']:.3f} s (median of {REPEATS}; "
            f"{figure['vs_baseline']}x baseline; target < {TARGET_S:g} s: {met})"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    args = parser.parse_args(argv)
    result = run(args.cases, args.database)
    show(result, args.json, summary)


if __name__ == "__main__":
    main()
