"""The task state machine: which changes a task may go through, and what each writes.

    open ──done──▶ done        open ──waive──▶ waived       open ──(plan)──▶ cancelled
    done/waived ──reopen──▶ open                         cancelled ──(plan)──▶ open

People complete, waive and reopen; only the plan cancels and reopens a cancelled task (a
closed case cancels everything open). Done and waived tasks are history: no plan touches
them. Each function returns the columns the change sets, for the shell to write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from engine.core.errors import UserError
from engine.core.journey import OUTCOMES

TaskStatus = Literal["open", "done", "waived", "cancelled"]
TASK_STATUSES: tuple[TaskStatus, ...] = ("open", "done", "waived", "cancelled")
HISTORY: tuple[TaskStatus, ...] = ("done", "waived")  # what people closed; never re-planned

AlertState = dict[str, Any]  # alerts_handled, next_alert_at, escalation_level, ladder_from


def alert_state(
    handled: int, next_at: datetime | None, ladder_from: datetime | None = None
) -> AlertState:
    """A task's alert columns with its ladder (re)started at `handled` alerts; a late task's
    ladder counts from `ladder_from` instead of its due instant."""
    return {
        "alerts_handled": handled,
        "next_alert_at": next_at,
        "escalation_level": 0,
        "ladder_from": ladder_from,
    }


def close(
    task_id: int,
    status: TaskStatus,
    to: Literal["done", "waived"],
    at: datetime,
    *,
    note: str | None = None,
    reason: str | None = None,
    category: str | None = None,
    outcome: str | None = None,
) -> dict[str, Any]:
    """Complete or waive an open task; its alerts stop. A contact task is done with an
    outcome, `reached` unless the navigator says `not_reached`; no other task has one."""
    if status != "open":
        raise UserError(f"task {task_id} is {status}: only open tasks can be {to}")
    if to == "waived" and not (reason or "").strip():
        raise UserError("give a reason for waiving")
    if outcome is not None:
        if outcome not in OUTCOMES:
            raise UserError(f"outcome '{outcome}' is not one of: {', '.join(OUTCOMES)}")
        if category != "contact":
            raise UserError(
                f"task {task_id} is a {category} task: only contact tasks have an outcome"
            )
    elif to == "done" and category == "contact":
        outcome = "reached"
    return {
        "status": to,
        "closed_at": at,
        "next_alert_at": None,
        "note": note,
        "reason": reason,
        "outcome": outcome,
        "calendar_pending": True,  # its calendar entry is cancelled by the next alert pass
    }


def check_reopen(task_id: int, status: TaskStatus) -> None:
    """Only what people closed can be reopened; the plan owns cancelled tasks."""
    if status not in HISTORY:
        raise UserError(f"task {task_id} is {status}: only done or waived tasks can be reopened")


def reopen(task_id: int, status: TaskStatus, alerts: AlertState) -> dict[str, Any]:
    """A done or waived task back to open, its ladder restarted from `alerts`."""
    check_reopen(task_id, status)
    return {
        "status": "open",
        "closed_at": None,
        "note": None,
        "reason": None,
        "outcome": None,
        "calendar_pending": True,
        **alerts,
    }


def cancel(now: datetime, reason: str) -> dict[str, Any]:
    """The plan (or a closed case) no longer wants an open task."""
    return {
        "status": "cancelled",
        "reason": reason,
        "closed_at": now,
        "next_alert_at": None,
        "calendar_pending": True,
    }
