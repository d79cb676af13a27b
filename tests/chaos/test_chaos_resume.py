"""SIGKILL the flow process mid-map, run it again with its run key: only what was in flight runs again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chaos_support import Clock, markers, tally

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]

FLOW = Path(__file__).resolve().parent / "flows" / "chaos_flow.py"
N = 100
KILL_AFTER = 30
DEADLINE = 90


def start(runner: str, folder: Path, out: Path, home: Path, address: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEGATO_HOME": str(home), "LEGATO_PROGRESS": "0"}
    args = [sys.executable, str(FLOW), runner, str(N), str(folder), str(out), "chaos-resume", "0.01"]
    return subprocess.Popen(args + ([address] if address else []), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the flow process and everything it started (its workers die with it, as on a lost machine)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate(timeout=DEADLINE)


def resume(runner: str, tmp_path: Path, in_flight: int | None, address: str | None = None) -> None:
    folder, out, home = tmp_path / "markers", tmp_path / "out.json", tmp_path / "home"
    folder.mkdir(exist_ok=True)
    clock = Clock()
    first = start(runner, folder, out, home, address)
    try:
        deadline = time.monotonic() + DEADLINE
        while sum(markers(folder, "done").values()) < KILL_AFTER:
            assert first.poll() is None, first.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, f"fewer than {KILL_AFTER} elements done in {DEADLINE} s"
            time.sleep(0.005)
    finally:
        kill_group(first)
    assert not out.exists(), "the first run finished before it was killed: nothing was tested"
    done_before = set(markers(folder, "done"))
    started_before = markers(folder)
    stored = sum(1 for p in (home / "results").rglob("*") if p.is_file() and not p.name.endswith(".tmp"))
    second = start(runner, folder, out, home, address)
    try:
        _, stderr = second.communicate(timeout=DEADLINE)
    finally:
        if second.poll() is None:
            kill_group(second)
    assert second.returncode == 0, stderr.decode()[-3000:]
    values = json.loads(out.read_text())
    executions = markers(folder)
    row = tally("SIGKILL the flow mid-map, resume by run key", runner, {i: i * i for i in range(N)},
                dict(enumerate(values)), executions, clock,
                note=f"{len(done_before)} done and {stored} stored at the kill")
    assert row.lost == 0 and row.wrong == 0
    assert set(executions) == set(range(N))
    # Exactly the elements without a stored record ran in the second run, each once.
    assert sum((executions - started_before).values()) == N - stored
    if in_flight is not None:  # a result is stored as soon as it is done: only what was in flight repeats
        assert row.duplicated <= in_flight


def test_threads(tmp_path: Path) -> None:
    resume("threads", tmp_path, in_flight=4)


def test_processes(tmp_path: Path, full_only: None) -> None:
    resume("processes", tmp_path, in_flight=4)  # 2 workers, each with one job queued behind the running one


def test_dask(tmp_path: Path, full_only: None) -> None:
    pytest.importorskip("distributed")
    # Its own cluster of 2 workers of 1 thread, started by each run; a worker writes each record itself.
    resume("dask", tmp_path, in_flight=2)
