"""A flow that takes a while, so a test can stop `alongside run` in the middle of one."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow


@flow(name="slow", persist_result=False)
def slow(marker: str, seconds: float = 2.0) -> None:
    """Note the start in `marker`, take `seconds`, note the end."""
    path = Path(marker)
    with path.open("a") as out:
        out.write("started\n")
    time.sleep(seconds)
    with path.open("a") as out:
        out.write("finished\n")
