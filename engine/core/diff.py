"""The reconcile diff: what a case's plan asks of the tasks it already has.

The rules (DESIGN.md): create what is new; re-date open tasks whose anchor moved (a new due
date bumps the task's calendar SEQUENCE and restarts its alerts; a change of title alone
keeps both); reopen a cancelled task the plan wants again; cancel open tasks the plan no
longer wants; never touch done or waived tasks. Pure: the shell loads the rows, calls
`diff`, and writes what it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.core.escalation import rebased
from engine.core.journey import Journey
from engine.core.lifecycle import AlertState, TaskStatus, alert_state, cancel
from engine.core.planner import PlannedTask

Key = tuple[str, int]  # (obligation, occurrence)
NOT_PLANNED = "no longer in the plan"


@dataclass(frozen=True, slots=True)
class ExistingTask:
    """What the diff reads of a task already in the store."""

    id: int
    obligation: str
    occurrence: int
    status: TaskStatus
    stage: str
    title: str
    category: str
    due: datetime
    precision: str
    sequence: int
    alerts_handled: int = 0
    next_alert_at: datetime | None = None
    escalation_level: int = 0
    ladder_from: datetime | None = None

    @property
    def key(self) -> Key:
        return (self.obligation, self.occurrence)

    @property
    def label(self) -> str:
        return f"{self.obligation}#{self.occurrence}"


@dataclass(frozen=True, slots=True)
class Redate:
    """An open or cancelled task whose planned fields changed, with the columns to write."""

    before: ExistingTask
    planned: PlannedTask
    update: dict[str, Any]

    @property
    def reopened(self) -> bool:
        return self.before.status == "cancelled"

    @property
    def moved(self) -> bool:
        """Its due date changed (not only its title): the navigator is told."""
        return not self.reopened and self.before.due != self.planned.due


@dataclass
class Changes:
    """One case's difference between plan and store."""

    created: list[tuple[PlannedTask, dict[str, Any]]] = field(default_factory=list)
    redated: list[Redate] = field(default_factory=list)
    cancelled: list[tuple[ExistingTask, dict[str, Any]]] = field(default_factory=list)

    def labels(self) -> dict[str, list[str]]:
        """Task keys by change, for the audit: reopened tasks count as created."""
        return {
            "created": [f"{p.obligation}#{p.occurrence}" for p, _ in self.created]
            + [r.before.label for r in self.redated if r.reopened],
            "redated": [r.before.label for r in self.redated if not r.reopened],
            "cancelled": [t.label for t, _ in self.cancelled],
        }

    def __bool__(self) -> bool:
        return bool(self.created or self.redated or self.cancelled)


def diff(
    planned: Sequence[PlannedTask],
    existing: Mapping[Key, ExistingTask],
    now: datetime,
    alerts: Callable[[PlannedTask], AlertState],
) -> Changes:
    """Compare a plan with a case's tasks; `alerts(planned)` is the alert state a task due
    as planned starts with at `now` (the escalation policy's `rebased`)."""
    changes = Changes()
    wanted = {(task.obligation, task.occurrence): task for task in planned}  # each `key`
    for key, task in wanted.items():
        before = existing.get(key)
        if before is None:
            changes.created.append((task, new_task(task, alerts(task))))
        elif before.status in ("open", "cancelled") and differs(before, task):
            changes.redated.append(Redate(before, task, redate(before, task, alerts(task))))
    for key, before in existing.items():
        if before.status == "open" and key not in wanted:
            changes.cancelled.append((before, cancel(now, NOT_PLANNED)))
    return changes


def starting_alerts(journey: Journey, now: datetime) -> Callable[[PlannedTask], AlertState]:
    """The `alerts` for `diff`: the alert state a task due as planned starts with at `now`,
    its ladder rebased to `now` (`escalation.rebased`).

    Many obligations (four in ten of the shipped journeys' tasks) have neither reminders
    nor a ladder: their tasks start with nothing handled and nothing to send, without
    asking the policy.
    """

    def alerts(planned: PlannedTask) -> AlertState:
        return starting_alert_state(journey, planned.obligation, planned.due, now)

    return alerts


def starting_alert_state(
    journey: Journey, obligation: str, due: datetime, now: datetime
) -> AlertState:
    """The alert state a task of `obligation` due at `due` starts (or restarts) with at
    `now`, counted on the obligation's own clock; nothing to send for an obligation with no
    reminders and no ladder, or one no longer in the journey."""
    found = journey.alerting.get(obligation)
    if found is None:
        return alert_state(0, None)
    ob, clock = found
    return alert_state(*rebased(ob, due, clock.calendar, clock.tz, now))


def planned_fields(task: PlannedTask) -> dict[str, Any]:
    """The columns a task takes from its plan (and that a re-plan may change)."""
    return {
        "stage": task.stage,
        "title": task.title,
        "category": task.category,
        "due": task.due,
        "precision": task.precision,
    }


def differs(before: ExistingTask, task: PlannedTask) -> bool:
    """Whether a re-plan changes a task: it is cancelled, or one of its `planned_fields`
    moved (compared field by field: this runs for every task of every case re-planned)."""
    return (
        before.status == "cancelled"
        or before.due != task.due
        or before.title != task.title
        or before.stage != task.stage
        or before.category != task.category
        or before.precision != task.precision
    )


def new_task(task: PlannedTask, alerts: AlertState) -> dict[str, Any]:
    """The row of a task the plan creates: `planned_fields`, open, with its alert state.

    Written out in one literal (the keys in `planned_fields`' order) rather than merged
    from it: a sweep planning a national caseload builds one per task."""
    return {
        "obligation": task.obligation,
        "occurrence": task.occurrence,
        "stage": task.stage,
        "title": task.title,
        "category": task.category,
        "due": task.due,
        "precision": task.precision,
        "status": "open",
        "sequence": 0,
        "calendar_pending": True,  # on the navigator's calendar after the next alert pass
        **alerts,
    }


def redate(before: ExistingTask, task: PlannedTask, alerts: AlertState) -> dict[str, Any]:
    """Re-date (or reopen) a task: a new due date bumps its calendar SEQUENCE and restarts
    its alerts; a change of title alone keeps both."""
    same_due = before.due == task.due
    kept = {
        "alerts_handled": before.alerts_handled,
        "next_alert_at": before.next_alert_at,
        "escalation_level": before.escalation_level,
        "ladder_from": before.ladder_from,
    }
    return {
        **planned_fields(task),
        "status": "open",
        "reason": None,
        "closed_at": None,
        "sequence": before.sequence + (0 if same_due else 1),
        "calendar_pending": True,  # the alert pass sends an entry only if the due moved
        **(kept if same_due and before.status == "open" else alerts),
    }
