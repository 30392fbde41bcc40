"""Importing 10,000 cases from a spreadsheet (CSV), against the sweep planning the same
cases, measured in the same run.

`alongside import cases FILE.csv` checks every row, opens every case in one transaction and
plans them in batches; the target is under a minute for 10,000 cases on SQLite. The
baseline is the part of that work the sweep does anyway: re-planning the same cases from
scratch (their tasks deleted, every case marked for planning) with `plan_everything`.

    python -m bench.import_bench                 # 10,000 cases, fresh SQLite file
    python -m bench.import_bench --cases 500 --json
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import caseload
from bench.output import show
from bench.run import plan_everything, prepare_database, timed
from engine import importing
from engine.core.actors import operator
from engine.store import EPOCH, Case, Organisation, Staff, Task, session_scope

NOW = caseload.NOW
TARGET_S = 60.0
JOURNEYS = ("adult-cjs", "adult-declined-nrm", "child-cjs")
HEADER = "reference,journey,navigator,event:referral,event:arrest,event:charge,fact:age\n"


def spreadsheet(cases: int, emails: list[str], seed: int = caseload.SEED) -> str:
    """A programme's spreadsheet: referrals over the last two years, some arrests and
    charges, ages that fit each journey; references in the default pattern."""
    rng = random.Random(seed)
    lines = [HEADER]
    for n in range(1, cases + 1):
        journey = rng.choice(JOURNEYS)
        referral = NOW.date() - timedelta(days=rng.randint(1, 730))
        arrest = _maybe(rng, referral, 0.5)
        charge = _maybe(rng, arrest, 0.6) if arrest else None
        age = rng.randint(12, 17) if journey == "child-cjs" else rng.randint(18, 70)
        cells = [
            f"IMP-{n:06d}",
            journey,
            rng.choice(emails),
            referral.isoformat(),
            arrest or "",
            charge or "",
            str(age),
        ]
        lines.append(",".join(cells) + "\n")
    return "".join(lines)


def _maybe(rng: random.Random, after: date | str, share: float) -> str | None:
    base = date.fromisoformat(after) if isinstance(after, str) else after
    day = base + timedelta(days=rng.randint(5, 200))
    return day.isoformat() if rng.random() < share and day < NOW.date() else None


def run(cases: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="alongside-import-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = prepare_database(url)
        directory = caseload.make_directory()
        with engine.begin() as connection:
            connection.execute(sa.insert(Organisation.__table__), directory.organisations)
            connection.execute(sa.insert(Staff.__table__), directory.staff)
        uk = {staff_id for staff_id, _ in directory.uk_navigators}
        emails = [s["email"] for s in directory.staff if s["id"] in uk]
        path = Path(folder) / "cases.csv"
        path.write_text(spreadsheet(cases, emails))

        def load(dry_run: bool) -> dict:
            with session_scope(url) as session:
                return importing.import_cases(
                    session,
                    caseload.CATALOG,
                    path.read_text(),
                    str(path),
                    NOW,
                    operator(),
                    dry_run=dry_run,
                )

        check_s, _ = timed(lambda: load(True))
        import_s, result = timed(lambda: load(False))
        with engine.begin() as connection:
            tasks = connection.execute(sa.select(sa.func.count()).select_from(Task)).scalar()
            connection.execute(sa.delete(Task.__table__))
            connection.execute(sa.update(Case.__table__).values(replan_at=EPOCH))
        replan_s, _ = plan_everything(url, NOW)
        engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "cases": result["cases"],
        "tasks": tasks,
        "import_s": round(import_s, 2),
        "dry_run_s": round(check_s, 2),
        "replan_same_cases_s": round(replan_s, 2),
        "import_vs_replan": round(import_s / replan_s, 2),
        "target_s": TARGET_S,
        "met": import_s < TARGET_S,
    }


def summary(result: dict[str, Any]) -> Iterator[str]:
    """The result in a few lines, for a person at a terminal."""
    met = "met" if result["met"] else "NOT met"
    yield (
        f"import of {result['cases']:,} cases ({result['tasks']:,} tasks): "
        f"{result['import_s']:.1f} s (target < {TARGET_S:g} s: {met}); checking alone "
        f"{result['dry_run_s']:.1f} s; the sweep re-planning them "
        f"{result['replan_same_cases_s']:.1f} s; import / re-plan {result['import_vs_replan']}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    args = parser.parse_args(argv)
    result = run(args.cases)
    show(result, args.json, summary)


if __name__ == "__main__":
    main()
