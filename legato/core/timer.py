"""One timer thread for the whole process: retry delays and timeouts.

Waiting out a retry delay or a timeout must not occupy a worker, so the
engine puts a deadline here instead. The thread sleeps until the earliest
deadline, runs its callback (which only re-dispatches or marks a state, so it
is short), and goes back to sleep. It is started on first use and is a daemon
thread, so it never keeps the interpreter alive.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any


class TimerHandle:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Timer:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerHandle, Callable[..., Any], tuple[Any, ...]]] = []
        self._counter = itertools.count()
        self._wakeup = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        handle = TimerHandle()
        with self._wakeup:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._counter), handle, fn, args))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="legato-timer", daemon=True)
                self._thread.start()
            self._wakeup.notify()
        return handle

    def _loop(self) -> None:
        while True:
            with self._wakeup:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wakeup.wait(timeout)
                _, _, handle, fn, args = heapq.heappop(self._heap)
            if not handle.cancelled:
                try:
                    fn(*args)
                except BaseException:  # a timer callback must never kill the timer
                    import logging

                    logging.getLogger("legato.engine").exception("timer callback %r failed", fn)


def in_timer_thread() -> bool:
    return threading.current_thread().name == "legato-timer"


timer = Timer()

__all__ = ["Timer", "TimerHandle", "in_timer_thread", "timer"]
