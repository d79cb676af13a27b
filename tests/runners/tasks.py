"""Tasks for the runner tests, defined at module level so every worker can import them.

Worker processes (the process pool's, Dask's, Ray's) find this module by name:
pytest puts this folder on ``sys.path``, forkserver and spawned workers
inherit it, and ``_cluster.py`` passes it to Ray's workers in ``PYTHONPATH``.
Tasks that leave a trace do it in a file under the test's ``tmp_path``, so
the trace survives the process that ran them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from legato import get_run_logger, task


class CustomError(Exception):
    """An exception type of the tests' own, to check types survive the trip."""


def append(path: str | Path, text: str) -> None:
    """Append one line to ``path`` (one write call, so concurrent appends do not interleave)."""
    with open(path, "a") as file:
        file.write(f"{text}\n")


def lines(path: str | Path) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def double(x: int) -> int:
    return 2 * x


@task
def inc(x: int) -> int:
    return x + 1


@task
def total(values: list[int]) -> int:
    return sum(values)


@task
def describe(items: list[int], mapping: dict[str, int], pair: tuple[int, int], members: set[int]) -> tuple[Any, ...]:
    return items, mapping, pair, sorted(members)


@task
def write_line(path: str, text: str, delay: float = 0.0) -> str:
    time.sleep(delay)
    append(path, text)
    return text


@task
def fail(message: str) -> None:
    raise CustomError(message)


@task
def raise_value_error(message: str) -> None:
    raise ValueError(message)


@task
def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


@task(retries=3, retry_delay_seconds=0.1)
def flaky(path: str, succeed_on: int) -> int:
    """Fails until its ``succeed_on``-th attempt; the attempts are counted in ``path``."""
    append(path, "attempt")
    attempts = len(lines(path))
    if attempts < succeed_on:
        raise RuntimeError(f"attempt {attempts} fails on purpose")
    return attempts


@task
def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task
def inner(x: int) -> int:
    return 10 * x


@task
def outer_submits(x: int) -> int:
    """Submits a task and waits for it (runners in the flow's memory)."""
    return inner.submit(x).result() + 1


@task
def outer_calls(x: int) -> int:
    """Calls a task directly: it runs inline, wherever this task runs."""
    return inner(x) + 1


@task
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0.01)
    return a + b


@task
def make_blob(size: int) -> bytes:
    return bytes(range(256)) * (size // 256)


@task
def digest(blob: bytes) -> tuple[int, str]:
    return len(blob), hashlib.sha256(blob).hexdigest()


@task
def sum_items(items: list[int]) -> tuple[int, int]:
    return len(items), sum(items)


@task
def make_generator(n: int) -> Any:
    return (i for i in range(n))


@task
def make_lock() -> Any:
    return threading.Lock()


@task
def pid() -> int:
    return os.getpid()


@task
def pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@task(log_prints=True)
def chatty(x: int) -> int:
    get_run_logger().info("logged %d", x)
    print(f"printed {x}")
    return x


@task
def slow_index(path: str, index: int, delay: float) -> int:
    """Appends its index to ``path`` and sleeps: the worker-kill test counts these lines."""
    append(path, str(index))
    time.sleep(delay)
    return index


@task
def exit_process(code: int) -> None:
    os._exit(code)


@task
def identity(value: Any) -> Any:
    return value


@task
def crash_on(x: int, bad: int, how: str, path: str) -> int:
    """Returns ``x``, except for ``bad``, which notes the attempt in ``path`` and kills its own process."""
    if x != bad:
        return x
    append(path, "attempt")
    if how == "exit":
        os._exit(3)
    if how == "kill":
        os.kill(os.getpid(), 9)
    import ctypes

    ctypes.string_at(0)  # segmentation fault
    return x


@task
def where(x: int) -> tuple[int, int, str]:
    return 10 * x, os.getpid(), threading.current_thread().name


@task
def fan_out_in_worker(n: int) -> tuple[int, set[int], set[str]]:
    """Maps a task from inside a task and gathers the results."""
    results = where.map(range(n)).result()
    return sum(r[0] for r in results), {r[1] for r in results}, {r[2] for r in results}


@task
def failing_child() -> tuple[str, str]:
    """Submits a task that fails, and reports how it ended."""
    future = raise_value_error.submit("child 1")
    future.wait()
    error = future.state.data
    return future.state.name, f"{type(error).__name__}: {error}"


@task
def report_artifact(key: str, n: int) -> int:
    """Leaves a table artifact under ``key`` (tests/runners/test_artifacts_runners.py)."""
    from legato.artifacts import create_table_artifact

    create_table_artifact({"n": [n], "pid": [os.getpid()]}, key=key, description=f"element {n}")
    return n
