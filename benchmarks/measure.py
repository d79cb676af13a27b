"""Timing and the record every measurement is kept as."""

from __future__ import annotations

import gc
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


class TimedOut(BaseException):
    """A measured call ran past its deadline (a BaseException, so no ``except Exception`` in legato eats it)."""


@dataclass
class Measurement:
    """One number of the suite, with the runs it came from.

    ``value`` is the reported number in ``unit``: for throughput the rate (or
    concurrency) of the best run; elsewhere seconds, bytes or a ratio.
    ``side`` is ``"legato"`` or ``"raw"`` where the two are compared.
    """

    section: str
    name: str
    value: float
    unit: str
    method: str
    runner: str | None = None
    side: str | None = None
    n: int | None = None
    runs: list[float] = field(default_factory=list)
    workers: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def timed(fn: Callable[[], Any], timeout: float | None = None) -> tuple[float, Any]:
    """Wall seconds of one call (after a garbage collection), and its value.

    A call still running after ``timeout`` seconds is interrupted with
    :class:`TimedOut` (on the main thread of a Unix process; elsewhere the
    timeout is not enforced), so a hung runner ends its measurement instead
    of the suite.
    """
    gc.collect()
    with deadline(timeout):
        started = time.perf_counter()
        value = fn()
        return time.perf_counter() - started, value


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimedOut` in this thread once ``seconds`` have passed (SIGALRM)."""
    if seconds is None or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise TimedOut(f"still running after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def reset_peak_rss() -> None:
    """Start a new peak-RSS window for this process (Linux ``/proc/self/clear_refs``; elsewhere nothing)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def peak_rss() -> int | None:
    """This process's peak RSS in bytes (Linux ``VmHWM``: since exec or :func:`reset_peak_rss`), or None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def say(text: str) -> None:
    """Progress for the person watching, on stderr (stdout gets the tables)."""
    print(text, file=sys.stderr, flush=True)
