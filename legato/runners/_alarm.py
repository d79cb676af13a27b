"""``timeout_seconds`` on the sync runner: an interrupt from ``SIGALRM``.

A sync task runs in the thread that waits for it, so no other thread can stop
it: the only way to end it on time is to interrupt that thread. POSIX lets
the main thread of the main interpreter take a signal and run a Python
handler, which raises :class:`~legato.core.errors.TaskTimeoutError` in the
task at its next bytecode (``time.sleep``, socket and most blocking calls
return early to let it). Elsewhere (another thread, Windows) a timeout cannot
be enforced, and :func:`check_enforceable` refuses it.

What this interrupt cannot do, stated so: stop C code that never returns to
the interpreter, or a task that catches the error and carries on (``except
BaseException``, ``except TimeoutError``). The previous ``SIGALRM`` handler and
any itimer already set (an outer task's) are restored when the task ends, with
the outer deadline kept.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from legato.core.errors import TaskTimeoutError


def enforceable() -> bool:
    """Whether a task running in this thread can be interrupted by ``SIGALRM``."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def check_enforceable(task_name: str, timeout: float) -> None:
    """Raise ``RuntimeError`` if a sync task with ``timeout`` could overrun silently in this thread."""
    if enforceable():
        return
    where = ("this platform has no SIGALRM" if not hasattr(signal, "setitimer")
             else f"this flow waits in thread {threading.current_thread().name!r}, not the main thread")
    raise RuntimeError(
        f"task {task_name!r} has timeout_seconds={timeout}, which the sync runner enforces only on the main "
        f"thread, with SIGALRM, and {where}: use task_runner='threads' or 'processes' for this flow, run it on "
        f"the main thread, or drop the timeout"
    )


def call_with_alarm(fn: Callable[[], Any], timeout: float, task_name: str) -> Any:
    """``fn()``, interrupted by ``TaskTimeoutError`` after ``timeout`` seconds (main thread only)."""
    armed = True

    def interrupt(signum: int, frame: Any) -> None:
        if armed:
            raise TaskTimeoutError(f"task {task_name!r} exceeded its timeout of {timeout} s (interrupted)")

    previous = signal.signal(signal.SIGALRM, interrupt)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, timeout)
    started = time.monotonic()
    try:
        return fn()
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:  # an outer task's deadline: what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - started), 1e-6),
                             outer_interval)


__all__ = ["call_with_alarm", "check_enforceable", "enforceable"]
