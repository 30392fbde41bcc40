"""The `report` flow: last month's outcomes, published as a Prefect table artifact.

Monthly (`prefect.yaml`), it runs the outcomes report (`engine.reports.outcomes`) over the
calendar month before the run's instant, as the home's operator (every organisation), and
publishes one row per organisation and one for `all`: organisation ids and counts only, no
case or investigation reference, like the report itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from engine import reports
from engine.core.actors import operator
from engine.core.calendar import local_date
from engine.core.reporting import outcome_rows, previous_month
from engine.store import session_scope
from flows.sweep import engine_task, flow_private, instant, loaded_settings, run_name

OUTCOMES_KEY = "outcomes-last-month"
REPORT_TIMEOUT_SECONDS = 600


def last_month_outcomes(now: datetime) -> dict:
    """The outcomes report over the calendar month before `now` (in the settings' zone)."""
    with loaded_settings() as settings, session_scope(settings.url) as session:
        month = previous_month(local_date(now, settings.zone))
        return reports.outcomes(session, settings.catalog, month, operator())


def publish_outcomes(report: dict) -> None:
    create_table_artifact(
        outcome_rows(report),
        key=OUTCOMES_KEY,
        description=f"Outcomes from {report['from']} to {report['to']}, per organisation "
        "(docs/reporting.md): counts only.",
    )


outcomes_task = engine_task(last_month_outcomes, "outcomes")
publish_task = engine_task(publish_outcomes, "publish-outcomes")


@flow(
    name="report",
    flow_run_name=run_name("report"),
    persist_result=False,
    timeout_seconds=REPORT_TIMEOUT_SECONDS,
)
@flow_private
def report_flow(now: datetime | None = None) -> dict[str, Any]:
    """Last month's outcomes as the `outcomes-last-month` table artifact; returns the
    totals (counts only)."""
    report = outcomes_task(instant(now))
    publish_task(report)
    get_run_logger().info(
        "outcomes %s to %s: %s triaged", report["from"], report["to"], report["triaged"]
    )
    return {key: value for key, value in report.items() if key != "organisations"}
