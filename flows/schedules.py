"""The schedules in `prefect.yaml`, read for the embedded scheduler.

`prefect.yaml` is the one place schedules are written: `prefect deploy --all` gives them to
a Prefect server, and `alongside run` reads the same entries here and turns them into
APScheduler triggers, so both modes fire the same flows at the same times.

Two differences between the tools are bridged, not left to surprise anyone:
- APScheduler 3 numbers cron weekdays from Monday = 0, cron (and Prefect) from Sunday = 0,
  so day-of-week fields are rewritten with day names;
- cron runs a job when *either* a restricted day-of-month or a restricted day-of-week
  matches (Prefect's `day_or: true`), APScheduler only when both do, so that combination
  is refused rather than run on the wrong days.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from engine.core.errors import UserError

PROJECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"
DEFAULT_ANCHOR = datetime(2020, 1, 1)  # intervals count from a round midnight, like Prefect's

CRON_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]  # cron: 0 (and 7) = Sunday
APS_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # APScheduler's order


@dataclass(frozen=True)
class Schedule:
    """One entry of a deployment's `schedules:` (cron or interval, in a time zone)."""

    timezone: str = "UTC"
    cron: str | None = None
    interval: timedelta | None = None
    anchor: datetime | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.cron is not None:
            return f"cron '{self.cron}' ({self.timezone})"
        seconds = self.interval.total_seconds()
        if seconds % 3600 == 0:
            every = f"{seconds / 3600:g} hours"
        elif seconds % 60 == 0:
            every = f"{seconds / 60:g} minutes"
        else:
            every = f"{seconds:g} seconds"
        return f"every {every} ({self.timezone})"

    def trigger(self) -> Any:
        """The APScheduler trigger that fires when Prefect's scheduler would."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        zone = ZoneInfo(self.timezone)
        if self.cron is not None:
            minute, hour, day, month, weekday = self.cron.split()
            return CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=day_of_week(weekday),
                timezone=zone,
            )
        anchor = self.anchor or DEFAULT_ANCHOR
        # Prefect reads an anchor without an offset as UTC; so does this.
        anchor = anchor.replace(tzinfo=UTC) if anchor.tzinfo is None else anchor
        return IntervalTrigger(
            seconds=self.interval.total_seconds(), start_date=anchor, timezone=zone
        )


@dataclass(frozen=True)
class Deployment:
    """A deployment with at least one active schedule."""

    name: str
    entrypoint: str
    parameters: dict[str, Any]
    schedules: tuple[Schedule, ...]


def day_of_week(text: str) -> str:
    """A cron day-of-week field (Sunday = 0 or 7, names allowed) in APScheduler's terms."""
    if text in ("*", "?"):
        return "*"
    chosen: set[int] = set()
    for part in text.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            low, high = _cron_day(first), _cron_day(last)
            if high < low:
                raise ValueError(f"day-of-week range '{span}' runs backwards")
        else:
            low = _cron_day(span)
            high = 6 if step_text else low
        chosen.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(name for name in APS_DAYS if CRON_DAYS.index(name) in chosen)


def _cron_day(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in CRON_DAYS:
        return CRON_DAYS.index(token[:3])
    raise ValueError(f"'{token}' is not a day of the week")


def _schedule(where: str, entry: dict[str, Any]) -> Schedule | None:
    """One schedule entry, or None when it is switched off (`active: false`)."""
    if not entry.get("active", True):
        return None
    timezone = entry.get("timezone") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"{where}: unknown time zone '{timezone}'") from None
    parameters = dict(entry.get("parameters") or {})
    if entry.get("cron"):
        cron = str(entry["cron"])
        fields = cron.split()
        if len(fields) != 5:
            raise UserError(f"{where}: cron '{cron}' needs 5 fields")
        if entry.get("day_or", True) and fields[2] not in ("*", "?") and fields[4] != "*":
            raise UserError(
                f"{where}: cron '{cron}' restricts both the day of the month and the day of "
                "the week; the embedded scheduler cannot run that as Prefect would"
            )
        schedule = Schedule(timezone, cron=cron, parameters=parameters)
        try:
            schedule.trigger()
        except ValueError as error:
            raise UserError(f"{where}: cron '{cron}': {error}") from None
        return schedule
    if entry.get("interval") is not None:
        try:
            seconds = float(entry["interval"])
        except (TypeError, ValueError):
            raise UserError(f"{where}: interval must be a number of seconds") from None
        if seconds <= 0:
            raise UserError(f"{where}: interval must be positive")
        anchor = entry.get("anchor_date")
        if isinstance(anchor, str):
            anchor = datetime.fromisoformat(anchor.replace("Z", "+00:00"))
        return Schedule(
            timezone, interval=timedelta(seconds=seconds), anchor=anchor, parameters=parameters
        )
    if "rrule" in entry:
        raise UserError(f"{where}: the embedded scheduler runs cron and interval, not rrule")
    raise UserError(f"{where}: a schedule needs cron or interval")


def read_deployments(path: Path = PROJECT_YAML) -> list[Deployment]:
    """The deployments in a prefect.yaml that have active schedules, in file order."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {' '.join(str(error).split())}") from None
    found = []
    for number, entry in enumerate(document.get("deployments") or [], start=1):
        name = entry.get("name") or f"deployment {number}"
        where = f"{path}: {name}"
        if not entry.get("entrypoint"):
            raise UserError(f"{where}: no entrypoint")
        schedules = tuple(
            s
            for i, item in enumerate(entry.get("schedules") or [], start=1)
            if (s := _schedule(f"{where}: schedule {i}", item)) is not None
        )
        if schedules:
            found.append(
                Deployment(
                    name, entry["entrypoint"], dict(entry.get("parameters") or {}), schedules
                )
            )
    if not found:
        raise UserError(f"{path}: no deployment has an active schedule")
    return found


def load_flow(entrypoint: str, base: Path) -> Any:
    """The flow an entrypoint names: `flows/sweep.py:tick` (relative to `base`) or `pkg.mod:fn`.

    A path inside an importable package is imported as that package's module, so the
    embedded scheduler runs the very objects the rest of the process uses.
    """
    target, _, name = entrypoint.partition(":")
    if not name:
        raise UserError(f"entrypoint '{entrypoint}' should be PATH:FUNCTION")
    module_name = target.removesuffix(".py").replace("/", ".").replace("\\", ".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        from prefect.flows import load_flow_from_entrypoint

        path = Path(target) if Path(target).is_absolute() else base / target
        if not path.is_file():
            raise UserError(f"entrypoint '{entrypoint}': no module or file {target}") from None
        return load_flow_from_entrypoint(f"{path}:{name}")
    try:
        return getattr(module, name)
    except AttributeError:
        raise UserError(f"entrypoint '{entrypoint}': {module_name} has no {name}") from None


def next_fire(schedule: Schedule, now: datetime) -> datetime | None:
    """When the schedule next fires after `now` (for the start-up banner and tests)."""
    when = schedule.trigger().get_next_fire_time(None, now)
    return when.astimezone(UTC) if when else None
