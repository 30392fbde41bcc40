"""The Prefect flows: `tick` (the sweep) and `digest` (the morning digests).

Prefect sees batches, never cases: a `tick` reconciles the cases due for planning in
batches of `batch_size`, one Prefect task per batch (a task run costs milliseconds on the
client and more in the server's ingest), then queues due alerts in one task, dispatches the
outbox in one task that Prefect retries, and publishes what it did as two keyed artifacts.

The order of steps lives in `run_tick`, a plain function over a `TickSteps` of plain
callables: the flow passes Prefect tasks, the unit tests pass the functions themselves, so
the batching is tested without any Prefect API.

No survivor data reaches Prefect: parameters are an instant and a batch size, run names
are times, task inputs are case ids, artifacts and logs carry counts, organisation ids,
staff addresses and case references. A step's unexpected error reaches Prefect as its
type only (a database error's text would carry the statement's parameters); the whole
error goes to the local log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from prefect import flow, get_run_logger, tags, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from engine import sweep
from engine.batches import overlapped
from engine.clock import utcnow
from engine.core.errors import UserError
from engine.counts import Counts
from engine.failures import EXIT_INTERNAL, explain
from engine.settings import Settings
from engine.store import session_scope
from flows import health, report
from notifications.digest import queue_digests
from notifications.dispatch import DispatchResult, dispatch

log = logging.getLogger("alongside.flows")

BATCH_SIZE = sweep.BATCH_SIZE
DISPATCH_RETRIES = 3
DISPATCH_RETRY_DELAYS = [5, 30, 120]  # seconds; dispatch itself backs off per message
TABLE_KEY = "tick-organisations"
SUMMARY_KEY = "tick-summary"
TREND_KEY = "tick-trend"
TICK_TIMEOUT_SECONDS = 600  # a tick every 900 s: a hung one fails before the next is due
DIGEST_TIMEOUT_SECONDS = 1800
TAGS = ("alongside",)

P = ParamSpec("P")
R = TypeVar("R")


# --- time and names -----------------------------------------------------------------------


def instant(value: datetime | str | None) -> datetime:
    """A flow's `now` parameter as an aware UTC instant; the clock when it is absent.

    Deployments pass JSON, so `now` may arrive as ISO text; a time without an offset is UTC.
    """
    if value is None:
        return utcnow()
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stamp(moment: datetime) -> str:
    """`2027-03-01T09:15Z`: the instant a run works at, in its summary's heading."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M}Z"


def name_for(kind: str, moment: datetime, run_id: str | None) -> str:
    """`tick-2027-03-01T09:15:00Z-3f2a9c`: the instant to the second and a short run id.

    Two runs at the same instant (a retry, two workers, a manual run) still differ.
    """
    suffix = f"-{str(run_id).replace('-', '')[:6]}" if run_id else ""
    return f"{kind}-{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z{suffix}"


def run_name(kind: str) -> Callable[[], str]:
    """A flow-run namer: the kind, the instant the run works at (its `now`, else when it was
    scheduled) and a short run id."""

    def name() -> str:
        from prefect.runtime import flow_run

        given = flow_run.parameters.get("now")
        moment = instant(given if given is not None else flow_run.scheduled_start_time)
        return name_for(kind, moment, flow_run.id)

    return name


# --- results --------------------------------------------------------------------------------


@dataclass
class StepResult:
    """What one step did, in total and per organisation."""

    counts: Counts = field(default_factory=Counts)
    by_org: report.ByOrg = field(default_factory=dict)


@dataclass
class Dispatched:
    """What a dispatch sent, in counts, and how each message it tried ended."""

    outcome: DispatchResult
    delivery: report.Delivery


@dataclass
class TickResult:
    """Everything a tick did: the flow's return value and its artifacts' source."""

    now: datetime
    batches: int = 0
    counts: Counts = field(default_factory=Counts)
    by_org: report.ByOrg = field(default_factory=dict)
    dispatched: Dispatched | None = None
    overdue: report.ByOrg = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)

    def failed_by_org(self) -> dict[str, int]:
        delivery = self.dispatched.delivery if self.dispatched else report.Delivery()
        return {org: c["messages_failed"] for org, c in delivery.by_org.items()}

    def overdue_by_org(self) -> dict[str, int]:
        return {org: c["overdue_now"] for org, c in self.overdue.items()}

    def totals(self) -> dict[str, int]:
        sent = self.dispatched.outcome if self.dispatched else DispatchResult()
        return {
            "batches": self.batches,
            "cases": self.counts.cases,
            "created": self.counts.created,
            "redated": self.counts.redated,
            "cancelled": self.counts.cancelled,
            "reminders": self.counts.reminders,
            "escalations": self.counts.escalations,
            "sent": sent.sent,
            "retrying": sent.retrying,
            "failed": sent.failed,
            "errors": len(self.counts.errors),
            "failed_steps": len(self.failed_steps),
        }

    def line(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in self.totals().items())


# --- the steps as plain functions -------------------------------------------------------------


_settings: ContextVar[Settings | None] = ContextVar("alongside_settings", default=None)


@contextmanager
def using(settings: Settings) -> Iterator[Settings]:
    """Run the flows and steps inside with these settings (the demo's, a test's)."""
    token = _settings.set(settings)
    try:
        yield settings
    finally:
        _settings.reset(token)


def settings() -> Settings:
    """The running flow's settings: those a caller gave (`using`), else the environment's.

    A flow run is an entry point: it reads the environment once, as it starts
    (`loaded_settings`), and its steps share what it read.
    """
    return _settings.get() or Settings()


@contextmanager
def loaded_settings() -> Iterator[Settings]:
    with using(settings()) as loaded:
        yield loaded


def _url() -> str:
    return settings().url


def reconcile_batch(number: int, ids: list[int], now: datetime) -> StepResult:
    """Reconcile one batch of cases (one transaction) and count its changes per organisation."""
    url = _url()
    counts = sweep.reconcile_batch(url, settings().catalog, ids, now)
    with session_scope(url) as session:
        by_org = report.reconciled(session, ids, now)
    return StepResult(counts, by_org)


def send_alerts(now: datetime) -> StepResult:
    """Queue the reminders and escalations due at `now`; count escalations per organisation."""
    url = _url()
    counts = sweep.alert_all(url, settings().catalog, now, settings().hours)
    with session_scope(url) as session:
        by_org = report.escalated(session, now)
    return StepResult(counts, by_org)


def dispatch_due(now: datetime) -> Dispatched:
    """Deliver the messages due at `now` and read back how each ended."""
    url = _url()
    with session_scope(url) as session:
        due = report.due_messages(session, now)
    result = dispatch(url, now, settings())
    with session_scope(url) as session:
        delivery = report.delivered(session, due)
    return Dispatched(result, delivery)


def queue_daily_digests(now: datetime) -> int:
    """Queue today's digests; returns how many were new."""
    return queue_digests(_url(), settings().catalog, now)


def overdue_now(now: datetime) -> report.ByOrg:
    """Open tasks past due at `now`, per organisation."""
    with session_scope(_url()) as session:
        return report.overdue(session, now)


def build_report(result: TickResult) -> tuple[list[dict], str]:
    """The per-organisation table and the markdown summary of one tick."""
    delivery = result.dispatched.delivery if result.dispatched else report.Delivery()
    with session_scope(_url()) as session:
        orgs = report.organisations(session)
        oldest = report.oldest_overdue(session, result.now)
        failed_total = report.failed_total(session)
    merged = report.merge(result.by_org, delivery.by_org, result.overdue)
    table = report.organisation_table(orgs, merged)
    markdown = report.summary_markdown(
        result.now,
        result.totals(),
        table,
        delivery,
        failed_total,
        oldest,
        result.counts.errors,
    )
    return table, markdown


def publish_report(result: TickResult) -> None:
    """Publish the tick's keyed artifacts: the organisation table and the summary."""
    table, markdown = build_report(result)
    when = f"{result.now:%Y-%m-%d %H:%M} UTC"
    create_table_artifact(
        table,
        key=TABLE_KEY,
        description=f"Per organisation, what the tick at {when} did, and what is overdue now.",
    )
    create_markdown_artifact(
        markdown,
        key=SUMMARY_KEY,
        description=f"The tick at {when}: failed messages, oldest overdue.",
    )
    create_table_artifact(
        report.trend_table(table, _previous_trend()),
        key=TREND_KEY,
        description=f"Per organisation, overdue work over the last {report.TREND_TICKS} ticks "
        f"(latest at {when}) and messages failed.",
    )


def _previous_trend() -> list[dict]:
    """The last tick's trend rows, read back from Prefect (none on a first tick)."""
    import json

    from prefect.artifacts import Artifact

    try:
        found = Artifact.get(TREND_KEY)
    except Exception:  # no API or no artifact yet: the trend starts again
        return []
    data = getattr(found, "data", None)
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return []
    return data if isinstance(data, list) else []


@dataclass(frozen=True)
class TickSteps:
    """The tick's steps; `run_tick` calls them in order and does the batching."""

    reconcile: Callable[[int, list[int], datetime], StepResult]
    alerts: Callable[[datetime], StepResult]
    dispatch: Callable[[datetime], Dispatched]
    report: Callable[[TickResult], None]


PLAIN_STEPS = TickSteps(reconcile_batch, send_alerts, dispatch_due, lambda result: None)


def _attempt(result: TickResult, name: str, step: Callable[..., R], *args: Any) -> R | None:
    """Run one step; a step that fails is counted and the tick goes on with the next.

    The work of the other steps is kept (each commits on its own), and the tick's final
    state says a step failed. User errors and timeouts still stop the tick.
    """
    try:
        return step(*args)
    except (UserError, TimeoutError):
        raise
    except StepFailed:  # a Prefect task's error: already in the local log
        result.failed_steps.append(name)
    except Exception:
        log.exception("%s failed", name)
        result.failed_steps.append(name)
    return None


def run_tick(now: datetime, batch_size: int, steps: TickSteps) -> TickResult:
    """Reconcile in batches, then alerts, then dispatch, then the report.

    A failing step does not stop the others (`_attempt`): a failed batch leaves its cases
    due for the next tick, and dispatch still sends what earlier steps queued. Batches run
    `sweep.planners` at a time (two on PostgreSQL), their results added up in order.
    """
    if batch_size < 1:
        raise UserError("batch size must be at least 1")
    result = TickResult(now)
    url = _url()

    def reconcile(numbered: tuple[int, list[int]]) -> StepResult | None:
        return _attempt(result, "reconcile", steps.reconcile, *numbered, now)

    due = enumerate(sweep.case_batches(url, settings().catalog, now, batch_size), start=1)
    for number, batch in enumerate(overlapped(reconcile, due, sweep.planners(url)), start=1):
        result.batches = number
        if batch is not None:
            result.counts += batch.counts
            result.by_org = report.merge(result.by_org, batch.by_org)
    alerts = _attempt(result, "alerts", steps.alerts, now)
    if alerts is not None:
        result.counts += alerts.counts
        result.by_org = report.merge(result.by_org, alerts.by_org)
    result.dispatched = _attempt(result, "dispatch", steps.dispatch, now)
    result.overdue = overdue_now(now)
    for error in result.counts.errors:  # case references: the local log only
        log.warning("could not plan %s", error)
    _attempt(result, "report", steps.report, result)
    return result


def assess(result: TickResult) -> health.Health:
    """The tick's health, against the settings' overdue thresholds."""
    return health.assess(
        result.failed_by_org(),
        result.overdue_by_org(),
        settings().overdue_limit,
        result.failed_steps,
        len(result.counts.errors),
    )


# --- Prefect ----------------------------------------------------------------------------------


class StepFailed(RuntimeError):
    """A step's unexpected error, told to Prefect without its text."""


def private(fn: Callable[P, R]) -> Callable[P, R]:
    """Let only an error's type reach Prefect; the whole error goes to the local log.

    A database error's text includes the statement's parameters, which could include a
    case's facts, and a settings error's the rejected value. `UserError`s are written for
    people and name case references at most. Database and settings errors are told by
    their safe line (`engine.core.errors.explain`: "cannot reach the database at HOST:PORT"),
    anything else by its type. The flows' own bodies are wrapped too, so an error outside
    any step (listing the cases due, reading the settings) is told the same way.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (UserError, StepFailed):
            raise
        except Exception as error:
            log.exception("%s failed", fn.__name__)
            line, status = explain(error)
            what = type(error).__name__ if status == EXIT_INTERNAL else line.removeprefix("error: ")
            raise StepFailed(f"{fn.__name__} failed with {what} (see the local log)") from None

    return wrapper


def engine_task(fn: Callable[P, R], name: str, **options: Any) -> Any:
    """An engine step as a Prefect task (this flow's and the `report` flow's).

    No caching and no stored results: every step has side effects, and results stay in
    this process; errors reach Prefect as their type only (`private`).
    """
    return task(private(fn), name=name, cache_policy=NO_CACHE, persist_result=False, **options)


reconcile_task = engine_task(reconcile_batch, "reconcile", task_run_name="reconcile-batch-{number}")
alerts_task = engine_task(send_alerts, "alerts")
dispatch_task = engine_task(
    dispatch_due, "dispatch", retries=DISPATCH_RETRIES, retry_delay_seconds=DISPATCH_RETRY_DELAYS
)
report_task = engine_task(publish_report, "report")
queue_digests_task = engine_task(queue_daily_digests, "queue-digests")

PREFECT_STEPS = TickSteps(reconcile_task, alerts_task, dispatch_task, report_task)


def flow_private(fn: Callable[P, R]) -> Callable[P, R]:
    """`private` for a flow's own body: an error outside a task reaches Prefect as its type.

    Timeouts pass unchanged, so Prefect still marks a run that ran too long `TimedOut`.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (UserError, TimeoutError):
            raise
        except Exception as error:
            log.exception("the %s flow failed", fn.__name__)
            raise StepFailed(
                f"{fn.__name__.removesuffix('_flow')} failed with {type(error).__name__} "
                "(see the local log)"
            ) from None

    return wrapper


def tick_events(result: TickResult, verdict: health.Health, tick: str) -> list[dict]:
    orgs = sorted(set(result.overdue) | set(result.by_org) | set(verdict.failed_by_org))
    with session_scope(_url()) as session:
        orgs = sorted(set(orgs) | set(report.organisations(session)))
    return health.events(verdict, result.totals(), orgs, tick)


@flow(
    name="tick",
    flow_run_name=run_name("tick"),
    persist_result=False,
    timeout_seconds=TICK_TIMEOUT_SECONDS,
)
@flow_private
def tick_flow(now: datetime | None = None, batch_size: int = BATCH_SIZE) -> Any:
    """The sweep: plan what changed, queue due reminders and escalations, dispatch, report.

    `now` is the instant to sweep at (default: the clock); `batch_size` is how many cases
    one Prefect task reconciles in one transaction. The run ends `Completed` when the tick
    is healthy, else `Failed` with a one-line reason (counts and organisation ids), after
    doing all its work.
    """
    from prefect.runtime import flow_run
    from prefect.states import Completed, Failed

    with loaded_settings():
        result = run_tick(instant(now), batch_size, PREFECT_STEPS)
        verdict = assess(result)
        health.emit(tick_events(result, verdict, str(flow_run.id)))
    logger = get_run_logger()
    logger.info(result.line())
    totals = result.totals()
    if verdict.ok:
        return Completed(message="healthy", data=totals)
    logger.warning("not healthy: %s", verdict.line())
    return Failed(message=verdict.line(), data=totals)


@flow(
    name="digest",
    flow_run_name=run_name("digest"),
    persist_result=False,
    timeout_seconds=DIGEST_TIMEOUT_SECONDS,
)
@flow_private
def digest_flow(now: datetime | None = None) -> dict[str, int]:
    """The daily digests: queue one per person with something to say, then dispatch."""
    moment = instant(now)
    with loaded_settings():
        queued = queue_digests_task(moment)
        sent = dispatch_task(moment).outcome
    totals = {"digests": queued, **sent.as_dict()}
    get_run_logger().info(", ".join(f"{k} {v}" for k, v in totals.items()))
    return totals


def digest_steps(now: datetime) -> dict[str, int]:
    """The digest flow's steps without Prefect (the demo's weekday mornings)."""
    queued = queue_daily_digests(now)
    return {"digests": queued, **dispatch_due(now).outcome.as_dict()}


FLOWS = {"tick": tick_flow, "digest": digest_flow}


def call(flow_fn: Any, parameters: dict[str, Any], *labels: str) -> Any:
    """Run a flow in this process with the project's tags; returns its final state."""
    with tags(*TAGS, *labels):
        return flow_fn(**parameters, return_state=True)
