"""Text that people typed or wrote, as a message may repeat it."""

from __future__ import annotations


def printable(value: object, limit: int = 60) -> str:
    """One line, printable, not too long: a message (or a terminal) must show what was
    typed without a newline, an escape sequence or a page of digits breaking it."""
    text = str(value)
    short = text[:limit] + ("..." if len(text) > limit else "")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in short)
