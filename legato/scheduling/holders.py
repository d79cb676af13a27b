"""Who holds a window or a slot, and whether that holder is still alive.

A holder is ``host:pid:start-time``. On the same host a holder is dead as
soon as its process is gone (or the pid was reused by a process started at
another time), so a SIGKILLed server or flow frees what it held at once;
on another host only the lease expiry can tell.
"""

from __future__ import annotations

import functools
import os
import socket

import psutil


@functools.lru_cache(maxsize=4)
def _identity(pid: int) -> str:
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        started = 0.0
    return f"{socket.gethostname()}:{pid}:{started:.2f}"


def current_holder() -> str:
    """This process as a holder (pid-keyed, so a forked child is a holder of its own)."""
    return _identity(os.getpid())


def holder_alive(holder: str) -> bool:
    """False when ``holder`` is a process of this host that no longer runs; True when unsure."""
    host, _, rest = holder.partition(":")
    pid_text, _, started_text = rest.partition(":")
    if host != socket.gethostname():
        return True
    try:
        pid, started = int(pid_text), float(started_text)
    except ValueError:
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - started) < 0.05
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


__all__ = ["current_holder", "holder_alive"]
