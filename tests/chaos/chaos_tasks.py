"""The tasks of the chaos cases: each execution leaves markers (see chaos_support.mark)."""

from __future__ import annotations

import os
import time

from legato import task


def mark(folder: str, phase: str, element: int) -> None:
    """Leave the marker of one execution (``phase`` is "start" or "done"); see chaos_support."""
    name = f"{phase}-{element}-{os.getpid()}-{os.urandom(4).hex()}"
    os.close(os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


@task
def square(i: int, folder: str, seconds: float = 0.0) -> int:
    mark(folder, "start", i)
    if seconds:
        time.sleep(seconds)
    mark(folder, "done", i)
    return i * i
