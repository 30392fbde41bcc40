"""The pure planner: (journey, facts, events, completions, now) -> the tasks a case should have.

Deterministic and free of I/O, so the same inputs always give the same plan and the store
only has to apply differences. Besides the tasks, a plan says when time alone would next
change it (a stage with recurring obligations starting or ending); the sweep indexes that
instant so it never re-plans a case for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from engine.core.calendar import OutOfRange, end_of_day, get_calendar, local_date, shift
from engine.core.errors import UserError
from engine.core.journey import Anchor, Journey, Obligation, Stage
from engine.core.values import EventTime, effective_facts


class PlanError(UserError):
    """A case whose plan cannot be computed, named by journey and obligation or stage.

    The validator caps durations and the inputs cap event years, so this should never
    happen; if it does (an event stored by other means, a date at the very end of the
    calendar), the caller gets one domain error it can record against the case, never a
    ValueError or OverflowError from `datetime` that stops a whole sweep.
    """


@dataclass(frozen=True, slots=True)
class PlannedTask:
    """One task the plan wants: an obligation (or one occurrence of a recurring one)."""

    obligation: str
    stage: str
    title: str
    category: str
    occurrence: int
    due: datetime
    precision: Literal["day", "hour"]

    @property
    def key(self) -> tuple[str, int]:
        return (self.obligation, self.occurrence)


@dataclass(frozen=True, slots=True)
class Plan:
    tasks: tuple[PlannedTask, ...]
    next_change: datetime | None  # the next instant at which time alone changes this plan


def resolve(anchor: Anchor, events: Mapping[str, EventTime], journey: Journey) -> datetime | None:
    """The instant an anchor names, or None while its event is not recorded."""
    event = events.get(anchor.event)
    if event is None:
        return None
    if anchor.offset is None:
        return end_of_day(local_date(event.instant, journey.tz), journey.tz)
    return shift(
        event.instant, anchor.offset, anchor.sign, get_calendar(journey.calendar), journey.tz
    )


def stage_window(
    journey: Journey, stage: Stage, events: Mapping[str, EventTime]
) -> tuple[datetime | None, datetime | None]:
    """(start, end) instants of a stage; None where the anchor's event is not recorded."""
    start = resolve(journey.stage_start(stage), events, journey)
    end = resolve(stage.ends, events, journey) if stage.ends else None
    return start, end


def plan(
    journey: Journey,
    facts: Mapping[str, object],
    events: Mapping[str, EventTime],
    completions: Mapping[str, Sequence[datetime]],
    now: datetime,
) -> Plan:
    """Plan a case.

    `completions` maps each recurring obligation to the instants its occurrences were
    closed (done or waived), in occurrence order: occurrence n+1 falls due `every` after the
    nth was closed. One-off obligations appear as soon as their anchors are known, even
    before their stage starts, so upcoming work is visible early; recurring ones only while
    their stage is active.
    """
    known = effective_facts(journey, dict(facts))
    calendar = get_calendar(journey.calendar)
    tasks: list[PlannedTask] = []
    changes: list[datetime] = []
    for stage in journey.stages:
        try:
            start, end = stage_window(journey, stage, events)
        except OutOfRange as error:
            raise PlanError(f"journey {journey.journey}, stage {stage.id}: {error}") from None
        if start is None:
            continue
        active = start <= now and (end is None or now < end)
        for ob in stage.obligations:
            if ob.when is not None and not ob.when.evaluate(known):
                continue
            try:
                if ob.every is None:
                    due = resolve(ob.due, events, journey)
                    if due is not None:
                        tasks.append(_task(stage, ob, 1, due, ob.due.precision))
                    continue
                changes.extend(t for t in (start, end) if t is not None and t > now)
                if active:
                    closed = completions.get(ob.id, ())
                    base = closed[-1] if closed else start
                    due = shift(base, ob.every, 1, calendar, journey.tz)
                    precision = "hour" if ob.every.unit == "hour" else "day"
                    tasks.append(_task(stage, ob, len(closed) + 1, due, precision))
            except OutOfRange as error:
                raise PlanError(f"journey {journey.journey}, obligation {ob.id}: {error}") from None
    tasks.sort(key=lambda t: (t.due, t.obligation, t.occurrence))
    return Plan(tuple(tasks), min(changes, default=None))


def _task(stage: Stage, ob: Obligation, occurrence: int, due: datetime, precision) -> PlannedTask:
    return PlannedTask(ob.id, stage.id, ob.title, ob.category, occurrence, due, precision)
