"""`python -m bench` (or `make bench`): the national-scale benchmark in one command.

    python -m bench                          # 100,000 cases on a fresh SQLite file
    python -m bench --cases 20000
    python -m bench --database postgresql+psycopg://postgres@127.0.0.1/alongside_bench
    python -m bench --json                   # the JSON document on stdout, no table

Prints a table of figures with the targets they are held to, and writes the JSON result
to bench/results/latest.json (or --output). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, date, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

# key -> (what, unit, format, target as (comparison, bound) or None)
ROWS: list[tuple[str, str, str, str, tuple[str, float] | None]] = [
    ("cases", "cases", "", "{:,.0f}", None),
    ("journeys_load_s", "load and validate all journeys", "s", "{:.3f}", None),
    ("plan_one_case_us", "plan one case (pure planner)", "µs", "{:.0f}", None),
    ("plan_all_s", "initial plan of all cases", "s", "{:.1f}", ("<=", 60)),
    ("plan_all_cpu_s", "  CPU time of the bench process", "s", "{:.1f}", None),
    ("plan_all_cases_per_s", "  cases planned per second", "/s", "{:,.0f}", None),
    ("plan_all_tasks", "  tasks written", "", "{:,.0f}", None),
    ("raw_insert_s", "  baseline: raw executemany, same transactions", "s", "{:.1f}", None),
    ("plan_all_vs_raw_insert", "  initial plan / raw insert", "x", "{:.2f}", ("<=", 2.0)),
    ("raw_insert_large_tx_s", "  baseline: raw, 50,000-row transactions", "s", "{:.1f}", None),
    ("plan_all_vs_raw_insert_large_tx", "  initial plan / that", "x", "{:.2f}", None),
    ("alert_pass_s", "alert pass, many overdue tasks", "s", "{:.1f}", None),
    ("alert_pass_escalations", "  tasks escalated", "", "{:,.0f}", None),
    ("sweep_nochange_s", "sweep, nothing changed (median)", "s", "{:.3f}", ("<=", 0.02)),
    ("sweep_1pct_s", "sweep after 1% of cases changed (median)", "s", "{:.2f}", ("<=", 5)),
    ("dispatch_msgs_per_s", "dispatch to local SMTP", "msg/s", "{:,.0f}", (">=", 300)),
    ("raw_smtp_msgs_per_s", "  baseline: plain aiosmtplib loop", "msg/s", "{:,.0f}", None),
    ("dispatch_vs_raw_smtp", "  dispatch / raw aiosmtplib", "x", "{:.2f}", (">=", 0.5)),
    ("prefect_task_overhead_ms", "Prefect client overhead per task run", "ms", "{:.2f}", None),
    ("plain_call_us", "  baseline: plain function call", "µs", "{:.3f}", None),
    ("peak_rss_mb", "peak RSS", "MB", "{:,.0f}", ("<=", 1024)),
    ("db_bytes_per_case", "database size per case", "bytes", "{:,.0f}", None),
]


def targets(result: dict) -> dict[str, dict]:
    """Each target with its bound, the figure and whether it is met (None: not measured)."""
    out = {}
    for key, _, _, _, target in ROWS:
        if target is None:
            continue
        op, bound = target
        value = result.get(key)
        met = None if value is None else (value <= bound if op == "<=" else value >= bound)
        out[key] = {"target": f"{op} {bound}", "value": value, "met": met}
    return out


def table(result: dict) -> str:
    lines = [
        f"Alongside benchmark: {result['cases']:,} cases on {result['database']}, "
        f"{result['machine']['nproc']} CPUs, {result['machine']['memory_gb']} GB, "
        f"{result['date']}",
        "",
        f"{'measure':<46} {'value':>12} {'unit':<6} {'target':<9} ",
    ]
    met = result["targets"]
    sqlite = result["database"].startswith("sqlite")  # the targets are set for SQLite
    for key, what, unit, fmt, target in ROWS:
        value = result.get(key)
        shown = "n/a" if value is None else fmt.format(value)
        goal, mark = "", ""
        if target:
            goal = f"{target[0]} {target[1]:g}"
            mark = {True: "ok", False: "MISSED", None: "-"}[met[key]["met"]]
            mark = mark if sqlite else f"({mark})"
        lines.append(f"{what:<46} {shown:>12} {unit:<6} {goal:<9} {mark}")
    return "\n".join(lines)


def machine() -> dict:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="caseload size")
    parser.add_argument(
        "--database", help="an EMPTY database URL (default: a fresh SQLite file in a temp dir)"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON, not the table")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/latest.json)")
    parser.add_argument("--dispatch-messages", type=int, default=5_000)
    parser.add_argument("--prefect-tasks", type=int, default=1_000)
    args = parser.parse_args(argv)
    if args.cases < 100:
        parser.error("--cases must be at least 100")

    from alongside.startup import settled
    from bench.run import run

    with settled():  # as every `alongside` command runs
        result = run(
            args.cases,
            args.database,
            dispatch_messages=args.dispatch_messages,
            prefect_tasks=args.prefect_tasks,
        )
    result["date"] = date.today().isoformat()
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["machine"] = machine()
    result["command"] = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    result["targets"] = targets(result)
    output = args.output or RESULTS / "latest.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, default=str)
    output.write_text(text + "\n")
    print(text if args.json else table(result))
    print(f"written: {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
