"""Private files: the home is 0700 and what it holds about cases 0600, whatever the umask.

The home holds the database (case references, facts, notes), every message the file
transport wrote, the log (a failing step's whole error, statement parameters included)
and any export. Modes are set explicitly (`os.open` with a mode, then `fchmod`/`chmod`),
never left to the umask, which is 0o022 or 0o002 on most machines and 0 in some
containers.

`loose` finds what an existing home exposes (every command warns about it once) and
`make_private` fixes it (`alongside db upgrade`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600

DATABASE = "alongside.db"
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
CONFIG = "alongside.toml"
OUTBOX = "outbox"
LOGS = "logs"
EXPORTS = "exports"


def private_dir(path: Path) -> Path:
    """Make `path` exist; every directory this call creates (parents too) is 0700.

    Only directories this call creates are chmod-ed: an existing one (a shared parent given
    as a database location, say) is left as it is; `make_private` fixes an existing home.
    """
    path = Path(path)
    if path.is_dir():
        return path
    private_dir(path.parent)
    try:
        path.mkdir(mode=DIRECTORY_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
        return path
    os.chmod(path, DIRECTORY_MODE)  # mkdir's mode is masked by the umask
    return path


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """`os.open` a file that is 0600 from its first byte, whatever the umask."""
    descriptor = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)  # an existing file keeps its old mode otherwise
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def touch_private(path: Path) -> Path:
    """Create `path` empty and 0600 if it is missing; make it 0600 if it exists."""
    os.close(open_private(path, os.O_WRONLY | os.O_CREAT))
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write `data` to a 0600 file (for exports and anything else holding case data)."""
    private_dir(Path(path).parent)
    descriptor = open_private(path)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return path


def private_sqlite(path: Path) -> None:
    """Before SQLite opens `path`: its directory 0700 if new, the file itself 0600.

    SQLite creates the -wal and -shm files with the database file's own mode, so a 0600
    database gets 0600 companions; existing companions are fixed here too.
    """
    path = Path(path)
    private_dir(path.parent)
    touch_private(path)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.chmod(companion, FILE_MODE)


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(os.lstat(path).st_mode)
    except OSError:
        return None


def _private_files(home: Path, *, every_message: bool) -> list[Path]:
    """The files in a home that must be 0600 (every .eml only when asked: there may be
    hundreds of thousands, too many to look at on every command)."""
    files = [home / DATABASE, home / CONFIG]
    files += [home / (DATABASE + suffix) for suffix in SQLITE_COMPANIONS]
    logs = home / LOGS
    if logs.is_dir():
        files += sorted(p for p in logs.iterdir() if p.name.startswith("alongside.log"))
    exports = home / EXPORTS
    if exports.is_dir():
        files += sorted(p for p in exports.iterdir() if p.is_file())
    outbox = home / OUTBOX
    if every_message and outbox.is_dir():
        files += sorted(outbox.glob("*.eml"))
    return [p for p in files if p.is_file() and not p.is_symlink()]


def _private_dirs(home: Path) -> list[Path]:
    dirs = [home, home / OUTBOX, home / LOGS, home / EXPORTS]
    return [p for p in dirs if p.is_dir() and not p.is_symlink()]


def loose(home: Path, *, every_message: bool = False) -> list[tuple[Path, int]]:
    """(path, mode) of each directory or file in `home` that others could read or enter."""
    found = []
    for path in [*_private_dirs(home), *_private_files(home, every_message=every_message)]:
        mode = _mode(path)
        if mode is not None and mode & 0o077:
            found.append((path, mode))
    return found


def warning(home: Path) -> str | None:
    """The one-line warning for an existing home that others can read, or None."""
    try:
        if not Path(home).is_dir():
            return None
        found = loose(Path(home))
    except OSError:  # a home this user cannot even list: the command itself will say so
        return None
    if not found:
        return None
    path, mode = found[0]
    others = f" and {len(found) - 1} more" if len(found) > 1 else ""
    return (
        f"warning: {path} is readable by other users (mode {mode:04o}){others}: "
        "run `alongside db upgrade` to make the home private"
    )


def make_private(home: Path) -> int:
    """Fix an existing home: directories 0700, database, messages, logs, exports 0600.

    Returns how many modes changed. A missing home is left alone.
    """
    home = Path(home)
    if not home.is_dir():
        return 0
    changed = 0
    for path in _private_dirs(home):
        if (_mode(path) or 0) & 0o077:
            os.chmod(path, DIRECTORY_MODE)
            changed += 1
    for path in _private_files(home, every_message=True):
        if (_mode(path) or 0) & 0o077:
            os.chmod(path, FILE_MODE)
            changed += 1
    return changed
