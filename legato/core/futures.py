"""Futures for task runs, with Prefect's methods and concurrent.futures' helpers.

A :class:`LegatoFuture` is a thin handle on a task run: it holds no result of
its own (the run's final state does), so a map of a million elements costs a
million small objects, not a million condition variables. Waiting goes
through the engine, which lets a runner make the wait cheap (a thread-pool
worker that waits gives up its slot; the sync runner runs queued work while
it waits).

``wait`` and ``as_completed`` behave like their ``concurrent.futures``
namesakes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any, NamedTuple

from legato.core.states import State

if TYPE_CHECKING:
    from legato.core.engine import TaskRun


class LegatoFuture:
    """The future of one task run (Prefect's ``PrefectFuture``)."""

    __slots__ = ("task_run", "__weakref__")

    def __init__(self, task_run: TaskRun) -> None:
        self.task_run = task_run

    @property
    def task_run_id(self) -> str:
        return self.task_run.id

    @property
    def state(self) -> State:
        return self.task_run.state

    def done(self) -> bool:
        """True once the run will not change again (final, or NotReady)."""
        return self.task_run.settled

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the task run is final, or ``timeout`` seconds pass."""
        self.task_run.engine.wait_run(self.task_run, timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """The task's return value; raises its exception if it failed.

        Raises ``TimeoutError`` if the run is not final after ``timeout`` seconds.
        """
        run = self.task_run
        if not run.settled and not run.engine.wait_run(run, timeout):  # settled: nothing to wait for
            raise TimeoutError(f"Task run {run.name!r} ({run.id}) did not complete within {timeout} seconds")
        return run.state.result(raise_on_failure=raise_on_failure)

    def add_done_callback(self, fn: Callable[[LegatoFuture], None]) -> None:
        """Call ``fn(self)`` when the run is final (at once if it already is)."""
        self.task_run.engine.add_done_callback(self.task_run, lambda _run: fn(self))

    def __repr__(self) -> str:
        return f"LegatoFuture({self.task_run.name!r}, state={self.task_run.state.name})"


#: Prefect's names for its future classes; in legato one class serves every runner
PrefectFuture = PrefectConcurrentFuture = PrefectDistributedFuture = PrefectWrappedFuture = LegatoFuture


class LegatoFutureList(list):
    """What ``task.map`` returns: a list of futures with list-wide ``wait`` and ``result``."""

    def wait(self, timeout: float | None = None) -> None:
        wait(self, timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        if timeout is None:  # no deadline to share out: one call per element, not three
            _prefetch(self)
            return [f.result(raise_on_failure=raise_on_failure) for f in self]
        deadline = time.monotonic() + timeout
        try:
            return [f.result(timeout=_remaining(deadline), raise_on_failure=raise_on_failure) for f in self]
        except TimeoutError as error:  # Prefect's message for the list as a whole
            raise TimeoutError(f"Timed out waiting for all futures to complete ({error}).") from error


PrefectFutureList = LegatoFutureList


def _prefetch(futures: list[LegatoFuture]) -> None:
    """A remote runner fetches a list's values in one round trip (``Runner.prefetch``) rather than one each."""
    if len(futures) < 2:
        return
    runner = futures[0].task_run.runner
    prefetch = getattr(runner, "prefetch", None)
    if prefetch is None or runner.shares_memory:
        return
    wait(futures)
    prefetch([f.task_run.runner_future for f in futures
                     if f.task_run.runner is runner and f.task_run.runner_future is not None])


class DoneAndNotDoneFutures(NamedTuple):
    done: set[LegatoFuture]
    not_done: set[LegatoFuture]


def wait(futures: Iterable[LegatoFuture], timeout: float | None = None) -> DoneAndNotDoneFutures:
    """Wait for all ``futures``; return which are done and which are not after ``timeout``."""
    futures = list(futures)
    deadline = None if timeout is None else time.monotonic() + timeout
    for future in futures:
        remaining = _remaining(deadline)
        if remaining is not None and remaining <= 0:
            break
        future.wait(remaining)
    done = {f for f in futures if f.done()}
    return DoneAndNotDoneFutures(done, {f for f in futures if f not in done})


def as_completed(futures: Iterable[LegatoFuture], timeout: float | None = None) -> Iterator[LegatoFuture]:
    """Yield futures as they finish; raise ``TimeoutError`` if some are not done in time.

    As in Prefect, the futures already done come first, a negative timeout is
    a ``ValueError``, and the timeout's message counts the unfinished ones.
    """
    if timeout is not None and timeout < 0:
        raise ValueError(f"'timeout' must be a non-negative number, got {timeout}")
    futures = list(dict.fromkeys(futures))
    if not futures:
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    arrived: SimpleQueue[LegatoFuture] = SimpleQueue()
    signal = threading.Event()

    def on_done(future: LegatoFuture) -> None:
        arrived.put(future)
        signal.set()

    for future in futures:
        future.add_done_callback(on_done)
    engine = futures[0].task_run.engine
    left = len(futures)
    while left:
        try:
            future = arrived.get_nowait()
        except Empty:
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"{left} (of {len(futures)}) futures unfinished") from None
            signal.clear()
            if arrived.empty():
                engine.wait_event(signal, remaining)
            continue
        left -= 1
        yield future


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


__all__ = ["DoneAndNotDoneFutures", "LegatoFuture", "LegatoFutureList", "PrefectFuture", "as_completed", "wait"]
