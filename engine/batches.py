"""Lists of ids cut to what a database takes in one `IN (...)`.

SQLite refuses a statement with more than 32,766 parameters ("too many SQL variables"),
and a catch-up sweep after days down can hold hundreds of thousands of due tasks; on
PostgreSQL a huge list only makes one slow statement. So every query by a list of ids
that has no bound of its own asks in slices.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

IN_LIST = 1000  # ids per IN (...) list


def chunks(ids: Sequence[int], size: int = IN_LIST) -> Iterator[list[int]]:
    """`ids` in consecutive slices of at most `size`, each a plain list of ints."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])
