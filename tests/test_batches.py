"""`engine.batches.overlapped`: a few batches in flight in threads, results in order."""

from __future__ import annotations

import threading
from contextvars import ContextVar

import pytest

from engine.batches import overlapped

WHO: ContextVar[str] = ContextVar("WHO", default="nobody")


def test_two_items_are_in_flight_at_once_and_the_results_come_in_order() -> None:
    both = threading.Barrier(2, timeout=10)  # breaks unless two calls wait at once
    lock = threading.Lock()
    running = peak = 0

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        both.wait()
        with lock:
            running -= 1
        return n * n

    assert list(overlapped(work, range(6), 2)) == [0, 1, 4, 9, 16, 25]
    assert peak == 2  # never more than asked for


def test_one_at_a_time_runs_in_the_callers_thread() -> None:
    threads = list(overlapped(lambda _: threading.current_thread(), range(3), 1))
    assert threads == [threading.current_thread()] * 3


def test_each_call_sees_the_callers_context() -> None:
    token = WHO.set("the flow run")
    try:
        assert set(overlapped(lambda _: WHO.get(), range(4), 2)) == {"the flow run"}
    finally:
        WHO.reset(token)


def test_an_error_stops_the_work_within_a_window() -> None:
    taken: list[int] = []

    def items():
        for n in range(100):
            taken.append(n)
            yield n

    def work(n: int) -> int:
        if n == 3:
            raise ValueError("batch 3")
        return n

    results = overlapped(work, items(), 2)
    with pytest.raises(ValueError, match="batch 3"):
        list(results)
    assert len(taken) <= 5  # the failing item and at most the window after it


def test_a_caller_that_stops_does_not_wait_for_the_work_in_flight() -> None:
    """A tick that times out stops taking results; it must not then wait for a batch whose
    statement hangs (that batch ends its own transaction when the statement returns)."""
    hung = threading.Event()

    def work(n: int) -> int:
        if n == 1:
            hung.wait()  # a statement that never returns, until the test lets it go
        return n

    results = overlapped(work, range(3), 2)
    assert next(results) == 0  # item 1 is in flight now
    closing = threading.Thread(target=results.close)  # the caller stops
    closing.start()
    closing.join(timeout=10)
    try:
        assert not closing.is_alive()  # it did not wait for item 1
    finally:
        hung.set()
