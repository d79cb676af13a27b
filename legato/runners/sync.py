"""``SyncTaskRunner``: every task runs in the thread that waits for it.

For debugging (a breakpoint in a task stops the flow's own thread) and for
tests. Submitted work goes onto a queue and runs right away in the
submitting thread; work that becomes ready elsewhere (a retry whose delay
ran out on the timer thread) waits on the queue until some thread waits on a
future of this runner, and that thread runs it. Re-entrant submissions (a
task that submits a task) are queued, not run recursively, so deep chains do
not grow the stack.

``timeout_seconds`` is enforced: a task with a timeout runs under a
``SIGALRM`` interrupt (:mod:`legato.runners._alarm`), which needs the main
thread; submitting one from another thread is refused with a
``RuntimeError`` that says so, rather than overrunning silently.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from legato.core.timer import in_timer_thread
from legato.runners._alarm import call_with_alarm, check_enforceable
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
        timeout = _timeout_of(work)
        if timeout is not None and not in_timer_thread():
            check_enforceable(work.task.name, timeout)  # a retry queued by the timer is checked where it runs
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
        timeout = _timeout_of(work)
        if timeout is None:
            run_into(future, work, upstream)
            return
        try:
            check_enforceable(work.task.name, timeout)
        except RuntimeError as refused:
            if future.set_running_or_notify_cancel():
                future.set_exception(refused)
            return
        name = work.task.name

        def interruptible(*values: Any) -> Any:  # the interrupt covers the task's call, never the settling
            # In a copy of the context: an interrupt that lands in the work item's own cleanup cannot
            # leave its task-run context set in the flow's thread.
            return contextvars.copy_context().run(call_with_alarm, lambda: work(*values), timeout, name)

        run_into(future, interruptible, upstream)

    def __repr__(self) -> str:
        return "SyncTaskRunner()"


def _timeout_of(work: Any) -> float | None:
    """The timeout a sync work item must be interrupted at (async tasks enforce their own)."""
    task = getattr(work, "task", None)  # batches of map elements never carry a timeout
    if task is None or getattr(task, "is_async", False):
        return None
    return getattr(task, "timeout_seconds", None)
