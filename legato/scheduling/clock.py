"""The scheduler's notion of time, injectable so tests never wait on the wall clock.

A clock answers two questions: what time is it (an aware UTC datetime), and
"wait until this time unless this event is set first". :class:`SystemClock`
is the real one; :class:`FakeClock` is moved by hand (``advance``), and a
thread waiting on it wakes as soon as the fake time passes its deadline, so a
test covers a day of schedules in milliseconds.

This is deliberately a small Protocol local to :mod:`legato.scheduling`; a
core clock for retries and timeouts may later take its place.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

#: The longest a fake wait blocks in real time before it gives up (a hang bound for tests).
FAKE_WAIT_BOUND_SECONDS = 30.0


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def wait_until(self, deadline: datetime, stop: threading.Event) -> bool:
        """Block until ``deadline`` or until ``stop`` is set; return whether ``stop`` is set."""
        ...


class SystemClock:
    """The wall clock. Waits in short slices so a changed system time is noticed."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def wait_until(self, deadline: datetime, stop: threading.Event) -> bool:
        while not stop.is_set():
            remaining = (deadline - self.now()).total_seconds()
            if remaining <= 0:
                return False
            stop.wait(min(remaining, 1.0))
        return True


class FakeClock:
    """A clock that moves only when told to; waiters wake when it passes their deadline."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(timezone.utc)
        self._changed = threading.Condition()
        #: how many threads are blocked in wait_until (tests use it to know the loop is idle)
        self.waiting = 0

    def now(self) -> datetime:
        with self._changed:
            return self._now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        with self._changed:
            self._now += timedelta(seconds=seconds, **delta)
            self._changed.notify_all()
            return self._now

    def set(self, moment: datetime) -> None:
        with self._changed:
            self._now = moment.astimezone(timezone.utc)
            self._changed.notify_all()

    def poke(self) -> None:
        """Wake waiters without moving time (after setting a stop event, say)."""
        with self._changed:
            self._changed.notify_all()

    def wait_until(self, deadline: datetime, stop: threading.Event) -> bool:
        bound = time.monotonic() + FAKE_WAIT_BOUND_SECONDS
        with self._changed:
            self.waiting += 1
            try:
                while not stop.is_set() and self._now < deadline:
                    if time.monotonic() > bound:
                        raise TimeoutError("FakeClock.wait_until waited too long in real time")
                    self._changed.wait(0.01)
            finally:
                self.waiting -= 1
        return stop.is_set()


__all__ = ["Clock", "FakeClock", "SystemClock"]
