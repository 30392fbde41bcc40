"""The journeys of one installation: found by id or path, each file parsed once per process.

A `Catalog` is built once per entry point from the settings (`Settings.catalog`) and
passed down, so no library function reads the settings or the current directory itself.
"""

from __future__ import annotations

import shutil
import tempfile
from functools import cache
from pathlib import Path

from engine.core.errors import UserError
from engine.core.journey import Journey
from engine.core.loader import MAX_BYTES, JourneyError, Problem, parse_journey, too_large
from engine.files import private_dir


def load_journey(path: str | Path) -> Journey:
    """Read and validate one journey file; unreadable files are problems, not tracebacks."""
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise JourneyError([Problem(file, 1, 1, f"cannot read file: {error.strerror}")]) from None
    return parse_bytes(raw, file)


def parse_bytes(raw: bytes, file: str) -> Journey:
    """Validate a journey file's bytes (read from disk, or uploaded on the web): too large
    and not UTF-8 are problems at a position, like any other."""
    if len(raw) > MAX_BYTES:
        raise too_large(len(raw), file)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        col = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise JourneyError([Problem(file, line, col, "not UTF-8 text")]) from None
    return parse_journey(text, file)


@cache
def _parsed(path: Path, mtime_ns: int) -> Journey:
    return load_journey(path)


def load(path: Path) -> Journey:
    """Load a journey file, reusing the parsed model while the file is unchanged."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    try:
        return _parsed(path.resolve(), stamp)
    except JourneyError as error:
        first = error.problems[0]
        more = (
            f" (and {len(error.problems) - 1} more; run alongside journeys validate)"
            if len(error.problems) > 1
            else ""
        )
        raise UserError(f"invalid journey: {first}{more}") from None


def seed(directory: Path, shipped: Path) -> None:
    """Fill a new journeys folder with the shipped journeys, all at once or not at all.

    A home gets its own copy, so a programme lead edits (and `journeys install`s) the
    installation's journeys, never the project's, and nothing depends on the directory a
    command happens to run in.
    """
    if directory.exists():
        return
    private_dir(directory.parent)  # often the new home itself: 0700, whatever the umask
    staging = Path(tempfile.mkdtemp(prefix=".journeys-", dir=directory.parent))
    for path in shipped.glob("*.yaml"):
        shutil.copy2(path, staging / path.name)
    schema = shipped / "journey.schema.json"
    if schema.is_file():
        shutil.copy2(schema, staging / schema.name)
    try:
        staging.rename(directory)
    except OSError:  # another process seeded it first
        shutil.rmtree(staging, ignore_errors=True)


class Catalog:
    """The journeys folder of an installation."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def files(self) -> list[Path]:
        return sorted(p for p in self.directory.glob("*.yaml") if p.is_file())

    def warm(self) -> None:
        """Parse every journey file now, as a server starts: parsing one takes tens of
        milliseconds, which would otherwise fall on the first page that needs it, in each
        worker. An invalid file is left for whoever asks for it to report."""
        for path in self.files():
            try:
                load(path)
            except UserError:
                continue

    def resolve(self, name: str) -> Journey:
        """A journey id from the journeys folder, or a path to a YAML file."""
        path = Path(name)
        if path.suffix in (".yaml", ".yml") or path.exists():
            if not path.is_file():
                raise UserError(f"no journey file at {name}")
            return load(path)
        candidate = self.directory / f"{name}.yaml"
        if not candidate.is_file():
            known = ", ".join(p.stem for p in self.files()) or "none"
            raise UserError(f"unknown journey '{name}' (known: {known})")
        return load(candidate)


class Journeys:
    """The journeys of one batch, each resolved once: resolving stats the file, which
    costs more than planning a case. A journey that fails to load stays failed for the
    batch, so every case on it reports the same error."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._found: dict[str, Journey | UserError] = {}

    def __getitem__(self, name: str) -> Journey:
        if name not in self._found:
            try:
                self._found[name] = self.catalog.resolve(name)
            except UserError as error:
                self._found[name] = error
        found = self._found[name]
        if isinstance(found, UserError):
            raise found
        return found
