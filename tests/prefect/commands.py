"""How the subprocess tests start `alongside run|demo`.

Through the `alongside` console script when it is installed, else through
`python -m alongside` (the same app). PYTHONPATH names the repository either way, so a
test's own flows (tests/prefect/slow_flow.py) are importable in the child.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from tests.conftest import REPO

ALONGSIDE = Path(sys.executable).parent / "alongside"


@cache
def _registered(command: str) -> bool:
    if not ALONGSIDE.exists():
        return False
    probe = subprocess.run(
        [str(ALONGSIDE), command, "--help"], capture_output=True, text=True, timeout=60
    )
    return probe.returncode == 0


def alongside(command: str, *args: str) -> list[str]:
    """The argv for `alongside COMMAND ARGS...`."""
    if _registered(command):
        return [str(ALONGSIDE), command, *args]
    return [sys.executable, "-m", "alongside", command, *args]


def child_env(**values: str) -> dict[str, str]:
    """A clean environment for the child: none of this process's Prefect or Alongside settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALONGSIDE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env | values
