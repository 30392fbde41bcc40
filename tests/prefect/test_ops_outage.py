"""The Prefect outage drill: `alongside run` with its Prefect API down, then back.

`alongside run` starts with PREFECT_API_URL naming a loopback port where nothing listens:
it still plans and sends (the ticks run as plain steps, recorded in alongside.log only),
then a real `prefect server start` comes up on that port and the next tick goes through
Prefect as usual. Every process the test starts is stopped at the end; loops are bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from engine import service
from engine.clock import utcnow
from engine.core.actors import operator
from engine.settings import SHIPPED_JOURNEYS
from engine.store import OutboxMessage, Task, session_scope
from notifications.testing import free_port
from tests.conftest import STAFF_YAML, shipped_catalog
from tests.prefect.commands import alongside, child_env
from tests.prefect.conftest import eventually

PREFECT = str(Path(sys.executable).parent / "prefect")


def healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop(process: subprocess.Popen, group: bool = False) -> None:
    if process.poll() is not None:
        return
    if group:
        os.killpg(process.pid, signal.SIGTERM)
    else:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait(timeout=30)


@pytest.mark.slow
def test_run_sweeps_with_the_prefect_api_down_and_goes_back_to_prefect_when_it_returns(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'alongside.db'}"
    referred = utcnow() - timedelta(days=3)  # first-week work is overdue: leads are told
    with session_scope(url) as session:
        service.import_staff(session, STAFF_YAML, referred, operator())
        for ref in ("KNT-0001", "KNT-0002"):
            service.open_case(session, shipped_catalog(), ref, "adult-cjs", "nav@example.org",
                {"referral": referred.isoformat()}, {"age": "34"}, referred, operator(),
            )  # fmt: skip

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    config = tmp_path / "prefect.yaml"
    config.write_text(
        "deployments:\n"
        "  - name: tick\n"
        "    entrypoint: flows/sweep.py:tick_flow\n"
        "    schedules: [{interval: 2, timezone: Europe/London}]\n"
    )
    env = child_env(
        ALONGSIDE_HOME=str(home),
        ALONGSIDE_JOURNEYS_DIR=str(SHIPPED_JOURNEYS),
        PREFECT_API_URL=api,
        PREFECT_HOME=str(tmp_path / "prefect-client"),
    )
    run = subprocess.Popen(
        alongside("run", "--prefect-yaml", str(config)),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr.log").open("w"),
        text=True,
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(iter(run.stdout.readline, "")))
    reader.start()
    server = None
    try:
        eventually(
            lambda: any("tick: Completed without Prefect" in line for line in out),
            timeout=120,
            what=f"a tick without Prefect (output so far: {out})",
        )
        text = "".join(out)
        assert f"cannot reach the Prefect API at {api}" in text
        assert "run history on that server" in text and "logs " in text
        with session_scope(url) as session:
            tasks = session.execute(sa.select(sa.func.count()).select_from(Task)).scalar_one()
            sent = session.execute(
                sa.select(sa.func.count()).where(OutboxMessage.status == "sent")
            ).scalar_one()
        assert tasks > 0 and sent > 0  # it planned and it sent
        assert list((home / "outbox").glob("*.eml"))
        log = (home / "logs" / "alongside.log").read_text()
        assert "tick: Completed without Prefect" in log  # every line in the log too
        assert "alongside run: the flows on the schedules in" in log

        # Prefect comes back on the same port: the next tick goes through it.
        server_env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        server_env |= {
            "PREFECT_HOME": str(tmp_path / "prefect-server"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        server = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
            env=server_env,
            stdout=(tmp_path / "server.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        eventually(lambda: healthy(api), timeout=180, what="prefect server start")
        through = len(out)
        eventually(
            lambda: any(
                line.split(" ", 1)[-1].startswith("tick: Completed (") for line in out[through:]
            ),
            timeout=120,
            what=f"a tick through Prefect (output since: {out[through:]})",
        )
        runs = httpx.post(
            f"{api}/flow_runs/filter",
            json={"flows": {"name": {"any_": ["tick"]}}},
            timeout=30,
        ).json()
        assert runs and all(r["name"].startswith("tick-") for r in runs)
        assert {r["state_type"] for r in runs} <= {"COMPLETED", "RUNNING", "PENDING"}
        # Nothing was back-filled: Prefect has only the runs made since it came back.
        offline = sum("without Prefect" in line for line in out)
        assert offline >= 1
        assert len(runs) <= len(out[through:]) + 1
    finally:
        stop(run)
        reader.join(timeout=30)
        if server is not None:
            stop(server, group=True)
    assert run.returncode == 0, (tmp_path / "stderr.log").read_text()[-3000:]
