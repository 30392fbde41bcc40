"""The sweep (`tick`): plan what changed, then send the alerts that fell due.

Both halves walk indexed instants (`Case.replan_at`, `Task.next_alert_at`) in batches, each
batch its own transaction, so the cost follows what changed and a long sweep never holds
the database. On PostgreSQL two planning batches are in flight at once (`planners`). The
Prefect flow runs the same batches as Prefect tasks; this module is the plain loop used by
the CLI, the tests and the benchmark.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from engine.alerts import send_alerts
from engine.batches import chunks, overlapped
from engine.bulk import ALERT_SECTION, one_worker_at_a_time
from engine.calendar_notices import queue_calendar
from engine.catalog import Catalog
from engine.core.escalation import WORKING_HOURS, WorkingHours
from engine.counts import Counts
from engine.reconcile import cases_due, mark_changed_journeys, reconcile_cases
from engine.statistics import refresh_statistics
from engine.store import session_scope

BATCH_SIZE = 500


def planners(url: str) -> int:
    """How many planning batches a sweep keeps in flight at once.

    Two on PostgreSQL: one batch plans in Python while the server writes the other's rows,
    which took the initial plan of 20,000 cases from 2.3x the raw insert baseline to 1.8x
    (a third batch added nothing on two cores). Batches are disjoint sets of cases, each in
    its own transaction, locked with SKIP LOCKED, exactly as two tick processes already run
    them. One on SQLite, which lets one writer in at a time: a second batch would only wait.
    """
    return 2 if url.startswith("postgresql") else 1


def case_batches(
    url: str, catalog: Catalog, now: datetime, batch_size: int = BATCH_SIZE
) -> Iterator[list[int]]:
    """Ids of the cases due for planning as the sweep starts, a batch at a time in id
    order, after the planner's statistics are refreshed where stale and edited journeys
    marked. A case that falls due during the sweep waits for the next one."""
    with session_scope(url) as session:
        refresh_statistics(session)
        mark_changed_journeys(session, catalog)
        due = cases_due(session, now)
    yield from chunks(due, batch_size)


def reconcile_batch(url: str, catalog: Catalog, ids: list[int], now: datetime) -> Counts:
    with session_scope(url) as session:
        return reconcile_cases(session, catalog, ids, now)


def plan_due(
    url: str, catalog: Catalog, now: datetime, batch_size: int = BATCH_SIZE
) -> Iterator[Counts]:
    """Reconcile every case due, `planners(url)` batches at a time; each batch's counts."""

    def reconcile(ids: list[int]) -> Counts:
        return reconcile_batch(url, catalog, ids, now)

    yield from overlapped(reconcile, case_batches(url, catalog, now, batch_size), planners(url))


def alert_all(
    url: str, catalog: Catalog, now: datetime, hours: WorkingHours = WORKING_HOURS
) -> Counts:
    """Every alert due at `now`, in one transaction.

    One pass, not batches: the fatigue rule (one escalation message per recipient per
    sweep) combines a recipient's escalations across the whole sweep, and each message must
    commit with the task states that caused it. Even a large catch-up (45,000 escalations
    in the national-scale benchmark) is one pass of seconds.

    Workers take turns at both passes. Each pass skips task rows another transaction has
    locked; a re-plan in progress is fine to skip (its worker alerts after it commits), but
    another worker's alert or calendar pass is not: it has read its rows before this
    worker's plans committed, so the rows it holds and this worker needs would be alerted by
    nobody this sweep. Taking turns costs a wait of seconds at most.
    """
    with session_scope(url) as session:
        one_worker_at_a_time(session, ALERT_SECTION)
        counts = send_alerts(session, catalog, now, hours)
    with session_scope(url) as session:
        one_worker_at_a_time(session, ALERT_SECTION)
        queue_calendar(session, catalog, now)  # one calendar message per navigator per sweep
    return counts


def plan_and_alert(
    url: str,
    catalog: Catalog,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    hours: WorkingHours = WORKING_HOURS,
) -> Counts:
    """Reconcile every case that needs it, then queue due alerts (dispatch is separate)."""
    total = Counts()
    for counts in plan_due(url, catalog, now, batch_size):
        total += counts
    total += alert_all(url, catalog, now, hours)
    return total
