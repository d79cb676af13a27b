"""``ThreadPoolTaskRunner``: tasks run on a pool of threads in the flow's process.

The pool is elastic in one precise way: a worker that blocks waiting for
another legato future (a task that submits a task and waits for it) gives its
slot back while it waits, and a new thread is started if no idle thread can
take queued work. So at most ``max_workers`` tasks *run* at once, but waiting
never deadlocks the pool, however deep tasks nest. Extra threads retire as
soon as they are not needed.

A thread cannot be killed: a task that exceeds ``timeout_seconds`` is marked
TimedOut and the flow moves on, but its thread runs until the function
returns. Shutdown does not wait for such abandoned calls (the threads are
daemon threads).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence
from typing import Any

from legato.runners.base import RunnerFuture, TaskRunner, WorkItem
from legato.runners.local_future import LocalFuture, run_into

_STOP = None


class ThreadPoolTaskRunner(TaskRunner):
    name = "threads"
    shares_memory = True
    reports_start = True

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._reset()

    def _reset(self) -> None:
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._idle = 0
        self._blocked = 0
        self._local = threading.local()
        self._closing = False

    # -- lifecycle

    def start(self) -> None:
        self._closing = False
        super().start()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closing = True
            threads = list(self._threads)
        if cancel_futures:
            self._cancel_queued()
        for _ in threads:
            self._work.put(_STOP)
        if wait:
            current = threading.current_thread()
            for thread in threads:
                if thread is not current and not getattr(thread, "legato_abandoned", False):
                    thread.join()
        super().shutdown(wait, cancel_futures=cancel_futures)

    def _cancel_queued(self) -> None:
        while True:
            try:
                item = self._work.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                item[0].cancel()

    # -- work

    def submit(self, work: WorkItem, upstream: Sequence[RunnerFuture] = ()) -> RunnerFuture:
        future = LocalFuture()
        self._work.put((future, work, upstream))
        if self._idle == 0:
            self._maybe_add_thread()
        return future

    def abort(self, future: RunnerFuture) -> None:
        if not future.cancel():  # already running: the thread is abandoned, not killed
            owner = getattr(future, "thread", None)
            if owner is not None:
                owner.legato_abandoned = True  # type: ignore[attr-defined]

    def _maybe_add_thread(self) -> None:
        with self._lock:
            if self._closing or self._idle > 0:
                return
            if len(self._threads) - self._blocked >= self.max_workers:
                return
            thread = threading.Thread(target=self._worker, name=f"legato-thread-{len(self._threads)}", daemon=True)
            self._threads.add(thread)
            self._idle += 1
        thread.start()

    def _worker(self) -> None:
        self._local.worker = True
        me = threading.current_thread()
        try:
            while True:
                item = self._work.get()
                with self._lock:
                    self._idle -= 1
                if item is _STOP:
                    return
                future, work, upstream = item
                future.thread = me
                run_into(future, work, upstream)
                del future, work, upstream, item
                with self._lock:
                    if len(self._threads) - self._blocked > self.max_workers or self._closing:
                        return
                    self._idle += 1
        finally:
            with self._lock:
                self._threads.discard(me)

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        if event.is_set():
            return True
        if not getattr(self._local, "worker", False):
            return event.wait(timeout)
        with self._lock:
            self._blocked += 1
        try:
            if not self._work.empty():
                self._maybe_add_thread()
            return event.wait(timeout)
        finally:
            with self._lock:
                self._blocked -= 1

    def __repr__(self) -> str:
        return f"ThreadPoolTaskRunner(max_workers={self.max_workers})"
