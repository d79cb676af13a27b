"""Flows for the CLI's first-hour tests (``test_cli_first_hour.py``), run through the real engine."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

from legato import flow, task


@task
def noop(x: int) -> int:
    return x


@task
def use(lock: Any) -> int:
    return 1


@flow
def typed(day: str, n: int = 1, folder: Optional[Path] = None, raw=None, anything: Any = None) -> tuple:
    """Reports what it was called with, types included."""
    return (type(day).__name__, day, n, type(folder).__name__, raw, anything)


@flow(task_runner="processes")
def locked() -> int:
    """Sends a lock to a worker process: it cannot be pickled."""
    return use.submit(threading.Lock()).result()


@flow(task_runner="threads")
def many(n: int = 1000) -> int:
    return len(noop.map(range(n)).result())
