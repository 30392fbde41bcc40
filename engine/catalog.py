"""Finding journeys by id or path, loading each file once per process."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from engine.errors import UserError
from engine.journey import Journey
from engine.loader import JourneyError, load_journey
from engine.loader import journey_files as _files
from engine.settings import Settings


def journeys_dir() -> Path:
    return Settings().journeys


def journey_files() -> list[Path]:
    return _files(journeys_dir())


@cache
def _load(path: Path, mtime_ns: int) -> Journey:
    return load_journey(path)


def load(path: Path) -> Journey:
    """Load a journey file, reusing the parsed model while the file is unchanged."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    try:
        return _load(path.resolve(), stamp)
    except JourneyError as error:
        first = error.problems[0]
        more = (
            f" (and {len(error.problems) - 1} more; run alongside journeys validate)"
            if len(error.problems) > 1
            else ""
        )
        raise UserError(f"invalid journey: {first}{more}") from None


def resolve(name: str) -> Journey:
    """A journey id from the journeys directory, or a path to a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise UserError(f"no journey file at {name}")
        return load(path)
    candidate = journeys_dir() / f"{name}.yaml"
    if not candidate.is_file():
        known = ", ".join(p.stem for p in journey_files()) or "none"
        raise UserError(f"unknown journey '{name}' (known: {known})")
    return load(candidate)
