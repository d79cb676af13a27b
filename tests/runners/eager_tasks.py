"""Tasks for ``test_eager_submission.py``, imported by name on Dask and Ray workers.

An upstream blocks until the test creates a release file, so the test can
look at the dependent while its upstream is certainly still running. A
dependent appends to a log file each time its function runs, so a test can
tell "did not run" from "ran and failed".
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from legato import task

#: a hang bound, not a timing: an upstream never waits longer than this for its release
RELEASE_WAIT_SECONDS = 60.0


def wait_for_release(release: str) -> None:
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError(f"never released: {release}")
        time.sleep(0.005)


def attempts(log: str) -> int:
    """How many times something logged to ``log`` (one line each)."""
    path = Path(log)
    return len(path.read_text().splitlines()) if path.exists() else 0


def _note(log: str, what: str) -> None:
    with open(log, "a") as file:
        file.write(what + "\n")


@task
def held(release: str, value: int) -> int:
    wait_for_release(release)
    return value


@task
def held_then_fails(release: str) -> int:
    wait_for_release(release)
    raise ValueError("upstream failed on purpose")


@task(retries=2, retry_delay_seconds=0)
def held_fails_once(release: str, log: str) -> int:
    wait_for_release(release)
    _note(log, "upstream")
    if attempts(log) == 1:
        raise ValueError("first attempt fails")
    return 40


@task(runner_options={"max_retries": 0})
def held_then_exits(release: str) -> int:
    wait_for_release(release)
    os._exit(3)


@task
def plus_one(x: int, log: str) -> int:
    _note(log, "dependent")
    return x + 1


@task
def add(x: int, y: int, log: str) -> int:
    _note(log, "dependent")
    return x + y


@task
def describe(x: Any, log: str) -> str:
    _note(log, "dependent")
    return type(x).__name__


@task(retries=1, retry_delay_seconds=0)
def fails_first_time(x: int, log: str) -> int:
    _note(log, "dependent")
    if attempts(log) == 1:
        raise RuntimeError("the dependent's own first attempt fails")
    return x * 2


@task
def always_fails(x: int, log: str) -> int:
    _note(log, "dependent")
    raise KeyError("the dependent fails")


class CodedError(Exception):
    """An error whose pickle keeps only its arguments (as some libraries' errors do): attributes set on it are lost."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code

    def __reduce__(self) -> Any:
        return (CodedError, (self.code,))


@task
def fails_with_code(x: int, log: str) -> int:
    _note(log, "dependent")
    raise CodedError(x)
