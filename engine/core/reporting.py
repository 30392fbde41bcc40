"""What the programme's reports count: periods, journeys over time, the measures' sums.

Pure: the shell (`engine.reports`) reads rows, and these functions decide what they count,
so every measure's edge (an event on the period's last local day, a case moved after the
period, a withdrawal then a rejoining) is one rule here, defined in `docs/reporting.md`.
Reports carry counts only: nothing here returns a case reference.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from engine.core.calendar import local_time
from engine.core.errors import UserError

# The outcome measures, in the order every report shows them (JSON keys, CSV columns).
OUTCOMES = (
    "triaged",
    "full_support",
    "investigations_supported",
    "arrests",
    "charged",
    "convicted",
    "engagement_rate",
    "engagement_linked",
    "engagement_engaged",
)
COUNTED_EVENTS = {"arrest": "arrests", "charge": "charged", "conviction": "convicted"}
TRIAGE = "triage"  # the journey every referral starts on; any other journey is full support


@dataclass(frozen=True, slots=True)
class Period:
    """`--from` and `--to` as local dates, both included; in one time zone, the instants
    `[start, end)`: 00:00 local on the first day to 00:00 local after the last."""

    first: date
    last: date

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        end = local_time(self.last + timedelta(days=1), time(0), zone)
        return local_time(self.first, time(0), zone), end


def period(first: str, last: str) -> Period:
    """A period from `--from` and `--to` text (ISO dates); one line when either is wrong."""
    days = []
    for option, text in (("--from", first), ("--to", last)):
        try:
            days.append(date.fromisoformat(text.strip()))
        except ValueError:
            raise UserError(f"{option} '{text[:40]}' is not a date (YYYY-MM-DD)") from None
    if days[0] > days[1]:
        raise UserError(f"--from {days[0]} is after --to {days[1]}")
    return Period(days[0], days[1])


def journey_at(current: str, moves: Sequence[tuple[datetime, str, str]], at: datetime) -> str:
    """The journey a case was on at instant `at`, from its journey now and its moves
    `(instant, from, to)` in the order they happened."""
    for moved_at, previous, _ in moves:
        if moved_at >= at:
            return previous
    return current


def first_journey(current: str, moves: Sequence[tuple[datetime, str, str]]) -> str:
    """The journey a case was opened on."""
    return moves[0][1] if moves else current


def rate(part: int, whole: int) -> float | None:
    """A share from 0 to 1, rounded for reading; None where there is nothing to share."""
    return round(part / whole, 4) if whole else None


def empty_outcomes() -> dict[str, int | float | None]:
    counts: dict[str, int | float | None] = dict.fromkeys(OUTCOMES, 0)
    counts["engagement_rate"] = None
    return counts


def total(rows: Iterable[dict]) -> dict[str, int | float | None]:
    """The measures over several organisations: sums, and the rate of the sums."""
    summed = empty_outcomes()
    for row in rows:
        for key in OUTCOMES:
            if key != "engagement_rate":
                summed[key] += row[key]
    summed["engagement_rate"] = rate(summed["engagement_engaged"], summed["engagement_linked"])
    return summed


# --- duties ---------------------------------------------------------------------------------

DUTIES = ("due", "on_time", "late", "waived", "open", "overdue", "on_time_rate", "median_days_late")


def duty_state(status: str, due: datetime, closed_at: datetime | None, now: datetime) -> str:
    """What a task due in the period counts as: `on_time`, `late`, `waived`, `open` (not
    yet due) or `overdue` (open and past due at `now`)."""
    if status == "done":
        return "on_time" if closed_at is not None and closed_at <= due else "late"
    if status == "waived":
        return "waived"
    return "overdue" if due < now else "open"


def duty_measures(states: Sequence[str], days_late: Sequence[float]) -> dict:
    """The duty measures of some tasks: counts by state, the on-time rate (of the tasks
    done, or past due and still open: the ones whose deadline has been tested), and the
    median days late of those done late."""
    counts: dict = {key: 0 for key in DUTIES[:6]}
    for state in states:
        counts[state] += 1
    counts["due"] = len(states)
    tested = counts["on_time"] + counts["late"] + counts["overdue"]
    counts["on_time_rate"] = rate(counts["on_time"], tested)
    counts["median_days_late"] = round(median(days_late), 1) if days_late else None
    return counts


# --- contact --------------------------------------------------------------------------------

GAP_BUCKETS = ((0, 14), (15, 30), (31, 60), (61, 90), (91, 180), (181, None))
CONTACT = ("open_cases", "reached_14_days", "reached_30_days")
GAP = ("cases", "median_days", "longest_days")  # of `longest_silent_gap`, beside its bands


def longest_gap(
    start: datetime,
    first: datetime | None,
    last: datetime | None,
    between: float | None,
    end: datetime,
) -> float:
    """The longest time in days without a reached contact from `start` (the case's
    opening) to `end`: before the `first` contact, the longest gap `between` two contacts
    (days), and after the `last`; with no contact, the whole time."""

    def days(a: datetime, b: datetime) -> float:
        return max(0.0, (b - a).total_seconds() / 86400)

    if first is None or last is None:
        return days(start, end)
    return max(days(start, first), between or 0.0, days(last, end))


def gap_distribution(gaps: Sequence[float]) -> dict:
    """How many cases' longest silent gap falls in each band of whole days, with the
    median and the longest."""
    bands = {}
    for low, high in GAP_BUCKETS:
        label = f"{low}-{high}" if high is not None else f"{low}+"
        bands[label] = sum(1 for g in gaps if int(g) >= low and (high is None or int(g) <= high))
    return {
        "cases": len(gaps),
        "median_days": round(median(gaps), 1) if gaps else None,
        "longest_days": round(max(gaps), 1) if gaps else None,
        "bands": bands,
    }


def previous_month(day: date) -> Period:
    """The calendar month before the one `day` is in: what a monthly report covers."""
    last = day.replace(day=1) - timedelta(days=1)
    return Period(last.replace(day=1), last)


def outcome_rows(report: dict) -> list[dict]:
    """The outcomes report as table rows: one per organisation, then `all` (counts only)."""
    total = {"organisation": "all", **{key: report[key] for key in OUTCOMES}}
    return [*report["organisations"], total]


def duty_rows(report: dict) -> list[dict]:
    """The duties report as table rows: one per tag, then one per obligation."""
    return [{"kind": "tag", "name": t["tag"], **t} for t in report["tags"]] + [
        {"kind": "obligation", "name": o["obligation"], **o} for o in report["obligations"]
    ]


def outcomes_csv(report: dict) -> str:
    """The outcomes report as CSV: one row per organisation, then `all`; an empty cell
    where a rate has no base. What `report outcomes --csv` prints and the web serves."""
    return _csv(
        ["organisation", "from", "to", *OUTCOMES],
        ([row["organisation"], report["from"], report["to"], *_cells(row, OUTCOMES)]
         for row in outcome_rows(report)),
    )  # fmt: skip


def duties_csv(report: dict) -> str:
    """The duties report as CSV: one row per tag and per obligation."""
    return _csv(
        ["kind", "name", "from", "to", *DUTIES],
        ([row["kind"], row["name"], report["from"], report["to"], *_cells(row, DUTIES)]
         for row in duty_rows(report)),
    )  # fmt: skip


def contact_csv(report: dict) -> str:
    """The contact report as CSV: one row of counts and shares, the longest silent gaps'
    distribution in the `gap_` columns (one per band). What `report contact --csv` prints."""
    gap = report["longest_silent_gap"]
    return _csv(
        ["from", "to", "organisations", *CONTACT, *(f"gap_{key}" for key in GAP),
         *(f"gap_{band}" for band in gap["bands"])],
        [[report["from"], report["to"], ";".join(report["organisations"]),
          *_cells(report, CONTACT), *_cells(gap, GAP), *gap["bands"].values()]],
    )  # fmt: skip


def monthly_csv(reports: Sequence[dict]) -> str:
    """Outcomes reports of consecutive months as CSV: one row each, with the totals."""
    return _csv(
        ["from", "to", *OUTCOMES],
        ([report["from"], report["to"], *_cells(report, OUTCOMES)] for report in reports),
    )


def _cells(row: dict, keys: Sequence[str]) -> list:
    return ["" if row[key] is None else row[key] for key in keys]


def _csv(header: list[str], rows: Iterable[list]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def months(span: Period) -> list[Period]:
    """The calendar months a period touches, each cut to the period: what a chart of
    the period by month shows, one bar group per month."""
    found = []
    first = span.first
    while first <= span.last:
        following = (first.replace(day=1) + timedelta(days=32)).replace(day=1)
        found.append(Period(first, min(span.last, following - timedelta(days=1))))
        first = following
    return found
