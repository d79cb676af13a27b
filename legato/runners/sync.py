"""``SyncTaskRunner``: every task runs in the thread that waits for it.

For debugging (a breakpoint in a task stops the flow's own thread) and for
tests. Submitted work goes onto a queue and runs right away in the
submitting thread; work that becomes ready elsewhere (a retry whose delay
ran out on the timer thread) waits on the queue until some thread waits on a
future of this runner, and that thread runs it. Re-entrant submissions (a
task that submits a task) are queued, not run recursively, so deep chains do
not grow the stack.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from legato.core.timer import in_timer_thread
from legato.runners.base import RunnerFuture, TaskRunner, WorkItem
from legato.runners.local_future import LocalFuture, run_into

_POLL = 0.01


class SyncTaskRunner(TaskRunner):
    name = "sync"
    shares_memory = True
    batches = False  # work runs inline at submit: nothing to save by batching

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._queue: deque[tuple[LocalFuture, WorkItem, Sequence[RunnerFuture]]] = deque()
        self._local = threading.local()

    def submit(self, work: WorkItem, upstream: Sequence[RunnerFuture] = ()) -> RunnerFuture:
        future = LocalFuture()
        self._queue.append((future, work, upstream))
        if not in_timer_thread() and not getattr(self._local, "draining", False):
            self._drain()
        return future

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while not event.is_set():
            if self._queue and not getattr(self._local, "draining", False):
                self._drain()
                continue
            if self._queue:  # waiting inside a running task: run the next item here
                self._run_one()
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            event.wait(_POLL if remaining is None else min(_POLL, remaining))
        return True

    def _drain(self) -> None:
        self._local.draining = True
        try:
            while self._queue:
                self._run_one()
        finally:
            self._local.draining = False

    def _run_one(self) -> None:
        try:
            future, work, upstream = self._queue.popleft()
        except IndexError:
            return
        run_into(future, work, upstream)

    def __repr__(self) -> str:
        return "SyncTaskRunner()"
