"""A tick's health: whether its run ends green, the one-line reason when not, its events.

A tick is healthy when no message failed for good in it, no step failed, every case could
be planned and no organisation has more overdue work than its threshold
(`ALONGSIDE_OVERDUE_THRESHOLD`, `ALONGSIDE_OVERDUE_THRESHOLDS`). An unhealthy tick still
does all its work; only its final state says so (a Prefect `Failed` state whose message is
`health.line()`), so the UI shows it red and automations can act on it.

Everything here is counts and organisation ids: the state message and the events'
payloads never carry a case reference, a task title or a fact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

TICK_COMPLETED = "alongside.tick.completed"
MESSAGE_FAILED = "alongside.message.failed"
OVERDUE_THRESHOLD = "alongside.overdue.threshold"
EVENTS = (TICK_COMPLETED, MESSAGE_FAILED, OVERDUE_THRESHOLD)


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


@dataclass
class Health:
    """What an operator must know about one tick, in counts and organisation ids."""

    failed_by_org: dict[str, int] = field(default_factory=dict)
    overdue_by_org: dict[str, int] = field(default_factory=dict)
    over_threshold: dict[str, tuple[int, int]] = field(default_factory=dict)  # org: (n, limit)
    failed_steps: list[str] = field(default_factory=list)
    unplanned: int = 0

    @property
    def messages_failed(self) -> int:
        return sum(self.failed_by_org.values())

    @property
    def ok(self) -> bool:
        return not (
            self.messages_failed or self.over_threshold or self.failed_steps or self.unplanned
        )

    def line(self) -> str:
        """`2 messages failed; 1 organisation over its overdue threshold (kent)`."""
        parts = []
        if self.failed_steps:
            steps = Counter(self.failed_steps)
            names = ", ".join(f"{name} x{n}" if n > 1 else name for name, n in steps.items())
            parts.append(f"{_plural(len(self.failed_steps), 'step')} failed ({names})")
        if self.messages_failed:
            parts.append(f"{_plural(self.messages_failed, 'message')} failed")
        if self.unplanned:
            parts.append(f"{_plural(self.unplanned, 'case')} could not be planned")
        if self.over_threshold:
            orgs = ", ".join(sorted(self.over_threshold))
            count = len(self.over_threshold)
            word = "organisation over its" if count == 1 else "organisations over their"
            parts.append(f"{count} {word} overdue threshold ({orgs})")
        return "; ".join(parts) if parts else "healthy"


def assess(
    failed_by_org: Mapping[str, int],
    overdue_by_org: Mapping[str, int],
    limit: Callable[[str], int | None],
    failed_steps: list[str],
    unplanned: int,
) -> Health:
    """The tick's health from its figures and each organisation's overdue threshold."""
    over = {}
    for org, overdue in overdue_by_org.items():
        threshold = limit(org)
        if threshold is not None and overdue > threshold:
            over[org] = (overdue, threshold)
    return Health(
        failed_by_org={org: n for org, n in failed_by_org.items() if n},
        overdue_by_org=dict(overdue_by_org),
        over_threshold=over,
        failed_steps=list(failed_steps),
        unplanned=unplanned,
    )


def organisation(org: str) -> dict[str, str]:
    """An organisation as a Prefect related resource."""
    return {
        "prefect.resource.id": f"alongside.organisation.{org}",
        "prefect.resource.role": "organisation",
        "prefect.resource.name": org,
    }


def events(
    health: Health, totals: Mapping[str, int], organisations: list[str], tick: str
) -> list[dict[str, Any]]:
    """The tick's events as `emit_event` keyword arguments (tested without Prefect).

    `tick` names the tick's resource (its flow run id, or a local id when Prefect is down).
    """
    resource = {"prefect.resource.id": f"alongside.tick.{tick}", "prefect.resource.name": "tick"}
    found: list[dict[str, Any]] = [
        {
            "event": TICK_COMPLETED,
            "resource": resource,
            "related": [organisation(org) for org in organisations],
            "payload": {
                "healthy": health.ok,
                "summary": health.line(),
                "totals": dict(totals),
                "overdue": dict(health.overdue_by_org),
            },
        }
    ]
    for org, count in sorted(health.failed_by_org.items()):
        found.append(
            {
                "event": MESSAGE_FAILED,
                "resource": resource,
                "related": [organisation(org)],
                "payload": {"organisation": org, "count": count},
            }
        )
    for org, (overdue, threshold) in sorted(health.over_threshold.items()):
        found.append(
            {
                "event": OVERDUE_THRESHOLD,
                "resource": resource,
                "related": [organisation(org)],
                "payload": {"organisation": org, "overdue": overdue, "threshold": threshold},
            }
        )
    return found


def emit(found: list[dict[str, Any]]) -> int:
    """Send the events to Prefect (best effort: events never fail a tick); returns how many."""
    from prefect.events import emit_event

    sent = 0
    for event in found:
        try:
            if emit_event(**event) is not None:
                sent += 1
        except Exception:  # no API, no events: the local log has the tick's line
            pass
    return sent
