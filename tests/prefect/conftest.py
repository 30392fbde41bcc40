"""One real Prefect API for the Prefect integration tests: a session-wide test harness.

The suite's conftest keeps Prefect from starting servers by accident; tests that need an
API ask for `prefect_api`, which starts Prefect's test harness (a server subprocess on
loopback with its own SQLite) once per session, with logs sent to it so tests can read
them back. It takes ~12 s to start, so there is exactly one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

T = TypeVar("T")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """The harness's API URL; the current Prefect settings point at it for the session."""
    from flows.settings import PREFECT_DEFAULTS

    for name, value in PREFECT_DEFAULTS.items():  # the server-side batching, for speed
        if name.startswith("PREFECT_SERVER_SERVICES_"):
            os.environ.setdefault(name, value)
    from prefect.settings import PREFECT_API_URL, PREFECT_LOGGING_TO_API_ENABLED, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=180),
        temporary_settings(updates={PREFECT_LOGGING_TO_API_ENABLED: True}),
    ):
        yield PREFECT_API_URL.value()


def eventually(check: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy: the API ingests events in batches."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)
