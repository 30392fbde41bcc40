"""`prefect deploy --all` with the project's prefect.yaml, against a real `prefect server start`.

The production path: a server on loopback with its own PREFECT_HOME and SQLite, the
`alongside` process work pool, then both deployments read back through the API with their
schedules, work pool, concurrency limit, parameters and pull step.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.prefect.conftest import eventually

PREFECT = str(Path(sys.executable).parent / "prefect")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_prefect_deploy_registers_both_deployments_with_their_schedules(tmp_path: Path) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        eventually(lambda: healthy(api), timeout=180, what="prefect server start")
        client_env = env | {"PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "client")}
        for command in (
            ["work-pool", "create", "alongside", "--type", "process"],
            ["deploy", "--all"],
        ):
            done = subprocess.run(
                [PREFECT, "--no-prompt", *command],
                cwd=REPO,
                env=client_env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

        found = httpx.post(f"{api}/deployments/filter", json={}, timeout=30).json()
        deployments = {d["name"]: d for d in found}
        assert set(deployments) == {"tick", "digest", "report"}
        assert deployments["report"]["entrypoint"] == "flows/outcomes.py:report_flow"
        tick, digest = deployments["tick"], deployments["digest"]

        assert tick["entrypoint"] == "flows/sweep.py:tick_flow"
        assert [s["schedule"] for s in tick["schedules"] if s["active"]] == [
            {"interval": 900.0, "anchor_date": "2026-01-05T00:00:00Z", "timezone": "Europe/London"}
        ]
        assert tick["parameters"] == {"batch_size": 500}
        assert tick["global_concurrency_limit"]["limit"] == 1
        assert tick["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"

        assert digest["entrypoint"] == "flows/sweep.py:digest_flow"
        assert [s["schedule"] for s in digest["schedules"] if s["active"]] == [
            {"cron": "0 8 * * 1-5", "timezone": "Europe/London", "day_or": True}
        ]
        for deployment in (tick, digest):
            assert deployment["work_pool_name"] == "alongside"
            assert "alongside" in deployment["tags"]
            assert deployment["pull_steps"] == [
                {
                    "prefect.deployments.steps.set_working_directory": {
                        "directory": "{{ $ALONGSIDE_PROJECT_DIR }}"
                    }
                }
            ]
        pool = httpx.get(f"{api}/work_pools/alongside", timeout=30).json()
        assert pool["type"] == "process"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()
