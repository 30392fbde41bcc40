"""The pure planner: (journey, facts, events, completions, now) -> the tasks a case should have.

Deterministic and free of I/O, so the same inputs always give the same plan and the store
only has to apply differences. Besides the tasks, a plan says when time alone would next
change it (a stage with recurring obligations starting or ending); the sweep indexes that
instant so it never re-plans a case for nothing.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, NamedTuple

from engine.core.calendar import (
    OutOfRange,
    add_days,
    boundary_shift,
    end_of_day,
    local_date,
    shift,
    start_of_day,
)
from engine.core.errors import UserError
from engine.core.journey import Anchor, Clock, Journey, Obligation, Stage
from engine.core.values import EventTime, effective_facts


class PlanError(UserError):
    """A case whose plan cannot be computed, named by journey and obligation or stage.

    The validator caps durations and the inputs cap event years, so this should never
    happen; if it does (an event stored by other means, a date at the very end of the
    calendar), the caller gets one domain error it can record against the case, never a
    ValueError or OverflowError from `datetime` that stops a whole sweep.
    """


class PlannedTask(NamedTuple):
    """One task the plan wants: an obligation (or one occurrence of a recurring one).

    A named tuple rather than a frozen dataclass: a national caseload plans hundreds of
    thousands of them per sweep, and a tuple is built several times faster than a frozen
    dataclass (which sets each field through `object.__setattr__`), while staying immutable.
    """

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
class Completion:
    """How a recurring obligation's occurrence was closed: when, and whether the survivor
    was reached (contact tasks completed `not_reached` were attempts that failed)."""

    at: datetime
    reached: bool = True


@dataclass(frozen=True, slots=True)
class Unreached:
    """A run of consecutive not_reached completions of one obligation, long enough for its
    `escalate_after_failures`: occurrences `first` to `last`. A run is reported once,
    known by its first occurrence."""

    obligation: str
    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class Plan:
    tasks: tuple[PlannedTask, ...]
    next_change: datetime | None  # the next instant at which time alone changes this plan
    unreached: tuple[Unreached, ...] = ()


# A repeating event's recordings: occurrence number -> when (the latest recording of each
# number wins, so `arrest#2=WHEN` corrects the second arrest).
Occurrences = Mapping[str, Mapping[int, EventTime]]


def collect(
    recorded: Iterable[tuple[str, int | None, EventTime]],
) -> tuple[dict[str, EventTime], dict[str, dict[int, EventTime]]]:
    """A case's recordings, oldest first, as the planner reads them: the latest recording of
    each event, and of each numbered occurrence (a recording without a number, made while
    the event did not repeat, counts as occurrence 1)."""
    events: dict[str, EventTime] = {}
    occurrences: dict[str, dict[int, EventTime]] = {}
    for name, number, when in recorded:
        events[name] = when
        occurrences.setdefault(name, {})[number or 1] = when
    return events, occurrences


class Episode(NamedTuple):
    """One stretch of a stage: `[start, end)`. A stage starting on a repeating event has one
    per occurrence; any other stage has at most one. (A named tuple, like `PlannedTask`:
    every case planned builds several.)"""

    start: datetime
    end: datetime | None

    def active(self, now: datetime) -> bool:
        return self.start <= now and (self.end is None or now < self.end)


def _seen(event: EventTime, clock: Clock) -> EventTime:
    """A recording as a clock in another zone sees it: a date-only event names its day in
    the journey's zone, so it is that same day, from 00:00, on the clock's."""
    if not event.date_only or clock.tz is clock.recorded_in:
        return event
    return EventTime(start_of_day(local_date(event.instant, clock.recorded_in), clock.tz), True)


def _at(anchor: Anchor, event: EventTime, clock: Clock) -> datetime:
    """The deadline a plain anchor (one event, no pick) names, from one recording of it."""
    event = _seen(event, clock)
    if anchor.offset is None:
        return end_of_day(local_date(event.instant, clock.tz), clock.tz)
    return shift(event.instant, anchor.offset, anchor.sign, clock.calendar, clock.tz)


def _deadline(
    anchor: Anchor, events: Mapping[str, EventTime], clock: Clock
) -> tuple[datetime, Literal["day", "hour"]] | None:
    """(instant, precision) of a `first of` / `last of` anchor as a deadline, from the
    latest recordings; None while it cannot be worked out. Its precision is that of the
    item it lands on."""
    point = _picked(anchor, events, clock, lambda p: _due(p, clock))
    return None if point is None else (_due(point, clock), "hour" if point.exact else "day")


class _Point(NamedTuple):
    """Where an anchor lands, before it becomes a deadline: an exact instant, or a whole
    local day (then `instant` is the day's 00:00 local), for choosing between the items of
    a `first of` / `last of` and for counting on from the one chosen. (A named tuple: each
    item of each `first of` of each case planned is one.)"""

    instant: datetime
    day: date | None  # the local day, when the point is a whole day
    exact: bool  # an hour offset: as a deadline, this very instant


def _shifted(point: _Point, anchor: Anchor, clock: Clock) -> _Point:
    """`point` moved by the anchor's offset: hours exactly, day-based units on local days."""
    if anchor.offset is None:
        return point
    if anchor.offset.unit == "hour":
        moved = shift(point.instant, anchor.offset, anchor.sign, clock.calendar, clock.tz)
        return _Point(moved, None, True)
    day = point.day or local_date(point.instant, clock.tz)
    day = add_days(day, anchor.offset, anchor.sign, clock.calendar)
    return _Point(start_of_day(day, clock.tz), day, False)


def _recorded(event: EventTime, clock: Clock) -> _Point:
    """An event as a point: a date-only recording is its whole day."""
    event = _seen(event, clock)
    day = local_date(event.instant, clock.tz) if event.date_only else None
    return _Point(event.instant, day, False)


def _due(point: _Point, clock: Clock) -> datetime:
    """A point as a deadline: an exact instant stays; a day (or a date-time event, whose
    deadline is its day's) is the end of that local day."""
    if point.exact:
        return point.instant
    return end_of_day(point.day or local_date(point.instant, clock.tz), clock.tz)


def _picked(
    anchor: Anchor,
    events: Mapping[str, EventTime],
    clock: Clock,
    order: Callable[[_Point], datetime],
) -> _Point | None:
    """The point of a `[N UNIT after/before] first of / last of (...)` anchor, or None.

    `first of` takes the earliest item that can be worked out (known once any can);
    `last of` the latest, known only once all can. Unshifted, the items are compared as
    what the anchor is used for (`order`: as deadlines, or as stage boundaries), so the
    pick is the earliest or latest of exactly those instants; shifted, as the instants the
    offset counts from.
    """
    pick = anchor.pick
    points = [
        _shifted(_recorded(events[item.event], clock), item, clock)
        for item in pick.items
        if item.event in events
    ]
    if not points or (pick.which == "last" and len(points) < len(pick.items)):
        return None
    key = order if anchor.offset is None else (lambda p: p.instant)
    chosen = (min if pick.which == "first" else max)(points, key=key)
    return _shifted(chosen, anchor, clock)


def recordings(
    name: str,
    journey: Journey,
    events: Mapping[str, EventTime],
    occurrences: Occurrences,
) -> list[tuple[int, EventTime]]:
    """(occurrence, when) of each occurrence of an event, in the order they happened.

    A one-off event has at most one: its latest recording, as occurrence 1. A repeating
    event recorded only as a plain value (a simulation, or recordings made while the event
    did not yet repeat) has that as its occurrence 1.
    """
    if name in journey.repeating and name in occurrences:
        found = occurrences[name].items()
        return sorted(found, key=lambda item: (item[1].instant, item[0]))
    event = events.get(name)
    return [] if event is None else [(1, event)]


def stage_episodes(
    journey: Journey,
    stage: Stage,
    events: Mapping[str, EventTime],
    occurrences: Occurrences | None = None,
) -> list[Episode]:
    """The stretches of time a stage covers, in order.

    A stage whose `starts` names a repeating event opens an episode at each occurrence; the
    episode ends at the first recording of the `ends` event at or after the one that opened
    it, and at the latest when the next occurrence opens the next episode. Any other stage
    has one episode once its `starts` is known, ending at its `ends` (None while unknown).
    """
    rules = next(rules for rules in _rules(journey) if rules.stage.id == stage.id)
    return _episodes(journey, rules, events, occurrences or {})


def _episodes(
    journey: Journey,
    rules: _StageRules,
    events: Mapping[str, EventTime],
    occurrences: Occurrences,
) -> list[Episode]:
    """`stage_episodes`, given the stage's rules."""
    anchor, clock = rules.start, rules.clock
    if anchor.pick is not None:
        start = _boundary(anchor, events, clock)
        if start is None:
            return []
        return [Episode(start, _episode_end(journey, rules, start, events, occurrences))]
    opened = recordings(anchor.event, journey, events, occurrences)
    episodes = []
    for i, (_, begun) in enumerate(opened):
        end = _episode_end(journey, rules, begun.instant, events, occurrences)
        if i + 1 < len(opened):
            following = _bound(anchor, opened[i + 1][1], clock)
            end = following if end is None else min(end, following)
        episodes.append(Episode(_bound(anchor, begun, clock), end))
    return episodes


def _episode_end(
    journey: Journey,
    rules: _StageRules,
    since: datetime,
    events: Mapping[str, EventTime],
    occurrences: Occurrences,
) -> datetime | None:
    """Where a stage's episode opened at `since` ends: its `ends`, or None while unknown.

    A repeating event in `ends`, alone or as an item of `first of`/`last of`, counts its
    first recording at or after `since`: `ends: first of (charge, no_charge)` closes each
    episode at the first charge after it opened, or at the decision not to charge. In a
    stage that opens an episode per occurrence, so does a one-off event: recorded before
    the episode opened, it ends an earlier episode, never this one (rule 3)."""
    ends = rules.stage.ends
    if ends is None:
        return None
    if not rules.ends_since:
        return _boundary(ends, events, rules.clock)
    seen = None  # `events` with each event counted from `since`, copied only if it differs
    for name in rules.ends_since:
        later = (e for _, e in recordings(name, journey, events, occurrences) if e.instant >= since)
        first = next(later, None)
        if first is events.get(name):
            continue
        if seen is None:
            seen = dict(events)
        if first is None:
            seen.pop(name, None)
        else:
            seen[name] = first
    return _boundary(ends, events if seen is None else seen, rules.clock)


def _boundary(anchor: Anchor, events: Mapping[str, EventTime], clock: Clock) -> datetime | None:
    """The instant a stage `starts` or `ends` anchor names from the latest recordings, or
    None while it cannot be worked out."""
    if anchor.pick is None:
        event = events.get(anchor.event)
        return None if event is None else _bound(anchor, event, clock)
    point = _picked(anchor, events, clock, lambda p: p.instant)
    return None if point is None else point.instant


def _bound(anchor: Anchor, event: EventTime, clock: Clock) -> datetime:
    """A plain stage boundary from one recording of its event (language 1.1, rule 1): a
    day-based anchor is the start (00:00 local) of its local day, and so is a date-only
    event alone, which is recorded at that instant; an event recorded with a time, alone,
    is that instant; hours are exact. A stage is active on [starts, ends)."""
    event = _seen(event, clock)
    if anchor.offset is None:
        return event.instant
    return boundary_shift(event.instant, anchor.offset, anchor.sign, clock.calendar, clock.tz)


def stage_window(
    journey: Journey, stage: Stage, events: Mapping[str, EventTime]
) -> tuple[datetime | None, datetime | None]:
    """(start, end) instants of a stage's latest episode; None where not yet known."""
    episodes = stage_episodes(journey, stage, events)
    return (episodes[-1].start, episodes[-1].end) if episodes else (None, None)


@dataclass(frozen=True, slots=True, eq=False)
class _ObligationRules:
    """What planning reads of one obligation that no case changes (language 1.1 clocks,
    the due anchor's precision), worked out once per journey version."""

    ob: Obligation
    clock: Clock
    precision: Literal["day", "hour"]  # of a one-off obligation's deadline


@dataclass(frozen=True, slots=True, eq=False)
class _StageRules:
    """What planning reads of one stage that no case changes: its `starts` anchor (the
    journey's start event when it has none), the events that anchor names, its clock, and
    whether it opens an episode per occurrence of a repeating event."""

    stage: Stage
    start: Anchor
    start_events: tuple[str, ...]
    clock: Clock
    episodic: bool
    obligations: tuple[_ObligationRules, ...]
    # the events its `ends` names that count from an episode's opening: the repeating
    # ones, and in an episodic stage all of them (`_episode_end`)
    ends_since: tuple[str, ...]


def _rules_of(journey: Journey) -> tuple[_StageRules, ...]:
    stages = []
    for stage in journey.stages:
        start = journey.stage_start(stage)
        obligations = tuple(
            _ObligationRules(ob, journey.clock(ob.id), ob.due.precision if ob.due else "day")
            for ob in stage.obligations
        )
        episodic = start.event in journey.repeating
        clock = journey.clock(stage.id)
        ends = stage.ends.events if stage.ends else ()
        since = ends if episodic else tuple(name for name in ends if name in journey.repeating)
        stages.append(_StageRules(stage, start, start.events, clock, episodic, obligations, since))
    return tuple(stages)


# Per journey version, by identity: a journey (a pydantic model holding dicts) has no cheap
# hash, and the catalog keeps one model per version of a file for the life of the process.
# The entry goes when its journey is collected (before its id can be reused).
_RULES: dict[int, tuple[_StageRules, ...]] = {}


def _rules(journey: Journey) -> tuple[_StageRules, ...]:
    """The journey's stages and obligations as `plan` reads them, built on first use."""
    found = _RULES.get(id(journey))
    if found is None:
        found = _RULES[id(journey)] = _rules_of(journey)
        weakref.finalize(journey, _RULES.pop, id(journey), None)
    return found


def plan(
    journey: Journey,
    facts: Mapping[str, object],
    events: Mapping[str, EventTime],
    completions: Mapping[str, Sequence[datetime | Completion]],
    now: datetime,
    occurrences: Occurrences | None = None,
) -> Plan:
    """Plan a case.

    `events` holds the latest recording of each event; `occurrences` every occurrence of
    the repeating ones. `completions` maps each recurring obligation to how its occurrences
    were closed (done or waived; an instant alone means reached), in occurrence order:
    occurrence n+1 falls due `every` after the nth was closed, or `retry` after it if the
    survivor was not reached. One-off obligations appear as soon as their anchors
    are known, even before their stage starts, so upcoming work is visible early (one task
    per occurrence of a repeating event, numbered as the event is); recurring ones only
    while their stage is active.
    """
    occurrences = occurrences or {}
    known = effective_facts(journey, dict(facts))
    tasks: list[PlannedTask] = []
    changes: list[datetime] = []
    unreached: list[Unreached] = []
    for rules in _rules(journey):
        stage = rules.stage
        # A stage none of whose start events is recorded has no episode: most stages of
        # most cases, so they are passed over without working out their boundaries.
        starts = rules.start_events
        if events.keys().isdisjoint(starts) and occurrences.keys().isdisjoint(starts):
            continue
        try:
            episodes = _episodes(journey, rules, events, occurrences)
        except OutOfRange as error:
            raise PlanError(f"journey {journey.journey}, stage {stage.id}: {error}") from None
        if not episodes:
            continue
        current = next((e for e in episodes if e.active(now)), None)
        for rule in rules.obligations:
            ob = rule.ob
            if ob.when is not None and not ob.when.evaluate(known):
                continue
            try:
                clock = rule.clock
                if ob.every is None and ob.due.pick is not None:
                    found = _deadline(ob.due, events, clock)
                    if found is not None:
                        tasks.append(_task(stage, ob, 1, *found))
                    continue
                if ob.every is None:
                    name = ob.due.event
                    if name not in events and name not in occurrences:
                        continue  # never recorded: no task (most obligations of most cases)
                    for number, event in recordings(name, journey, events, occurrences):
                        due = _at(ob.due, event, clock)
                        tasks.append(_task(stage, ob, number, due, rule.precision))
                    continue
                changes.extend(
                    t for e in episodes for t in (e.start, e.end) if t is not None and t > now
                )
                if current is not None:
                    closed = [_completion(c) for c in completions.get(ob.id, ())]
                    # a new episode starts afresh: nothing carries over from an earlier one
                    since = current.start if rules.episodic else None
                    mine = [c for c in closed if since is None or c.at >= since]
                    last = mine[-1] if mine else None
                    step = ob.retry if last and not last.reached and ob.retry else ob.every
                    base = last.at if last else current.start
                    due = shift(base, step, 1, clock.calendar, clock.tz)
                    precision = "hour" if step.unit == "hour" else "day"
                    tasks.append(_task(stage, ob, len(closed) + 1, due, precision))
                    run = _failures(ob, mine, len(closed))
                    if run is not None:
                        unreached.append(run)
            except OutOfRange as error:
                raise PlanError(f"journey {journey.journey}, obligation {ob.id}: {error}") from None
    tasks.sort(key=_ORDER)
    return Plan(tuple(tasks), min(changes, default=None), tuple(unreached))


# A plan's tasks in due order, then by obligation and occurrence (fields 5, 0 and 4 of a
# PlannedTask): a C-level key, sorting a plan being per case.
_ORDER = operator.itemgetter(5, 0, 4)


def _completion(closed: datetime | Completion) -> Completion:
    return closed if isinstance(closed, Completion) else Completion(closed)


def _failures(ob: Obligation, closed: Sequence[Completion], total: int) -> Unreached | None:
    """The run of not_reached completions ending the obligation's closed occurrences (`closed`
    are the last of `total`), if it is long enough to escalate."""
    if ob.escalate_after_failures is None:
        return None
    run = 0
    for completion in reversed(closed):
        if completion.reached:
            break
        run += 1
    if run < ob.escalate_after_failures.count:
        return None
    return Unreached(ob.id, total - run + 1, total)


def _task(stage: Stage, ob: Obligation, occurrence: int, due: datetime, precision) -> PlannedTask:
    return PlannedTask(ob.id, stage.id, ob.title, ob.category, occurrence, due, precision)
