"""Prefect's side from the suite's process: one child process per runner.

:func:`environment` gives Prefect a temporary ``PREFECT_HOME`` for the whole
run, before any cluster starts, so the Dask and Ray workers (which inherit
this process's environment) use it too; no ``PREFECT_API_URL``, so Prefect
3.9 starts its temporary local server (the ephemeral mode) in the child; a
longer server start-up timeout than Prefect's 20 s default (a loaded
2-core machine needs more), quiet logging, no telemetry.

:func:`run` starts :mod:`benchmarks.peers.prefect_child` in a session of
its own, shows its progress lines (on its stdout) as they come, and ends the whole session
afterwards: Prefect's server process would otherwise outlive a child that
timed out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.measure import Measurement
from benchmarks.peers.budget import SideResult, call_timeout

#: the legato runners Prefect is compared on, and the package each needs besides prefect
RUNNERS = {"threads": None, "processes": None, "dask": "prefect_dask", "ray": "prefect_ray"}

ENVIRONMENT = {
    "PREFECT_LOGGING_LEVEL": "ERROR",
    "PREFECT_LOGGING_TO_API_ENABLED": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
}


@contextmanager
def environment(home: Path) -> Iterator[None]:
    """Prefect's settings for this run (``PREFECT_HOME`` under ``home``); restored afterwards."""
    keys = [*ENVIRONMENT, "PREFECT_HOME", "PREFECT_API_URL", "PREFECT_PROFILES_PATH"]
    saved = {key: os.environ.get(key) for key in keys}
    prefect_home = home / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(ENVIRONMENT, PREFECT_HOME=str(prefect_home))
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("PREFECT_PROFILES_PATH", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(runner: str, workers: int, workers_text: str | None, address: str | None, jobs: list[tuple[str, int]],
        budget: float, repeat: int) -> tuple[str, SideResult]:
    """Prefect on ``runner``'s workers: (how it was set up, what it measured); raises if the child fails."""
    spec = {"runner": runner, "workers": workers, "workers_text": workers_text, "address": address,
            "jobs": jobs, "budget": budget, "repeat": repeat}
    # the server's start, the untimed first flow, and per job its probes and runs
    timeout = 600 + len(jobs) * 2 * call_timeout(budget)
    output = _run_child(["-m", "benchmarks.peers.prefect_child", json.dumps(spec)], timeout)
    result = SideResult([Measurement(**m) for m in output["measurements"]], output["errors"],
                        output["not_applicable"])
    return output["method"], result


def _run_child(args: list[str], timeout: float) -> dict[str, Any]:
    """The child's last stdout line, as JSON; its progress lines are shown as they come."""
    from benchmarks.peers.prefect_child import PROGRESS

    child = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    lines: list[str] = []
    tail: deque[str] = deque(maxlen=40)  # stderr, for an error message
    readers = [threading.Thread(target=_read_stdout, args=(child.stdout, lines, PROGRESS), daemon=True),
               threading.Thread(target=tail.extend, args=(line.rstrip() for line in child.stderr),  # type: ignore[union-attr]
                                daemon=True)]
    for reader in readers:
        reader.start()
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Prefect's child process still running after {timeout:.0f} s") from None
    finally:
        _end_session(child)
        child.wait()
        for reader in readers:
            reader.join(timeout=10)
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"Prefect's child process exited with {child.returncode}: " + " | ".join(tail)[-600:])
    return json.loads(lines[-1])


def _read_stdout(stream: Any, lines: list[str], marker: str) -> None:
    for line in stream:
        if line.startswith(marker):
            sys.stderr.write(line[len(marker):])
            sys.stderr.flush()
        elif line.strip():
            lines.append(line)


def _end_session(child: subprocess.Popen[str]) -> None:
    """Stop what the child left running in its session (Prefect's server), then the child."""
    try:
        os.killpg(child.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
