"""Real flows whose runs the web view tests look at.

Each is small and quick; together they leave in the history what a person
would look for: a failed run with a traceback, a mapped fan-out with mixed
states, retries, logs at several levels, and hostile text (a task error and
a parameter holding ``<script>`` and ``onerror=``) that must show as text.
"""

from __future__ import annotations

import threading
import time

from legato import allow_failure, flow, get_run_logger, task, unmapped
from legato.runners.threads import ThreadPoolTaskRunner

XSS = '<script>window.__xss=1;alert("xss")</script><img src=x onerror="window.__xss=2">'


@task
def make_items(n: int) -> list[int]:
    return list(range(n))


@task
def square(x: int) -> int:
    time.sleep(0.002 * (x % 5))
    if x % 7 == 3:
        raise ValueError(f"item {x} is not allowed")
    return x * x


@task
def label(x: int) -> str:
    return f"#{x}"


@task
def total(values: list) -> int:
    return sum(v for v in values if isinstance(v, int))


@flow(task_runner="threads")
def squares(n: int = 20) -> int:
    """items -> a map of ``n`` squares (every seventh fails) -> a map of labels -> a total.

    The flow completes; the labels of failed squares stay Pending (NotReady).
    """
    logger = get_run_logger()
    logger.info("squaring %d items", n)
    items = make_items.submit(n)
    squared = square.map(items)
    label.map(squared)
    result = total.submit([allow_failure(f) for f in squared])
    logger.warning("some items may fail")
    return result


@task(retries=2, retry_delay_seconds=0)
def fetch(source: str) -> str:
    raise ConnectionError(f"cannot reach {source}")


@flow(task_runner="threads")
def nightly(source: str = "warehouse") -> str:
    """Fails: its one task raises after two retries."""
    get_run_logger().info("fetching from %s", source)
    return fetch(source)


@task
def hostile(text: str) -> None:
    raise RuntimeError(text)


@flow
def xss_flow(note: str = XSS) -> None:
    """Fails with an error and a log line holding an XSS payload; its parameter holds one too."""
    get_run_logger().error("log line: %s", note)
    hostile(note)


@task
def slow_item(x: int, delay: float) -> int:
    time.sleep(delay)
    return x


@flow(task_runner="threads")
def slow_map(n: int = 30, delay: float = 0.1) -> int:
    """A map that takes a while, for the live view."""
    return sum(f.result() for f in slow_item.map(range(n), delay))


@task
def half_gated_item(x: int, first_half: int, gate: threading.Event) -> int:
    if x >= first_half:  # the second half waits until the test has seen the first half finished
        gate.wait(timeout=30)
    return x


@flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
def half_gated_map(n: int, gate: threading.Event) -> int:
    """A map whose second half waits for ``gate``: a run that is certainly still running."""
    return sum(f.result() for f in half_gated_item.map(range(n), n // 2, unmapped(gate)))


@task
def noop(x: int) -> int:
    return x


@flow(task_runner="threads")
def big_map(n: int = 200_000) -> int:
    """A fan-out of ``n`` no-op task runs (the 200,000-task page)."""
    futures = noop.map(range(n))
    futures.wait()
    return n


@flow
def noop_flow(i: int) -> int:
    """The smallest flow: one run in the history."""
    return i


@task
def gated_item(x: int, delay: float, gate: str) -> int:
    """Waits (at most 60 s) until the file ``gate`` exists, then takes ``delay`` seconds."""
    import os

    deadline = time.monotonic() + 60
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(delay)
    return x


@flow(task_runner="threads")
def gated_map(n: int, delay: float, gate: str) -> int:
    """A map that starts its work when the test says so (by creating ``gate``)."""
    return sum(f.result() for f in gated_item.map(range(n), delay, gate))
