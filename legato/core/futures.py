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

import sys
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
        return run_result(self.task_run, timeout, raise_on_failure)

    def add_done_callback(self, fn: Callable[[LegatoFuture], None]) -> None:
        """Call ``fn(self)`` when the run is final (at once if it already is)."""
        self.task_run.engine.add_done_callback(self.task_run, lambda _run: fn(self))

    def __eq__(self, other: object) -> bool:
        """Futures of the same task run are equal (a map's list makes a new one each time one is taken)."""
        if not isinstance(other, LegatoFuture):
            return NotImplemented
        return self.task_run is other.task_run  # type: ignore[attr-defined, no-any-return]

    def __hash__(self) -> int:
        return hash(self.task_run)

    def __repr__(self) -> str:
        return f"LegatoFuture({self.task_run.name!r}, state={self.task_run.state.name})"


#: Prefect's names for its future classes; in legato one class serves every runner
PrefectFuture = PrefectConcurrentFuture = PrefectDistributedFuture = PrefectWrappedFuture = LegatoFuture


class LegatoFutureList(list):
    """What ``task.map`` returns: a list of futures with list-wide ``wait`` and ``result``.

    A map's list holds its elements' task runs, not a future each: the
    future of an element is made when someone takes it from the list
    (indexing, iterating, ``in``), a handle that lives as long as they keep
    it. Futures of one run are equal (and hash alike), so a future taken
    twice is the same future to ``==``, sets and dicts. Anything else put in
    the list (a future, any value) is kept and given back as it is.
    """

    __slots__ = ()

    # -- reading: each task run seen as its future

    def __iter__(self) -> Iterator[Any]:
        return map(_as_future, list.__iter__(self))

    def __reversed__(self) -> Iterator[Any]:
        return map(_as_future, list.__reversed__(self))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return LegatoFutureList(list.__getitem__(self, index))
        return _as_future(list.__getitem__(self, index))

    def __contains__(self, value: object) -> bool:
        return any(value == future for future in self)

    def index(self, value: Any, start: int = 0, stop: int = sys.maxsize) -> int:
        for position in range(*slice(start, stop).indices(len(self))):
            if self[position] == value:
                return position
        raise ValueError(f"{value!r} is not in list")

    def count(self, value: Any) -> int:
        return sum(1 for future in self if future == value)

    def pop(self, index: int = -1) -> Any:  # type: ignore[override]
        return _as_future(list.pop(self, index))

    def remove(self, value: Any) -> None:
        del self[self.index(value)]

    def copy(self) -> LegatoFutureList:
        return LegatoFutureList(list.__iter__(self))

    def sort(self, *, key: Any = None, reverse: bool = False) -> None:
        items = sorted(self, key=key, reverse=reverse)  # type: ignore[call-overload]
        self[:] = items

    def __add__(self, other: Any) -> LegatoFutureList:  # type: ignore[override]
        if not isinstance(other, list):
            return NotImplemented
        return LegatoFutureList([*list.__iter__(self), *(list.__iter__(other) if isinstance(other, LegatoFutureList)
                                                          else other)])

    def __radd__(self, other: Any) -> list[Any]:
        if not isinstance(other, list):
            return NotImplemented
        return [*other, *self]

    def __mul__(self, times: Any) -> LegatoFutureList:  # type: ignore[override]
        return LegatoFutureList(list.__mul__(self, times))

    __rmul__ = __mul__  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (LegatoFutureList, (list(self),))

    # -- the list as a whole

    def wait(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for item in list.__iter__(self):
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                return
            if type(item) is _run_type:
                if not item.settled:
                    item.engine.wait_run(item, remaining)
            else:
                item.wait(remaining)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        items = list.__iter__(self)
        run_type = _run_type
        if timeout is None:  # no deadline to share out: one call per element, not three
            items = list(items)
            _prefetch(items)
            return [run_result(item, None, raise_on_failure) if type(item) is run_type
                    else item.result(raise_on_failure=raise_on_failure) for item in items]
        deadline = time.monotonic() + timeout
        try:
            return [run_result(item, _remaining(deadline), raise_on_failure) if type(item) is run_type
                    else item.result(timeout=_remaining(deadline), raise_on_failure=raise_on_failure)
                    for item in items]
        except TimeoutError as error:  # Prefect's message for the list as a whole
            raise TimeoutError(f"Timed out waiting for all futures to complete ({error}).") from error


#: the engine's task run class, which a map's future list holds (set by legato.core.graph, which imports this module)
_run_type: type = type(None)


def set_run_type(run_type: type) -> None:
    global _run_type
    _run_type = run_type


def _as_future(item: Any) -> Any:
    return LegatoFuture(item) if type(item) is _run_type else item


def run_result(run: Any, timeout: float | None, raise_on_failure: bool) -> Any:
    """The value of a task run (what its future's ``result`` gives), waiting up to ``timeout`` for it."""
    if not run.settled and not run.engine.wait_run(run, timeout):  # settled: nothing to wait for
        raise TimeoutError(f"Task run {run.name!r} ({run.id}) did not complete within {timeout} seconds")
    return run.state.result(raise_on_failure=raise_on_failure)


PrefectFutureList = LegatoFutureList


def _prefetch(items: list[Any]) -> None:
    """A remote runner fetches a list's values in one round trip (``Runner.prefetch``) rather than one each.

    ``items`` are what a future list holds: task runs (a map's) or futures.
    """
    if len(items) < 2:
        return
    runs = [item if type(item) is _run_type else item.task_run for item in items]
    runner = runs[0].runner
    prefetch = getattr(runner, "prefetch", None)
    if prefetch is None or runner.shares_memory:
        return
    for run in runs:
        if not run.settled:
            run.engine.wait_run(run, None)
    prefetch([run.runner_future for run in runs if run.runner is runner and run.runner_future is not None])


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
