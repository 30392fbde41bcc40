"""Scale-out, as an operator deploys it: PostgreSQL, a Prefect server, two process workers.

A real `prefect server start` on a loopback port, `prefect work-pool create` and
`prefect deploy --all` from the project (with no ALONGSIDE_PROJECT_DIR where it deploys:
the workers set it, and the pull step reads it on the worker at run time), two
`prefect worker start --pool alongside` processes, then several tick runs triggered close
together at one instant. Every run reaches a final state; runs never overlapped (the
deployment's concurrency limit of 1); and the engine database holds exactly the tasks and
messages of one sweep per due case, compared with the same sweep run plainly on a second
database. Prefect's scheduler service is off so that no scheduled tick joins in.

Every process started is stopped at the end (its whole process group); every wait is a
bounded poll.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from engine import service, store
from engine.core.actors import operator
from engine.settings import SHIPPED_JOURNEYS, Settings
from engine.store import Case, OutboxMessage, Task, session_scope
from flows import sweep as flows
from notifications.testing import free_port
from tests.conftest import PG_URL, REPO, STAFF_YAML, _empty_postgres, at, shipped_catalog
from tests.prefect.conftest import eventually

PREFECT = str(Path(sys.executable).parent / "prefect")
NOW = at("2027-01-08T12:00")
RUNS = 4
FINAL = {"COMPLETED", "CANCELLED", "FAILED", "CRASHED"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="ALONGSIDE_TEST_DATABASE_URL not set"),
]


def seed(url: str) -> None:
    """24 cases on all four journeys, referred over the week before NOW."""
    plan = [
        ("adult-cjs", "nav@example.org", {"age": "34"}),
        ("adult-cjs", "nav2@example.org", {"age": "51"}),
        ("safe-return-romania", "ro-nav@example.org", {}),
    ]
    with session_scope(url) as session:
        service.import_staff(session, STAFF_YAML, at("2027-01-01T00:00"), operator())
        for number in range(24):
            journey, navigator, facts = plan[number % len(plan)]
            referred = at(f"2027-01-0{1 + number % 7}T09:00")
            # opened just before the referral's time, so that the tick plans every case: its
            # stages start at 09:00 (language 1.1, rule 1)
            opened = referred - timedelta(minutes=5)
            service.open_case(session, shipped_catalog(), f"SC-{number:04d}", journey, navigator,
                {"referral": referred.isoformat()}, facts, opened, operator(),
            )  # fmt: skip


def without_digest(key: str) -> str:
    """`calendar:RECIPIENT:DIGEST` -> `calendar:RECIPIENT`; every other key as it is."""
    return key.rsplit(":", 1)[0] if key.startswith("calendar:") else key


def sweep_of(url: str) -> tuple[set, Counter]:
    """The tasks and messages in a database, as comparable rows (no ids).

    A calendar message's key ends in a digest of its tasks' ids, which each database
    numbers its own way (a PostgreSQL sequence is not rolled back with a transaction), so
    the digest is left out and the messages are counted instead."""
    with session_scope(url) as session:
        tasks = set(
            session.execute(
                sa.select(
                    Case.ref, Task.obligation, Task.occurrence, Task.due, Task.status,
                    Task.escalation_level,
                ).join(Case, Case.id == Task.case_id)
            ).all()
        )  # fmt: skip
        messages = Counter(
            (without_digest(row.key), *row[1:])
            for row in session.execute(
                sa.select(
                    OutboxMessage.key, OutboxMessage.kind, OutboxMessage.recipient,
                    OutboxMessage.case_ref, OutboxMessage.status,
                )
            )
        )  # fmt: skip
    return tasks, messages


def post(url: str, body: dict) -> httpx.Response:
    """POST, retrying the 503s a busy Prefect server on SQLite answers (bounded)."""
    for _ in range(20):
        response = httpx.post(url, json=body, timeout=30)
        if response.status_code != 503:
            break
        time.sleep(0.5)
    response.raise_for_status()
    return response


def healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group: stopping it stops its children too
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):  # flow-run processes a worker started
        os.killpg(process.pid, signal.SIGKILL)


def state_of(api: str, run_id: str) -> str:
    return httpx.get(f"{api}/flow_runs/{run_id}", timeout=30).json()["state_type"]


def flow_run_process(run_id: str) -> int | None:
    """The pid of the flow-run process a worker started for this run (found by its env)."""
    marker = f"PREFECT__FLOW_RUN_ID={run_id}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ and b"prefect.engine" in command:
            return int(entry.name)
    return None


def instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def test_two_workers_and_close_runs_make_exactly_one_sweep(tmp_path: Path) -> None:
    began = time.monotonic()
    _empty_postgres(PG_URL)
    seed(PG_URL)
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    seed(reference)
    with flows.using(
        Settings(home=tmp_path / "ref", database_url=reference, journeys_dir=SHIPPED_JOURNEYS)
    ):
        expected = flows.run_tick(NOW, flows.BATCH_SIZE, flows.PLAIN_STEPS)
    assert expected.counts.cases == 24 and expected.counts.escalations > 0
    want_tasks, want_messages = sweep_of(reference)
    assert {m[4] for m in want_messages} == {"sent"}
    assert any(m[1] == "calendar" for m in want_messages)

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALONGSIDE_"))}
    server_env = clean | {
        "PREFECT_HOME": str(tmp_path / "prefect-server"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
    }
    client_env = clean | {"PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "client")}
    processes: list[subprocess.Popen] = []
    try:
        processes.append(
            start(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
                server_env,
                tmp_path / "server.log",
                tmp_path,
            )
        )
        eventually(lambda: healthy(api), timeout=180, what="prefect server start")
        for command in (
            ["work-pool", "create", "alongside", "--type", "process"],
            ["deploy", "--all"],
        ):
            done = subprocess.run(
                [PREFECT, "--no-prompt", *command],
                cwd=REPO,
                env=client_env,  # no ALONGSIDE_PROJECT_DIR here: the workers have it
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

        elsewhere = tmp_path / "elsewhere"  # workers start outside the checkout
        elsewhere.mkdir()
        for number in (1, 2):
            worker_env = client_env | {
                "PREFECT_HOME": str(tmp_path / f"worker-{number}"),
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "PREFECT_WORKER_PREFETCH_SECONDS": "1",
                "ALONGSIDE_PROJECT_DIR": str(REPO),
                "ALONGSIDE_DATABASE_URL": PG_URL,
                "ALONGSIDE_HOME": str(tmp_path / f"home-{number}"),
                "ALONGSIDE_JOURNEYS_DIR": str(SHIPPED_JOURNEYS),
                "ALONGSIDE_TRANSPORT": "file",
            }
            processes.append(
                start(
                    [PREFECT, "worker", "start", "--pool", "alongside", "--name", f"w{number}",
                     "--install-policy", "never"],
                    worker_env,
                    tmp_path / f"worker-{number}.log",
                    elsewhere,
                )
            )  # fmt: skip
        eventually(
            lambda: len(post(f"{api}/work_pools/alongside/workers/filter", {}).json()) == 2,
            timeout=120,
            what="two workers polling the pool",
        )

        deployment = httpx.get(f"{api}/deployments/name/tick/tick", timeout=10).json()

        def trigger(count: int) -> list[str]:
            return [
                post(
                    f"{api}/deployments/{deployment['id']}/create_flow_run",
                    {"parameters": {"now": NOW.isoformat(), "batch_size": 5}},
                ).json()["id"]
                for _ in range(count)
            ]

        def finished(runs: list[str]) -> list[dict] | None:
            found = post(f"{api}/flow_runs/filter", {"flow_runs": {"id": {"any_": runs}}}).json()
            done = [r for r in found if r["state_type"] in FINAL]
            return found if len(done) == len(runs) else None

        # Two waves close together at one instant: the second sweep finds nothing to do.
        first = trigger(RUNS)
        found = eventually(lambda: finished(first), timeout=180, what="the first wave")
        second = trigger(2)
        found += eventually(lambda: finished(second), timeout=180, what="the second wave")

        # The crash drill: a tick stuck on a lock, its process killed. The worker marks the
        # run Crashed, which releases the concurrency slot: the next tick runs.
        lock = store.engine_for(PG_URL).connect()
        held = lock.begin()
        lock.execute(sa.text('LOCK TABLE "case" IN ACCESS EXCLUSIVE MODE'))
        try:
            (stuck,) = trigger(1)
            eventually(lambda: state_of(api, stuck) == "RUNNING", timeout=120, what="running")
            pid = eventually(lambda: flow_run_process(stuck), timeout=60, what="its process")
            os.kill(pid, signal.SIGKILL)
            eventually(lambda: state_of(api, stuck) == "CRASHED", timeout=60, what="crashed")
        finally:
            held.rollback()
            lock.close()
        (after,) = trigger(1)
        eventually(lambda: state_of(api, after) in FINAL, timeout=120, what="the next tick")
        crash = (state_of(api, stuck), state_of(api, after))
    finally:
        for process in reversed(processes):
            stop(process)

    states = sorted(r["state_type"] for r in found)
    logs = "\n".join(p.read_text()[-2000:] for p in tmp_path.glob("worker-*.log"))
    assert states.count("COMPLETED") >= 2, (states, logs)
    assert not {"FAILED", "CRASHED"} & set(states), (states, logs)
    ran = sorted(
        (instant(r["start_time"]), instant(r["end_time"]))
        for r in found
        if r["start_time"] and r["state_type"] == "COMPLETED"
    )
    for (_, earlier_end), (later_start, _) in itertools.pairwise(ran):
        assert later_start >= earlier_end, ran  # never two ticks at once
    # A run cancelled before it started keeps the server's name; those that ran are named
    # by their instant and a short run id, so they differ though they share the instant.
    started = [r["name"] for r in found if r["state_type"] == "COMPLETED"]
    assert all(n.startswith("tick-2027-01-08T12:00:00Z-") for n in started), found
    assert len(set(started)) == len(started)
    print(f"states {states}; ran {len(ran)}; took {time.monotonic() - began:.0f} s")
    cancelled = {r["state"]["message"] for r in found if r["state_type"] == "CANCELLED"}
    assert cancelled <= {"Deployment concurrency limit reached."}, cancelled

    assert crash == ("CRASHED", "COMPLETED"), crash  # a crashed run does not block the next

    got_tasks, got_messages = sweep_of(PG_URL)
    assert got_tasks == want_tasks
    assert got_messages == want_messages
    assert time.monotonic() - began < 300
