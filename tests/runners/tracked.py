"""What the Dask and Ray tests share: a value that reports where it is unpickled, and results that cannot leave.

Data locality is proved by where :class:`Tracked` values are unpickled: a
downstream task on the cluster must receive its upstream's value without the
flow process ever loading it. :func:`check_unsendable_results` runs the same
flows on either backend. Workers import this module by name (this folder is
on their path, see ``_cluster.py``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from legato import allow_failure, flow, quote, task
from legato.core.errors import SerializationError
from legato.runners.base import TaskRunner
from tasks import describe_error


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


@task
def bad(x: int) -> int:
    raise KeyError(f"no {x}")


@task
def every_third_fails(x: int) -> int:
    if x % 3 == 0:
        raise ValueError(f"{x} is a multiple of 3")
    return x


@task
def double_slowly(x: int, marker: str) -> int:
    """``2 * x`` after 20 ms, noting in ``marker`` which process ran it."""
    with open(marker, "a") as file:
        file.write(f"{os.getpid()}\n")
    time.sleep(0.02)
    return 2 * x


@task
def label_of(value: Any) -> str:
    return value.label


@task
def lock_or_value(x: int) -> object:
    """``x``, or for multiples of 7 a lock, which no pickler can serialize."""
    return threading.Lock() if x % 7 == 0 else x


def check_unsendable_results(make_runner: Callable[[], TaskRunner], worker: str) -> SerializationError:
    """A result that cannot be serialized fails its run, and only its run, naming it; returns that error.

    ``worker`` is how the message names where the value was computed ("Dask worker").
    """

    @flow(task_runner=make_runner())
    def unsendable() -> tuple[object, list[object], str, int]:
        single = lock_or_value.submit(0)
        mapped = lock_or_value.map(range(40))
        handed = describe_error.submit(allow_failure(single))
        kept = inc.submit(mapped[1])  # a good element's value still goes on from the cluster
        mapped.wait(timeout=30)
        return (quote((single, list(mapped))), mapped.result(timeout=30, raise_on_failure=False),
                handed.result(timeout=30), kept.result(timeout=30))

    (single, mapped), values, handed, kept = unsendable()
    error = single.state.data
    assert single.state.is_failed() and isinstance(error, SerializationError)
    assert f"task run {single.task_run.name!r} cannot be serialized" in str(error), error
    assert worker in str(error) and "'lock'" in str(error)
    assert handed == f"SerializationError: {error}"  # allow_failure hands it over like any failure
    assert kept == 2
    assert [x for x in values if isinstance(x, int)] == [x for x in range(40) if x % 7]
    for future, value in zip(mapped, values):
        if isinstance(value, BaseException):
            assert isinstance(value, SerializationError) and future.task_run.name in str(value)

    @flow(task_runner=make_runner())
    def returns_it() -> object:
        return lock_or_value.submit(7)

    with pytest.raises(SerializationError, match="lock_or_value-0"):
        returns_it()
    return error
