"""The shell's only clock. The core never reads it: every core function takes `now`."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
