"""What the Dask and Ray tests share: a value that reports where it is unpickled.

Data locality is proved by where :class:`Tracked` values are unpickled: a
downstream task on the cluster must receive its upstream's value without the
flow process ever loading it. Workers import this module by name (this folder
is on their path, see ``_cluster.py``).
"""

from __future__ import annotations

import os

from legato import task


class Tracked:
    """A value that writes the pid of every process that unpickles it to ``log``."""

    def __init__(self, log: str, size: int) -> None:
        self.log = log
        self.payload = b"x" * size

    def __getstate__(self) -> tuple[str, bytes]:
        return self.log, self.payload

    def __setstate__(self, state: tuple[str, bytes]) -> None:
        self.log, self.payload = state
        with open(self.log, "a") as file:
            file.write(f"{os.getpid()}\n")


@task
def make_tracked(log: str, size: int) -> Tracked:
    return Tracked(log, size)


@task
def measure(value: Tracked) -> int:
    return len(value.payload)


@task
def inc(x: int) -> int:
    return x + 1
