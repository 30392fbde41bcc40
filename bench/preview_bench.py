"""The impact preview of a journey edit over 10,000 open cases, against the sweep's own
re-plan of the same cases with the same edit, measured in the same run.

`alongside journeys preview FILE` plans every open case on the journey with the new
definition and diffs it with the tasks the case has, writing nothing; the target is under
5 s for 10,000 open cases on SQLite. The baseline is what installing the file then costs:
the next sweep re-planning those cases and writing the changes.

    python -m bench.preview_bench                 # 10,000 open adult-cjs cases, SQLite
    python -m bench.preview_bench --cases 2000 --json
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

from alongside.startup import settled
from bench import caseload
from bench.output import show
from bench.run import plan_everything, prepare_database, timed
from engine import installing
from engine.catalog import Catalog
from engine.store import session_scope

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
JOURNEY = "adult-cjs"
# The edit a programme lead might make: the GP registration falls due a week sooner.
EDIT = ("due: 14 days after referral", "due: 7 days after referral")
REPEATS = 3


def edited_catalog(folder: Path) -> Catalog:
    """The shipped journeys copied to `folder`, with one deadline of JOURNEY moved (so it
    has a new version, as an installed edit would)."""
    shutil.copytree(caseload.CATALOG.directory, folder, dirs_exist_ok=True)
    path = folder / f"{JOURNEY}.yaml"
    text = path.read_text()
    before, after = EDIT
    assert before in text, f"{path} no longer says {before!r}: update the bench's edit"
    path.write_text(text.replace(before, after, 1))
    return Catalog(folder)


def run(cases: int) -> dict:
    """Populate until about `cases` open cases are on the journey, plan them, then time the
    preview (median of REPEATS) and the re-plan that installing the edit sets off."""
    with tempfile.TemporaryDirectory(prefix="alongside-preview-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = prepare_database(url)
        share = caseload.JOURNEY_SHARES[JOURNEY]
        caseload.populate(engine, int(cases / share / 0.8), NOW)  # about 80% of cases are open
        plan_everything(url, NOW)
        catalog = edited_catalog(Path(folder) / "journeys")
        journey = catalog.resolve(JOURNEY)

        def preview() -> dict:
            with session_scope(url) as session:
                return installing.preview(session, journey, NOW).totals()

        times, totals = zip(*(timed(preview) for _ in range(REPEATS)), strict=True)
        replan_s = plan_everything(url, NOW, catalog)[0]  # the cases' journey version changed
        engine.dispose()
    preview_s = median(times)
    return {
        "journey": JOURNEY,
        "open_cases": totals[0]["open_cases"],
        "cases_changed": totals[0]["cases_changed"],
        "redated": totals[0]["redated"],
        "preview_s": round(preview_s, 3),
        "preview_runs_s": [round(t, 3) for t in times],
        "replan_s": round(replan_s, 3),
        "preview_vs_replan": round(preview_s / replan_s, 3),
        "target_preview_s": 5.0,
        "met": preview_s < 5.0,
    }


def summary(result: dict[str, Any]) -> Iterator[str]:
    """The result in a few lines, for a person at a terminal."""
    yield (
        f"preview of {result['open_cases']:,} open {JOURNEY} cases: {result['preview_s']:.2f} s"
        f" (target < 5 s: {'met' if result['met'] else 'NOT met'}); the re-plan it"
        f" previews: {result['replan_s']:.2f} s; preview / re-plan {result['preview_vs_replan']}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="open cases on the journey")
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    args = parser.parse_args(argv)
    with settled():  # as `alongside journeys preview` runs
        result = run(args.cases)
    show(result, args.json, summary)


if __name__ == "__main__":
    main()
