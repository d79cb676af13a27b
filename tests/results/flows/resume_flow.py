"""A flow for the resume test: maps a slow task over N items under a run key.

Usage: python resume_flow.py N LOG OUT RUN_KEY

Each task run appends "start i" and "done i" to LOG (one write and one fsync per
line, so every line that exists survived a SIGKILL) and sleeps ~10 ms between
them. When every item is done the flow writes the squares to OUT as JSON
(temporary file, then rename), so OUT is either whole or missing.
"""

from __future__ import annotations

import json
import os
import sys
import time

from legato import flow, task, unmapped
from legato.runners import ThreadPoolTaskRunner

MAX_WORKERS = 4


def log_line(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{text}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@task
def square(i: int, log: str) -> int:
    log_line(log, f"start {i}")
    time.sleep(0.01)
    log_line(log, f"done {i}")
    return i * i


@flow(task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS))
def squares(n: int, log: str, out: str) -> list[int]:
    values = [future.result() for future in square.map(range(n), log=unmapped(log))]
    temporary = f"{out}.tmp"
    with open(temporary, "w") as file:
        json.dump(values, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, out)
    return values


if __name__ == "__main__":
    n, log, out, run_key = sys.argv[1:5]
    squares(int(n), log, out, run_key=run_key)
