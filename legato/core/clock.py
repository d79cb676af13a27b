"""Time, in one place the engine asks: retry delays, timeouts, flow retries.

The engine never calls ``time.sleep`` or starts a timer of its own; it asks
the :class:`Clock` it was built with. The real one (:data:`REAL_CLOCK`)
puts deadlines on the process's single timer thread (:mod:`legato.core.timer`),
so waiting out a retry delay holds no worker. A test installs another with
:func:`use_clock` (see :class:`legato.testing.ManualClock`): time then moves
only when the test says so, and tests of retries and timeouts do not wait.

An engine takes the clock that is current when it is built, so a test's
clock governs the flow runs started inside its ``with use_clock(...)`` block.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from legato.core.timer import timer


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the engine needs of time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for deadlines)."""

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Cancellable:
        """Call ``fn(*args)`` once ``delay`` seconds have passed, on a thread that is not a worker."""

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds`` (a direct call's retry delay, a flow retry)."""

    async def sleep_async(self, seconds: float) -> None:
        """As :meth:`sleep`, for an async flow: the event loop stays free."""


class RealClock:
    """The wall: ``time.monotonic``, ``time.sleep`` and the process's timer thread."""

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Cancellable:
        return timer.call_later(delay, fn, *args)

    async def sleep_async(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(seconds)


REAL_CLOCK = RealClock()
_current: Clock = REAL_CLOCK


def current_clock() -> Clock:
    """The clock new engines and flow runs use."""
    return _current


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the current one inside the block (process-wide: timer callbacks run on other threads)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous


__all__ = ["REAL_CLOCK", "Cancellable", "Clock", "RealClock", "current_clock", "use_clock"]
