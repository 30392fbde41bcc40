"""Investigations and engagement: pure rules, no database.

One police operation often has several survivors. An investigation (a pseudonymous
reference such as `OP-0001`, in one organisation) links their cases, and what happens in it
(an arrest, a charge, a hearing date) is recorded once and copied to every linked case whose
journey declares the event, so each survivor's Victims' Code duty ("told of charge within 1
working day") is planned at once, in that survivor's own journey's calendar.

Counts are numbers of people (suspects arrested, charged, convicted), never names. A
survivor's engagement is read from two case events: a linked survivor is engaged at an
instant unless the latest of `withdrew_from_investigation` / `rejoined_investigation`
before it is a withdrawal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from engine.core.actors import Actor
from engine.core.calendar import local_date, local_time
from engine.core.errors import UserError
from engine.core.values import EventTime

# The investigation events, in the order an investigation meets them; those that count
# people (suspects) carry a count, the others none.
EVENTS = (
    "strategic_advice",
    "arrest",
    "charge",
    "conviction",
    "hearing_listed",
    "trial",
    "verdict",
    "sentence",
)
COUNTED = frozenset({"arrest", "charge", "conviction"})
MAX_COUNT = 1000  # suspects in one recorded event: more is a typing mistake

WITHDREW = "withdrew_from_investigation"
REJOINED = "rejoined_investigation"
ENGAGEMENT_EVENTS = (WITHDREW, REJOINED)


def check_event(name: str, count: int | None) -> None:
    """Refuse an event that is not an investigation event, or a count that does not fit it:
    `arrest`, `charge` and `conviction` need the number of suspects, the others take none."""
    if name not in EVENTS:
        raise UserError(f"unknown investigation event '{name[:40]}' (known: {', '.join(EVENTS)})")
    if name in COUNTED:
        if count is None:
            raise UserError(f"{name} counts suspects: give --count N (how many people)")
        if not 1 <= count <= MAX_COUNT:
            raise UserError(f"--count {count} is not a number of people (1 to {MAX_COUNT})")
    elif count is not None:
        raise UserError(f"{name} counts nobody: give no --count")


def can_see_investigation(actor: Actor, organisation_id: str) -> bool:
    """Whether `actor` may see (and so record on) an investigation of `organisation_id`.

    The staff of its organisation (navigators, leads) and programme leads answering for it
    may; a programme admin may see every one. Out of scope reads as no such investigation.
    """
    return actor.is_admin or organisation_id in actor.organisations


def on_case(value: EventTime, source: ZoneInfo, target: ZoneInfo) -> EventTime:
    """An investigation event as a case on a journey in time zone `target` records it.

    A date-only event is the same local date everywhere (00:00 in the case's own zone), so
    "1 working day after charge" counts from that date in each survivor's calendar; a
    date-time is the same instant.
    """
    if not value.date_only:
        return value
    day: date = local_date(value.instant, source)
    return EventTime(local_time(day, time(0), target), True)


def engaged(history: Iterable[tuple[datetime, int, str]], at: datetime) -> bool:
    """Whether a linked survivor is engaged at `at`, from their engagement events
    `(instant, recorded order, name)`: unless the latest of them before `at` (the later
    recording breaking a tie) is a withdrawal."""
    before = [(instant, order, name) for instant, order, name in history if instant < at]
    return not before or max(before)[2] != WITHDREW
