"""The flow process itself: a damaged history under it, SIGINT in the middle of a map, a stuck sync task."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from chaos_support import Clock, markers, tally

from legato.history import list_runs, task_runs

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

FLOW = Path(__file__).resolve().parent / "flows" / "chaos_flow.py"
DEADLINE = 60


def run_flow(runner: str, n: int, folder: Path, out: Path, home: Path, seconds: float = 0.0,
             run_key: str = "-") -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEGATO_HOME": str(home), "LEGATO_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, str(FLOW), runner, str(n), str(folder), str(out), run_key,
                             str(seconds)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def finish(process: subprocess.Popen[bytes], timeout: float = DEADLINE) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"the flow process did not end within {timeout} s")
    return process.returncode, stderr.decode()


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def truncated(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size // 2)


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_damaged_history(how: str, folder: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if how != "garbage":
        request.getfixturevalue("full_only")
    home, out = tmp_path / "home", tmp_path / "out.json"
    code, stderr = finish(run_flow("threads", 300, folder, out, home))
    assert code == 0, stderr
    database = home / "history.db"
    {"garbage": garbage, "truncated": truncated}[how](database)
    before = markers(folder)
    clock = Clock()
    code, stderr = finish(run_flow("threads", 100, folder, out, home))
    assert code == 0, stderr[-3000:]
    values = json.loads(out.read_text())
    assert values == [i * i for i in range(100)]
    moved = [p for p in home.iterdir() if p.name.startswith("history.db.corrupt-") and "-wal" not in p.name
             and "-shm" not in p.name]
    assert len(moved) == 1
    warnings = [line for line in stderr.splitlines() if "damaged" in line]
    assert len(warnings) == 1 and str(moved[0]) in warnings[0] and str(database) in warnings[0]
    runs = list_runs(db=database)
    assert len(runs) == 1 and runs[0].state_name == "Completed"
    recorded = {t.map_index: t.state_name for t in task_runs(runs[0].id, db=database)}
    tally(f"damaged history.db ({how})", "threads", dict.fromkeys(range(100), "Completed"), recorded,
          markers(folder) - before, clock, note=f"moved to {moved[0].name.split('.db.')[1]}; task runs recorded")
    assert recorded == dict.fromkeys(range(100), "Completed")


@pytest.mark.parametrize("runner", ["processes", "threads"])
def test_sigint_mid_map_leaves_no_process_behind(runner: str, folder: Path, tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
    if runner != "processes":
        request.getfixturevalue("full_only")
    home, out = tmp_path / "home", tmp_path / "out.json"
    process = run_flow(runner, 400, folder, out, home, seconds=0.05)
    clock = Clock()
    deadline = time.monotonic() + DEADLINE
    while sum(markers(folder).values()) < 10:
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "the map did not start"
        time.sleep(0.005)
    descendants = psutil.Process(process.pid).children(recursive=True)
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    code, stderr = finish(process, timeout=20)
    stopped = time.monotonic() - interrupted
    gone, alive = psutil.wait_procs(descendants, timeout=10)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    executions = markers(folder)
    tally("SIGINT mid-map", runner, {}, None, executions, clock,
          note=f"exit {code} {stopped:.1f} s after SIGINT; {len(descendants)} child processes, {len(alive)} left")
    assert code != 0 and not out.exists()
    assert "Traceback" not in stderr or "KeyboardInterrupt" in stderr
    assert alive == [], f"left behind: {[(p.pid, p.name()) for p in alive]}"
    assert sum(executions.values()) < 400 and max(executions.values()) == 1


def test_a_stuck_sync_task_with_a_timeout(folder: Path) -> None:
    from legato import flow, task
    from legato.runners import SyncTaskRunner

    @task(timeout_seconds=0.2)
    def stuck(i: int) -> int:
        from chaos_tasks import mark

        mark(str(folder), "start", i)
        time.sleep(10)
        mark(str(folder), "done", i)
        return i

    @flow(task_runner=SyncTaskRunner())
    def body() -> str:
        return stuck(0, return_state=True).name

    clock = Clock()
    assert body() == "TimedOut"
    row = tally("sync task past timeout_seconds (0.2 s, sleeps 10 s)", "sync", {}, None, markers(folder), clock,
                note="interrupted by SIGALRM")
    assert row.seconds < 5 and markers(folder, "done") == {}
