"""A lean future for runners that execute in the flow's own process.

``concurrent.futures.Future`` allocates a condition variable per future so
callers can block on it; the engine never blocks on a runner's future (it
only registers a done callback), so the sync and thread runners use this
one: a few slots, one shared lock, no per-future condition. It implements
the :class:`~legato.runners.base.RunnerFuture` protocol.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Any

_lock = threading.Lock()

_PENDING, _RUNNING, _DONE, _CANCELLED = range(4)


class LocalFuture:
    __slots__ = ("_state", "_result", "_error", "_callbacks", "_start_callbacks", "thread")

    def __init__(self) -> None:
        self._state = _PENDING
        self._result: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[LocalFuture], object]] | None = None
        self._start_callbacks: list[Callable[[LocalFuture], object]] | None = None
        #: the worker thread running it, so a timed-out call can be marked abandoned
        self.thread: threading.Thread | None = None

    # -- consumer side

    def add_done_callback(self, fn: Callable[[LocalFuture], object], /) -> None:
        with _lock:
            if self._state < _DONE:
                if self._callbacks is None:
                    self._callbacks = [fn]
                else:
                    self._callbacks.append(fn)
                return
        fn(self)

    def add_start_callback(self, fn: Callable[[LocalFuture], object], /) -> None:
        """Call ``fn(self)`` when a worker starts the work (at once if it has): where timeouts count from."""
        with _lock:
            if self._state == _PENDING:
                self._start_callbacks = [*(self._start_callbacks or ()), fn]
                return
        fn(self)

    def done(self) -> bool:
        return self._state >= _DONE

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self, timeout: float | None = None) -> Any:
        if self._state == _CANCELLED:
            raise CancelledError()
        if self._state != _DONE:
            raise RuntimeError("LocalFuture.result() called before the work finished")
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state == _CANCELLED:
            raise CancelledError()
        return self._error

    def cancel(self) -> bool:
        with _lock:
            if self._state != _PENDING:
                return self._state == _CANCELLED
            self._state = _CANCELLED
            callbacks, self._callbacks = self._callbacks, None
        self._fire(callbacks)
        return True

    # -- runner side

    def set_running_or_notify_cancel(self) -> bool:
        with _lock:
            if self._state == _CANCELLED:
                return False
            self._state = _RUNNING
            started, self._start_callbacks = self._start_callbacks, None
        self._fire(started)
        return True

    def set_result(self, result: Any) -> None:
        with _lock:
            self._result = result
            self._state = _DONE
            callbacks, self._callbacks = self._callbacks, None
        self._fire(callbacks)

    def set_exception(self, error: BaseException) -> None:
        with _lock:
            self._error = error
            self._state = _DONE
            callbacks, self._callbacks = self._callbacks, None
        self._fire(callbacks)

    def _fire(self, callbacks: list[Callable[[LocalFuture], object]] | None) -> None:
        for callback in callbacks or ():
            try:
                callback(self)
            except BaseException:  # a callback must never take the worker thread down with it
                logging.getLogger("legato.runners").exception("done callback %r raised", callback)


def run_into(future: LocalFuture, work: Any, upstream: Any) -> None:
    """Run ``work`` with its upstream values and settle ``future`` with the outcome."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = work(*[u.result() for u in upstream]) if upstream else work()
    except BaseException as error:
        future.set_exception(error)
    else:
        future.set_result(result)
