"""Prefect's client overhead per task run, against the same function called plainly.

Runs in a child process (`python -m bench.prefect_overhead N OUT.json`) with its own
PREFECT_HOME and Prefect's ephemeral API, so the benchmark's own memory and settings stay
clean. One flow runs N trivial tasks one after the other; the loop inside the flow is
timed, so the figure is what each task run costs the client (the flow's own start and end
are not counted). The flow's wall time end to end is reported beside it: the end waits for
the task-run events to reach the API. This is why the engine's flows run Prefect tasks on
batches of cases, never one per case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median
from time import perf_counter


def _noop(i: int) -> int:
    return i


def run(n: int) -> dict:
    from prefect import flow, task

    noop_task = task(_noop, name="noop")

    @flow(name="bench-prefect-overhead", log_prints=False)
    def many(count: int) -> float:
        started = perf_counter()
        for i in range(count):
            noop_task(i)
        return perf_counter() - started

    started = perf_counter()
    many(1)  # starts the ephemeral API and warms the client
    startup = perf_counter() - started
    loops, flows = [], []
    for _ in range(2):
        started = perf_counter()
        loops.append(many(n))
        flows.append(perf_counter() - started)
    plain = []
    for _ in range(5):
        started = perf_counter()
        for i in range(n):
            _noop(i)
        plain.append(perf_counter() - started)
    per_task = median(loops) / n
    plain_call = median(plain) / n
    return {
        "prefect_tasks": n,
        "prefect_startup_s": round(startup, 2),
        "prefect_flow_wall_s": round(median(flows), 2),
        "prefect_task_overhead_ms": round(per_task * 1e3, 3),
        "plain_call_us": round(plain_call * 1e6, 3),
        "prefect_vs_plain_call": round(per_task / plain_call) if plain_call else None,
    }


def measure(n: int, timeout: float = 600) -> dict:
    """Run the measure in a child process against a fresh ephemeral Prefect API."""
    with tempfile.TemporaryDirectory(prefix="alongside-bench-prefect-") as home:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PREFECT_") or k == "PREFECT_LOGGING_LEVEL"
        }
        env.update(
            PREFECT_HOME=home,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_EPHEMERAL_ENABLED="true",
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
            PREFECT_LOGGING_TO_API_ENABLED="false",
            PREFECT_LOGGING_LEVEL=env.get("PREFECT_LOGGING_LEVEL", "WARNING"),
        )
        out = Path(home) / "result.json"
        done = subprocess.run(
            [sys.executable, "-m", "bench.prefect_overhead", str(n), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0 or not out.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise RuntimeError("prefect measure failed: " + " | ".join(tail))
        return json.loads(out.read_text())


if __name__ == "__main__":
    count, target = int(sys.argv[1]), Path(sys.argv[2])
    target.write_text(json.dumps(run(count)))
