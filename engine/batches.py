"""Lists of ids cut to what a database takes in one `IN (...)`, and batches worked on a few
at a time.

SQLite refuses a statement with more than 32,766 parameters ("too many SQL variables"),
and a catch-up sweep after days down can hold hundreds of thousands of due tasks; on
PostgreSQL a huge list only makes one slow statement. So every query by a list of ids
that has no bound of its own asks in slices.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

IN_LIST = 1000  # ids per IN (...) list


def chunks(ids: Sequence[int], size: int = IN_LIST) -> Iterator[list[int]]:
    """`ids` in consecutive slices of at most `size`, each a plain list of ints."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def overlapped(work: Callable[[T], R], items: Iterable[T], at_once: int) -> Iterator[R]:
    """`work` on each item, up to `at_once` items in flight in threads, results in order.

    Why threads: a batch's planning is Python on this machine's CPU and its writes are the
    database server's, so while one batch writes the next can plan (the planner holds the
    GIL; the driver lets go of it while it waits on the server). Only `at_once` items are
    taken from `items` ahead of the results, so a long iterator is never all in memory and
    an error stops the work at most `at_once` items later. Each call runs in a copy of the
    caller's context, as Prefect's own thread pool does, so a Prefect task called in it
    belongs to the caller's flow run and sees the caller's settings.
    """
    if at_once <= 1:
        yield from map(work, items)
        return
    pool = ThreadPoolExecutor(at_once, thread_name_prefix="batch")
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(copy_context().run, work, item))
            if len(pending) == at_once:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        # A caller that stops early (an error, a flow's timeout) does not wait for the
        # work in flight: each item ends its own transaction when its statement returns,
        # and waiting could hold a timed-out tick until a hung statement's own timeout.
        pool.shutdown(wait=False, cancel_futures=True)
