"""`alongside run` as a process: it fires flows on an interval schedule and stops cleanly.

The process runs against the session's Prefect API (PREFECT_API_URL), as it would against
a server, so its runs can be read back; the demo's test covers the ephemeral default.
Polls have bounded timeouts; nothing waits on a fixed sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterTags,
)

from engine.settings import SHIPPED_JOURNEYS
from tests.prefect.commands import alongside, child_env
from tests.prefect.conftest import eventually


def counts(path: Path) -> tuple[int, int]:
    lines = path.read_text().split() if path.exists() else []
    return lines.count("started"), lines.count("finished")


def test_run_fires_interval_schedules_and_a_sigterm_lets_the_running_flow_finish(
    prefect_api: str, tmp_path: Path
) -> None:
    marker = tmp_path / "slow.log"
    config = tmp_path / "prefect.yaml"
    config.write_text(
        f"""
deployments:
  - name: tick
    entrypoint: flows/sweep.py:tick_flow
    parameters: {{batch_size: 7}}
    schedules: [{{interval: 1, timezone: Europe/London}}]
  - name: slow
    entrypoint: tests/prefect/slow_flow.py:slow
    parameters: {{marker: "{marker}", seconds: 2}}
    schedules: [{{interval: 1}}]
"""
    )
    env = child_env(
        ALONGSIDE_HOME=str(tmp_path / "home"),
        ALONGSIDE_JOURNEYS_DIR=str(SHIPPED_JOURNEYS),
        PREFECT_API_URL=prefect_api,
        PREFECT_HOME=str(tmp_path / "prefect"),
    )
    process = subprocess.Popen(
        alongside("run", "--prefect-yaml", str(config)),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr.log").open("w"),
        text=True,
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(iter(process.stdout.readline, "")))
    reader.start()
    try:
        # The tick runs at start-up and again on its interval.
        eventually(
            lambda: sum("tick: Completed" in line for line in out) >= 2,
            timeout=120,
            what=f"two ticks (output so far: {out})",
        )
        # Stop while a slow flow is half-way through.
        eventually(lambda: (c := counts(marker))[0] > c[1], timeout=60, what="a slow flow running")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, (tmp_path / "stderr.log").read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(timeout=10)

    started, finished = counts(marker)
    assert started == finished >= 1  # the running flow finished; nothing started after
    text = "".join(out)
    assert "SIGTERM: stopping; waiting for the running slow flow to finish" in text
    assert out[-1].strip() == "stopped"
    assert "slow: Completed" in out[-2]
    assert "database  sqlite:///" in text and "outbox " in text and "logs " in text

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["tick"])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["alongside", "embedded"])),
        )
    assert len(runs) >= 2
    assert all(r.parameters.get("batch_size") == 7 for r in runs)
    assert all(r.name.startswith("tick-") for r in runs)


def test_ctrl_c_in_a_terminal_lets_the_running_flow_finish_on_the_ephemeral_api(
    tmp_path: Path,
) -> None:
    """Ctrl-C reaches the terminal's whole process group: Prefect's local API must outlive it."""
    marker = tmp_path / "slow.log"
    config = tmp_path / "prefect.yaml"
    config.write_text(
        f"""
deployments:
  - name: slow
    entrypoint: tests/prefect/slow_flow.py:slow
    parameters: {{marker: "{marker}", seconds: 2}}
    schedules: [{{interval: 1}}]
"""
    )
    process = subprocess.Popen(
        alongside("run", "--prefect-yaml", str(config)),
        cwd=tmp_path,
        env=child_env(ALONGSIDE_HOME=str(tmp_path / "home")),
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr.log").open("w"),
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal gives a command
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(iter(process.stdout.readline, "")))
    reader.start()
    try:
        eventually(
            lambda: (c := counts(marker))[1] >= 1 and c[0] > c[1],
            timeout=120,
            what=f"a second slow flow running (output so far: {out})",
        )
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0, (tmp_path / "stderr.log").read_text()[-3000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        reader.join(timeout=10)
    started, finished = counts(marker)
    assert started == finished >= 2
    assert "slow: Completed" in out[-2] and out[-1].strip() == "stopped"
    assert "ephemeral API" in "".join(out)
