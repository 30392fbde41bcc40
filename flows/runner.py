"""`alongside run`: the engine's flows on prefect.yaml's schedules, in one process.

Prefect's own `serve()` needs a real Prefect server to schedule anything, so the embedded
mode brings its own scheduler: APScheduler's `AsyncIOScheduler`, one job per schedule in
`prefect.yaml`, each running its flow in this process through Prefect (the ephemeral API,
or the server PREFECT_API_URL names, whose UI then shows the runs).

- One flow at a time: a lock serialises flows in this process, and `max_instances=1`
  means a tick that comes due while the last one still runs is skipped, not queued.
- Missed runs coalesce (`coalesce=True`, no misfire limit): after a long flow or a
  suspended laptop, one catch-up run, not a burst. Interval schedules (the tick) also run
  once at start-up, because the sweep catches up on whatever happened while nothing ran.
- SIGINT or SIGTERM stops the schedule and lets the running flow finish; a second signal
  stops at once.
- The engine does not depend on Prefect being up: when the Prefect API does not answer, a
  tick or digest runs as the plain steps, in this process, without Prefect (`offline`),
  and the run is recorded in the local log only (nothing is back-filled into Prefect
  later). The next run after the API answers again goes through Prefect as usual.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flows.schedules import Deployment, load_flow, next_fire

Say = Callable[[str], None]
HEALTH_TIMEOUT = 5.0  # seconds to wait for the Prefect API's /health before each run


@dataclass
class _Job:
    deployment: Deployment
    flow: Any
    parameters: dict[str, Any]


class Runner:
    """Runs the scheduled flows one at a time and stops cleanly."""

    def __init__(
        self, deployments: list[Deployment], base: Path, say: Say, settings: Any = None
    ) -> None:
        self.say = say
        self.settings = settings
        self.jobs = [
            (_Job(d, load_flow(d.entrypoint, base), {**d.parameters, **s.parameters}), s)
            for d in deployments
            for s in d.schedules
        ]
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.running: str | None = None

    async def fire(self, job: _Job) -> None:
        """Run one flow (waiting for any other to finish first), and report how it ended."""
        if self.stopping.is_set():
            return
        async with self.lock:
            if self.stopping.is_set():
                return
            self.running = job.deployment.name
            name = job.deployment.name
            try:
                problem = await asyncio.to_thread(api_problem)
                if problem is None:
                    try:
                        outcome = await asyncio.to_thread(_run_flow, name, job.flow, job.parameters)
                    except Exception as error:  # Prefect itself failed mid-run
                        problem = f"{type(error).__name__}: {error}"
                        self.say(f"{_clock()} {name}: Prefect failed ({problem})")
                        problem = api_problem() or problem
                if problem is not None:
                    outcome = await asyncio.to_thread(
                        offline, name, job.flow, job.parameters, self.settings, problem
                    )
            except Exception as error:  # the engine itself failed: one line, the log has more
                import logging

                logging.getLogger("alongside.run").exception("%s failed", name)
                outcome = f"{name}: not run: {_one_line(error)}"
            finally:
                self.running = None
            self.say(f"{_clock()} {outcome}")

    def stop(self, why: str) -> None:
        """First signal: no new runs, let the running one finish. Second: stop at once."""
        if self.stopping.is_set():
            self.say(f"{why} again: stopping now, without waiting for {self.running or 'anything'}")
            _stop_local_api()
            os._exit(130)
        waiting = f"; waiting for the running {self.running} flow to finish" if self.running else ""
        self.say(f"{why}: stopping{waiting}")
        self.stopping.set()

    def schedule(self, scheduler: Any, now: datetime, catch_up: bool) -> None:
        """Add one APScheduler job per schedule, and say when each fires next.

        Coalesce, one instance, no misfire limit: a late job runs once, however late.
        """
        for number, (job, schedule) in enumerate(self.jobs):
            first = now if catch_up and schedule.interval is not None else None
            scheduler.add_job(
                self.fire,
                schedule.trigger(),
                args=[job],
                id=f"{job.deployment.name}-{number}",
                name=job.deployment.name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
                **({"next_run_time": first} if first else {}),
            )
            upcoming = "now" if first else f"{next_fire(schedule, now):%Y-%m-%d %H:%M} UTC"
            self.say(f"  {job.deployment.name:<9} {schedule.describe()}; next {upcoming}")

    async def serve(self, catch_up: bool = True) -> None:
        """Schedule every job and run until a signal asks to stop."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stop, signal.Signals(signum).name)
        scheduler = AsyncIOScheduler(timezone=UTC)
        self.schedule(scheduler, datetime.now(UTC), catch_up)
        scheduler.start()
        try:
            await self.stopping.wait()
            scheduler.pause()  # nothing new starts
            async with self.lock:  # the running flow, if any, finishes
                await asyncio.to_thread(settle)
        finally:
            # Only now: shutting APScheduler down cancels the coroutine jobs still running.
            scheduler.shutdown(wait=False)
        self.say("stopped")


def _run_flow(name: str, flow: Any, parameters: dict[str, Any]) -> str:
    """Run one flow (in a worker thread: flows are synchronous) and describe how it ended."""
    from flows.sweep import call

    state = call(flow, parameters, "embedded")
    if not state.is_completed():
        return f"{name}: {state.name}: {state.message or 'no message'}"
    try:
        totals = state.result()
    except Exception:  # the result is informative only
        totals = None
    if not isinstance(totals, dict):
        return f"{name}: {state.name}"
    return f"{name}: {state.name} ({', '.join(f'{k} {v}' for k, v in totals.items())})"


def api_problem() -> str | None:
    """Why the configured Prefect API cannot be used now, or None when it answers.

    The ephemeral API (no PREFECT_API_URL) is this process's own child: taken as up.
    """
    import httpx
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return None
    try:
        response = httpx.get(f"{url.rstrip('/')}/health", timeout=HEALTH_TIMEOUT)
    except httpx.HTTPError as error:
        return f"cannot reach the Prefect API at {url}: {type(error).__name__}"
    if response.status_code != 200:
        return f"the Prefect API at {url} answered {response.status_code}"
    return None


def offline(name: str, flow: Any, parameters: dict[str, Any], settings: Any, why: str) -> str:
    """Run a tick or digest as its plain steps, without Prefect; describe how it ended.

    Nothing is sent to Prefect and nothing is back-filled later: the run exists in the local
    log (every line `alongside run` says goes there too).
    """
    import logging

    from flows import sweep

    if flow is not sweep.tick_flow and flow is not sweep.digest_flow:
        return f"{name}: not run: {why} (only the tick and the digest run without Prefect)"
    log = logging.getLogger("alongside.run")
    log.warning("%s: running without Prefect: %s", name, why)
    with sweep.using(settings or sweep.settings()):
        now = sweep.instant(parameters.get("now"))
        if flow is sweep.digest_flow:
            totals = sweep.digest_steps(now)
            done = ", ".join(f"{k} {v}" for k, v in totals.items())
            return f"{name}: Completed without Prefect ({why}) ({done})"
        result = sweep.run_tick(
            now, parameters.get("batch_size", sweep.BATCH_SIZE), sweep.PLAIN_STEPS
        )
        verdict = sweep.assess(result)
    state = "Completed" if verdict.ok else f"Failed: {verdict.line()}"
    return f"{name}: {state} without Prefect ({why}) ({result.line()})"


def _one_line(error: BaseException) -> str:
    from sqlalchemy.exc import SQLAlchemyError

    from engine.failures import database_message
    from flows import sweep

    if isinstance(error, SQLAlchemyError):
        try:
            return database_message(error, sweep.settings().url)[0]
        except Exception:  # the settings themselves are what failed
            pass
    return f"{type(error).__name__} (see the local log)"


def _clock() -> str:
    return f"{datetime.now(UTC):%H:%M:%S}Z"


def _stop_local_api() -> None:
    """Stop the ephemeral API subprocess, which an immediate exit would leave running."""
    try:
        from prefect.server.api.server import SubprocessASGIServer

        for server in list(SubprocessASGIServer._instances.values()):
            server.stop()
    except Exception:  # best effort on the way out
        pass


def settle() -> None:
    """Give the ephemeral API time to write the events it buffers before it stops with us.

    Its task-run recorder and event persister flush on an interval; stopping the server
    mid-interval loses the last runs' task states (and prints the server's tracebacks).
    """
    import time

    from prefect.settings import PREFECT_API_URL, get_current_settings

    if PREFECT_API_URL.value():
        return
    services = get_current_settings().server.services
    wait = max(services.task_run_recorder.flush_interval, services.event_persister.flush_interval)
    time.sleep(min(wait, 10) + 0.5)


class _OwnSession(subprocess.Popen):
    """A Popen whose child leads its own session, out of the terminal's process group."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("start_new_session", True)
        super().__init__(*args, **kwargs)


def _start_ephemeral_api() -> None:
    """Start Prefect's ephemeral API as a subprocess in a session of its own.

    Prefect would start it in ours, and Ctrl-C in a terminal interrupts the whole
    foreground process group: the API would stop under the very flow we are letting
    finish. In its own session it hears only us; Prefect stops it when this process exits.
    (Prefect starts it with `subprocess.Popen` in `prefect.server.api.server`: only that
    module's name is swapped, only while it starts.)
    """
    import types

    from prefect.server.api import server as module

    api = module.SubprocessASGIServer()  # the instance get_client() will find and reuse
    if api.running:
        return
    module.subprocess = types.SimpleNamespace(**{**vars(subprocess), "Popen": _OwnSession})
    try:
        api.start()
    finally:
        module.subprocess = subprocess


def start_api(say: Say) -> str:
    """Reach the Prefect API now (starting the ephemeral one if need be), not at the first run.

    Returns a description of where the runs go.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        say("  starting Prefect's local API (the first start on a new machine takes ~15 s)")
        _start_ephemeral_api()
    from engine.core.errors import UserError

    if url:
        problem = api_problem()
        if problem is not None:
            # The engine does not need Prefect to do its work: say so, and go on.
            say(f"  prefect   {problem}: the flows run without Prefect until it answers")
        return f"{url}: run history on that server (and in the log file)"
    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
        if problem is not None:
            raise UserError(f"cannot reach the Prefect API at {client.api_url}: {problem}")
        return f"the ephemeral API at {client.api_url}"
