"""Prefect's side from the suite's process: one server, one child process per runner.

:func:`environment` gives Prefect a temporary ``PREFECT_HOME`` and starts
one ``prefect server start`` on a loopback port for the whole run, before
any cluster starts, with its URL in ``PREFECT_API_URL``, so the child
processes and the Dask and Ray workers (which inherit this process's
environment) all report to it; quiet logging, no telemetry, no UI.

:func:`run` starts :mod:`benchmarks.peers.prefect_child` in a session of
its own, shows its progress lines (on its stdout) as they come, and ends the
whole session afterwards, as :func:`environment` ends the server's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.measure import Measurement, say
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
    """Prefect's settings and server for this run (``PREFECT_HOME`` under ``home``); restored and stopped afterwards."""
    keys = [*ENVIRONMENT, "PREFECT_HOME", "PREFECT_API_URL", "PREFECT_PROFILES_PATH"]
    saved = {key: os.environ.get(key) for key in keys}
    prefect_home = home / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(ENVIRONMENT, PREFECT_HOME=str(prefect_home))
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("PREFECT_PROFILES_PATH", None)
    server = _start_server() if importlib.util.find_spec("prefect") else None
    try:
        yield
    finally:
        if server is not None:
            _end_session(server)
            server.wait(timeout=60)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _start_server(timeout: float = 300) -> subprocess.Popen[bytes] | None:
    """``prefect server start`` on a free loopback port, its URL in ``PREFECT_API_URL``; None if it does not start.

    Without an API URL, Prefect 3.9 starts a temporary server in every
    process that runs a task: the child, and each Dask and Ray worker too
    (three servers on one SQLite file for the Dask side). One server for the
    whole run, started before any cluster, is what the workers inherit.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    say(f"prefect: starting its server on 127.0.0.1:{port}")
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port), "--no-ui", "--analytics-off", "--no-scheduler",
                               "--no-late-runs", "--log-level", "WARNING"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with opener.open(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    os.environ["PREFECT_API_URL"] = url
                    return server
        except OSError:
            time.sleep(1)
    _end_session(server)
    say(f"prefect: its server did not answer within {timeout:.0f} s; each Prefect process starts a temporary one")
    return None


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
               threading.Thread(target=_read_stderr, args=(child.stderr, tail), daemon=True)]
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


def _read_stderr(stream: Any, tail: deque[str]) -> None:
    for line in stream:
        tail.append(line.rstrip())


def _end_session(child: subprocess.Popen[Any]) -> None:
    """Stop what the child left running in its session (Prefect's server), then the child."""
    try:
        os.killpg(child.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
