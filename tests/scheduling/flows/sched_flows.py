"""Flows the end-to-end scheduling tests serve, backfill and limit (through the CLI)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from legato import flow, task

def note(**fields) -> None:
    """Append one JSON line to $SCHED_TEST_LOG (O_APPEND writes of one line do not interleave)."""
    with open(Path(os.environ.get("SCHED_TEST_LOG", "/dev/null")), "a") as out:
        out.write(json.dumps(fields) + "\n")


@task
def slow_step(i: int, seconds: float) -> int:
    time.sleep(seconds)
    return i


@flow
def ticker(steps: int = 3, seconds: float = 0.1) -> int:
    """A window that takes steps x seconds: long enough to be killed in the middle of."""
    total = 0
    for i in range(steps):
        total += slow_step(i, seconds)
    return total


@task
def load_day(day: str) -> str:
    note(event="task", day=day, pid=os.getpid())
    if day in os.environ.get("SCHED_TEST_FAIL_DAYS", "").split(","):
        raise RuntimeError(f"no data for {day}")
    return day


@flow
def daily_etl(day: str) -> str:
    return load_day(day)


@task(tags=["db"])
def query(i: int, seconds: float) -> int:
    start = time.time()
    time.sleep(seconds)
    note(event="query", start=start, end=time.time(), pid=os.getpid(), i=i)
    return i


@flow(task_runner="threads")
def warehouse(n: int = 6, seconds: float = 0.15) -> int:
    return sum(query.map(range(n), seconds=seconds).result())
