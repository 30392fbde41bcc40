"""The benchmark at a small size, so it never rots: it runs end to end and writes its JSON.

No timing is asserted here (CI machines vary); the figures that matter are in
bench/RESULTS.md, from `python -m bench` at 100,000 cases.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REQUIRED = (
    "cases",
    "journeys_load_s",
    "plan_one_case_us",
    "plan_all_s",
    "plan_all_vs_raw_insert",
    "sweep_nochange_s",
    "sweep_1pct_s",
    "dispatch_msgs_per_s",
    "dispatch_vs_raw_smtp",
    "prefect_task_overhead_ms",
    "peak_rss_mb",
)


def bench(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS` from the repository, with none of the caller's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALONGSIDE_")}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_small_benchmark_runs_and_writes_its_json(tmp_path: Path) -> None:
    output = tmp_path / "result.json"
    done = bench(
        "bench",
        *("--cases", "2000", "--dispatch-messages", "200", "--prefect-tasks", "20"),
        *("--output", str(output)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    missing = [key for key in REQUIRED if result.get(key) is None]
    assert not missing, (missing, {k: v for k, v in result.items() if "error" in k})
    assert result["cases"] == 2000
    assert result["plan_all_tasks"] > 0
    assert result["sweep_1pct_counts"]["cases"] > 0
    assert set(result["targets"]) >= {"plan_all_s", "sweep_nochange_s", "peak_rss_mb"}
    assert "initial plan of all cases" in done.stdout  # the table


def assert_summarises(module: str, result: dict) -> None:
    """The lines the bench prints without --json are made from the same JSON, and say
    something: the text path is not left to rot behind the JSON one."""
    lines = list(importlib.import_module(module).summary(result))
    assert lines and all(isinstance(line, str) and line.strip() for line in lines)


@pytest.mark.slow
def test_preview_benchmark_previews_every_open_case_on_the_journey() -> None:
    """The impact-preview bench at a small size: every open case on the journey is
    previewed, the edit re-dates work on them, and the re-plan it compares with runs."""
    done = bench("bench.preview_bench", "--cases", "200", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["open_cases"] > 150
    assert result["redated"] > 0 and result["cases_changed"] <= result["open_cases"]
    assert len(result["preview_runs_s"]) == 3
    assert result["replan_s"] > 0
    assert_summarises("bench.preview_bench", result)


@pytest.mark.slow
def test_reports_benchmark_times_each_report_over_a_planned_caseload() -> None:
    """The reports bench at a small size: investigations are added, each report runs over
    the month before the bench's now, against the baseline count."""
    done = bench("bench.reports_bench", "--cases", "400", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["investigations"] > 0 and result["linked"] == 3 * result["investigations"]
    assert set(result["reports"]) == {"outcomes", "duties", "contact"}
    assert all(len(r["runs_s"]) == 3 for r in result["reports"].values())
    assert result["outcomes_totals"]["triaged"] > 0
    assert result["baseline_count_tasks_due_s"] > 0
    assert_summarises("bench.reports_bench", result)


@pytest.mark.slow
def test_import_benchmark_imports_every_row_and_replans_them() -> None:
    done = bench("bench.import_bench", "--cases", "200", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["cases"] == 200 and result["tasks"] > 200
    assert result["import_s"] > 0 and result["replan_same_cases_s"] > 0
    assert_summarises("bench.import_bench", result)


PAGES = ("my_work", "case", "team")


def test_web_benchmark_loads_each_page_with_ten_signed_in_users(tmp_path) -> None:
    """The web bench at a small size: every page answers 200 to every request (the bench
    asserts it), next to the bare route, with server and client p50 and p95 and requests
    per second; a second run reuses the database the first one built."""
    database = f"sqlite:///{tmp_path / 'web.db'}"
    for _ in range(2):
        done = bench("bench.web_bench", "--cases", "400", "--database", database, "--reuse",
                     "--json")  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout)
        assert set(result["pages"]) == {"bare", "my_work", "case", "team"}
        for figure in result["pages"].values():
            assert figure["requests"] == 300
            assert figure["server_p95_ms"] >= figure["server_p50_ms"] > 0
            assert figure["client_p95_ms"] >= figure["client_p50_ms"] > 0
            assert figure["clients_cpu_ms_per_request"] > 0
            assert figure["database_cpu_ms_per_request"] is None  # SQLite: in the workers
        # the pages cost the workers CPU; at 10 ms a tick, the bare route's 300 may show 0
        assert all(result["pages"][page]["workers_cpu_ms_per_request"] > 0 for page in PAGES)
        assert_summarises("bench.web_bench", result)


@pytest.mark.slow
def test_concurrent_plan_benchmark_plans_the_same_tasks_with_two_processes() -> None:
    """The two-tick-process bench at a small size (SQLite here; PostgreSQL in RESULTS.md):
    one process and two write the same tasks, and the ratio is reported."""
    done = bench("bench.concurrent_plan", "--cases", "200", "--repeats", "1", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["tasks"] > 0 and result["open_cases"] > 150
    assert result["two_vs_one"] == round(result["two_processes_s"] / result["one_process_s"], 3)
    assert_summarises("bench.concurrent_plan", result)


def test_the_raw_insert_baseline_inserts_the_plans_rows_again_on_both_databases(
    db_url: str,
) -> None:
    """The baseline empties the task table and inserts the same rows back, on PostgreSQL
    too, where other tables refer to tasks (a plain TRUNCATE is refused there)."""
    import sqlalchemy as sa

    from bench import caseload
    from bench.run import plan_everything, raw_insert_baseline
    from engine.store import Task, engine_for

    engine = engine_for(db_url)
    caseload.populate(engine, 100, caseload.NOW)
    _, counts = plan_everything(db_url, caseload.NOW)
    rows = sa.select(Task.__table__).order_by(Task.__table__.c.id)
    with engine.connect() as connection:
        before = connection.execute(rows).all()
    elapsed, inserted = raw_insert_baseline(engine, 500)
    with engine.connect() as connection:
        after = connection.execute(rows).all()
    assert inserted == counts["created"] == len(before) > 0
    assert after == before and elapsed > 0
