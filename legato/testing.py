"""Test doubles for the engine: a runner you script and a clock you move.

In the spirit of httpx's ``MockTransport``: the engine runs exactly as in
production, and only the edges are replaced, so a test of the graph, of
retries, of batching or of cancellation uses no threads and no sleeps.

* :class:`ScriptedTaskRunner` keeps every submitted work item in
  :attr:`~ScriptedTaskRunner.submitted`; nothing runs until the test calls
  :meth:`ScriptedFuture.run` (run the work here), :meth:`ScriptedFuture.complete`
  or :meth:`ScriptedFuture.fail` (set an outcome without running it), or
  :meth:`ScriptedFuture.start` (report that a worker started it). When the
  engine blocks on it (a flow body waiting for results), it runs the oldest
  submitted work in the waiting thread, in submission order, and raises
  :class:`ScriptStalled` if nothing is left that could help.
* :class:`ManualClock` is a :class:`legato.core.clock.Clock` whose time moves
  only with :meth:`ManualClock.advance` (and with ``sleep``, which advances
  it at once): retry delays and timeouts fire when the test says so.
* :func:`engine_run` opens an engine on them, with the flow run context set,
  so ``my_task.submit(...)`` and ``my_task.map(...)`` work in the test body.

::

    runner, clock = ScriptedTaskRunner(), ManualClock()
    with engine_run(runner, clock) as engine:
        future = flaky.submit()
        runner.submitted[0].fail(ValueError("first"))    # a retry is now due in 10 s
        clock.advance(10)
        runner.submitted[1].complete(42)
        assert future.result() == 42
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError
from contextlib import contextmanager
from typing import Any

from legato.core.clock import Cancellable, use_clock
from legato.core.context import FlowRunContext, flow_run_context
from legato.core.timer import TimerHandle
from legato.runners.base import TaskRunner

_UNSET: Any = object()


class ScriptStalled(RuntimeError):
    """The engine waits for work that the script never completes (nothing is left to run)."""


class ScriptedFuture:
    """The future of one submitted work item (or batch); it completes when the test says so."""

    def __init__(self, runner: ScriptedTaskRunner, work: Any, upstream: Sequence[Any]) -> None:
        self.runner = runner
        self.work = work
        self.upstream = list(upstream)
        self.started = False
        self.cancelled_ = False
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[ScriptedFuture], object]] = []
        self._start_callbacks: list[Callable[[ScriptedFuture], object]] = []

    # -- what the test does

    @property
    def size(self) -> int:
        """How many elements of a map this work carries (1 for a single work item)."""
        runs = getattr(self.work, "runs", None) or getattr(self.work, "items", None)
        return len(runs) if runs is not None else 1

    def start(self) -> None:
        """Report that a worker started this work (timeouts count from here)."""
        if not self.started:
            self.started = True
            for callback in self._start_callbacks:
                callback(self)

    def run(self) -> None:
        """Run the work in this thread, with its upstream values, and complete with its outcome."""
        self.start()
        try:
            value = self.work(*[future.result() for future in self.upstream])
        except BaseException as error:  # noqa: BLE001 - the outcome of the work, whatever it is
            self.fail(error)
        else:
            self.complete(value)

    def complete(self, value: Any = None) -> None:
        """Finish with ``value`` (for a batch: ``(seconds, [(ok, value_or_error), ...])``)."""
        self._finish(value, None)

    def fail(self, error: BaseException) -> None:
        self._finish(None, error)

    # -- what the engine uses (concurrent.futures.Future's behaviour)

    def add_done_callback(self, fn: Callable[[ScriptedFuture], object], /) -> None:
        if self._done:
            fn(self)
        else:
            self._callbacks.append(fn)

    def add_start_callback(self, fn: Callable[[ScriptedFuture], object], /) -> None:
        if self.started:
            fn(self)
        else:
            self._start_callbacks.append(fn)

    def done(self) -> bool:
        return self._done

    def cancel(self) -> bool:
        if self._done:
            return False
        self.cancelled_ = True
        self._finish(None, CancelledError())
        return True

    def result(self, timeout: float | None = None) -> Any:
        if not self._done:
            raise ScriptStalled(f"the result of {self.work!r} was asked for before the script completed it")
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self._done:
            raise ScriptStalled(f"the outcome of {self.work!r} was asked for before the script completed it")
        if isinstance(self._error, CancelledError):
            raise self._error
        return self._error

    def _finish(self, value: Any, error: BaseException | None) -> None:
        if self._done:
            raise RuntimeError(f"{self.work!r} already finished")
        self._done, self._value, self._error = True, value, error
        if self in self.runner.submitted:
            self.runner.submitted.remove(self)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __repr__(self) -> str:
        return f"ScriptedFuture({self.work!r}, done={self._done})"


class ScriptedTaskRunner(TaskRunner):
    """A runner that runs nothing until the test says so (see the module docs)."""

    name = "scripted"
    shares_memory = True
    reports_start = True

    def __init__(self, concurrency: int = 2, *, batches: bool = True, batch_target_seconds: float = 0.01) -> None:
        self._concurrency = concurrency
        self.batches = batches  # type: ignore[misc]  # an instance may say otherwise than the class
        self._batch_target = batch_target_seconds
        #: work submitted and not finished yet, oldest first
        self.submitted: list[ScriptedFuture] = []
        #: everything ever submitted, in order
        self.history: list[ScriptedFuture] = []

    @property
    def concurrency(self) -> int:
        return self._concurrency

    @property
    def batch_target_seconds(self) -> float:
        return self._batch_target

    def submit(self, work: Any, upstream: Sequence[Any] = ()) -> ScriptedFuture:
        future = ScriptedFuture(self, work, upstream)
        self.submitted.append(future)
        self.history.append(future)
        return future

    def run_next(self) -> ScriptedFuture:
        """Run the oldest submitted work here."""
        if not self.submitted:
            raise ScriptStalled("nothing is submitted")
        future = self.submitted[0]
        future.run()
        return future

    def run_all(self) -> int:
        """Run submitted work (and what it leads to) until none is left; how many ran."""
        count = 0
        while self.submitted:
            self.run_next()
            count += 1
        return count

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        while not event.is_set():
            if not self.submitted:
                if timeout is not None:
                    return False
                raise ScriptStalled("the engine waits, and no submitted work is left to run")
            self.run_next()
        return True

    def _reset(self) -> None:
        self.submitted, self.history = [], []


class ManualClock:
    """A clock whose time moves only when told to (see the module docs)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        #: every ``sleep`` asked of it, in order
        self.slept: list[float] = []
        self._heap: list[tuple[float, int, TimerHandle, Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Cancellable:
        handle = TimerHandle()
        heapq.heappush(self._heap, (self.now + delay, next(self._order), handle, fn, args))
        return handle

    @property
    def scheduled(self) -> list[float]:
        """The due times of the callbacks not yet run (cancelled ones left out)."""
        return sorted(due for due, _, handle, _, _ in self._heap if not handle.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``, running each callback that falls due, in due order."""
        target = self.now + seconds
        while self._heap and self._heap[0][0] <= target:
            due, _, handle, fn, args = heapq.heappop(self._heap)
            self.now = max(self.now, due)
            if not handle.cancelled:
                fn(*args)
        self.now = target

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    async def sleep_async(self, seconds: float) -> None:
        self.sleep(seconds)


@contextmanager
def engine_run(runner: TaskRunner | None = None, clock: Any = None, name: str = "scripted") -> Iterator[Any]:
    """An engine on ``runner`` (a fresh :class:`ScriptedTaskRunner` by default) and ``clock``.

    Inside the block the flow run context is set, so ``task.submit`` and
    ``task.map`` build the graph of this engine.
    """
    from legato.core.engine import FlowEngine
    from legato.core.flow import FlowRun

    runner = runner if runner is not None else ScriptedTaskRunner()
    clock = clock if clock is not None else ManualClock()
    flow_run = FlowRun.standalone(name)
    with use_clock(clock):
        engine = FlowEngine(flow_run, runner, clock=clock)
        token = flow_run_context.set(FlowRunContext(None, flow_run, engine))
        try:
            yield engine
        finally:
            flow_run_context.reset(token)


__all__ = ["ManualClock", "ScriptStalled", "ScriptedFuture", "ScriptedTaskRunner", "engine_run"]
