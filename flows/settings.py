"""Prefect settings the project applies itself, so the embedded mode works offline.

Prefect reads its settings once, when it is first imported, so `configure_prefect` must run
before anything imports `prefect` (`alongside run` and `alongside demo` call it first). Every
value is a default: whatever the operator has set in the environment wins, so a production
worker's own settings (and the test suite's) are left alone.

The server-side values only reach servers this process starts itself (the ephemeral API, a
test harness): a real Prefect server reads its own environment (docs/operations.md).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

# Why each default:
PREFECT_DEFAULTS = {
    # No telemetry from the machines survivors' caseworkers use, and nothing that waits
    # on the internet.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # With no PREFECT_API_URL, run the flows through a local ephemeral API.
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
    # The ephemeral API migrates a fresh database on first start: 15 s or more on a small
    # machine, close to Prefect's 20 s default.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    # By default the ephemeral server records every task-run event in its own SQLite
    # transaction; those writes race the API's own, and each lost race costs the client a
    # 503 and a back-off of about 2 s. Measured on 2 cores: a flow of three trivial tasks,
    # 0.8 s a run by default and 0.11 s batched; a tick, ~0.37 s and ~0.27 s on average.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_READ_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
}

LOG_FILE = "alongside.log"


def configure_prefect(home: Path, **extra: str) -> Path:
    """Apply the defaults above (and `extra`) to the environment; returns PREFECT_HOME.

    PREFECT_HOME goes under the data directory unless set, so the orchestration history
    sits beside the database it describes and one `rm -r` removes both.
    """
    from engine.files import private_dir

    os.environ.setdefault("PREFECT_HOME", str((home / "prefect").resolve()))
    for name, value in {**PREFECT_DEFAULTS, **extra}.items():
        os.environ.setdefault(name, value)
    private_dir(home)  # the home is 0700 even when Prefect's directory is the first in it
    prefect_home = Path(os.environ["PREFECT_HOME"])
    private_dir(prefect_home)  # Prefect makes only the last level
    return prefect_home


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file is 0600 from its first line, whatever the umask.

    `logging` opens (and, on rollover, re-opens) the file with `open()`, whose mode the
    umask decides; this opens it with `os.open` and an explicit mode instead. Rotated
    files are renames of it, so they keep the mode.
    """

    def _open(self):  # type: ignore[override]
        from engine.files import open_private

        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in self.mode else os.O_TRUNC)
        return os.fdopen(
            open_private(Path(self.baseFilename), flags),
            self.mode,
            encoding=self.encoding,
            errors=self.errors,
        )


def log_file(home: Path) -> Path:
    return (home / "logs" / LOG_FILE).resolve()


def configure_logging(home: Path) -> Path:
    """Also write Prefect's and Alongside's log records to a rotating file in the home.

    Call after importing prefect (its logging setup replaces the root logger's handlers).
    The file stays on this machine, beside the database, and is as private: besides what
    the flows tell Prefect it holds a failing step's whole error, which Prefect never sees.
    """
    from prefect.logging.formatters import PrefectFormatter

    from engine.files import private_dir

    path = log_file(home)
    private_dir(path.parent)
    root = logging.getLogger()
    if not any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        handler = PrivateRotatingFileHandler(
            path, maxBytes=10_000_000, backupCount=5, encoding="utf-8"
        )
        handler.setFormatter(
            PrefectFormatter(
                "%(asctime)s %(levelname)-7s %(name)s - %(message)s",
                flow_run_fmt="%(asctime)s %(levelname)-7s flow run %(flow_run_name)s - %(message)s",
                task_run_fmt="%(asctime)s %(levelname)-7s task run %(task_run_name)s - %(message)s",
            )
        )
        root.addHandler(handler)
    logging.getLogger("alongside").setLevel(logging.INFO)
    return path
