"""The work itself: plain functions that both sides run.

They live in an importable module so worker processes (processes, Dask,
Ray) load them by reference, the same way for legato and for the raw
backend.
"""

from __future__ import annotations

import time
from typing import Any


def noop(x: int) -> int:
    return x


def inc(x: int) -> int:
    return x + 1


def total(values: list[int]) -> int:
    return sum(values)


def total_of(*values: int) -> int:
    """``total`` for backends that resolve only top-level arguments (Ray)."""
    return sum(values)


def nap(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x


def block_index(block: "Any", start: int, size: int) -> int:
    """Which block of ``da.arange(start, start + n * size, chunks=size)`` this is (reads the whole block)."""
    return (int(block.max()) - start) // size
