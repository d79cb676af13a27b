"""Several processes share one database; a killed process leaves a CRASHED run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from legato.history import RunNotFound, edges, get_run, list_runs, task_runs
from legato.history.crashes import process_alive

REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import sys, time
    from legato.history import HistoryRecorder

    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Tiny batches on purpose: many small transactions fight for the lock.
    rec = HistoryRecorder(path, flush_interval=0.002, batch_rows=50)
    flow_id = f"{tag}-flow"
    rec.flow_run_started(id=flow_id, name=tag, flow_name="stress", parameters={"tag": tag},
                         run_key=None, runner="processes", tags=[], started_at=time.time())
    for i in range(n):
        rec.task_run_finished(id=f"{tag}-{i}", flow_run_id=flow_id, name=f"work-{i}", task_name="work",
                              map_index=i, state_type="COMPLETED", state_name="Completed", attempts=1,
                              started_at=time.time(), ended_at=time.time(), error=None,
                              upstream_ids=[f"{tag}-{i - 1}"] if i else [], tags=[])
        if i % 100 == 0:
            rec.log(flow_run_id=flow_id, task_run_id=f"{tag}-{i}", ts=time.time(), level="INFO",
                    logger="stress", message=f"{tag} at {i}")
    rec.flow_run_finished(id=flow_id, state_type="COMPLETED", state_name="Completed",
                          ended_at=time.time(), error=None)
    rec.close()
    """
)

SLEEPER = textwrap.dedent(
    """
    import sys, time
    from legato.history import HistoryRecorder

    rec = HistoryRecorder(sys.argv[1])
    rec.flow_run_started(id="doomed", name="doomed", flow_name="sleepy", parameters={}, run_key=None,
                         runner="threads", tags=[], started_at=time.time())
    time.sleep(60)
    """
)


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_four_writer_processes_lose_nothing(db):
    processes, tasks_each = 4, 2000
    writers = [_python(WRITER, str(db), f"p{i}", str(tasks_each)) for i in range(processes)]
    for writer in writers:
        try:
            _, stderr = writer.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            for w in writers:
                w.kill()
            pytest.fail("a writer process hung")
        assert writer.returncode == 0, stderr
        assert stderr == "", stderr  # no "database is locked", no dropped rows warning

    conn = sqlite3.connect(db)
    try:
        count = lambda table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
        assert count("flow_runs") == processes
        assert count("logs") == processes * tasks_each // 100
    finally:
        conn.close()
    for i in range(processes):
        recorded = task_runs(f"p{i}-flow", db=db)
        assert sorted(t.map_index for t in recorded) == list(range(tasks_each))
        assert len(edges(f"p{i}-flow", db=db)) == tasks_each - 1
    runs = list_runs(db=db)
    assert {run.state_type for run in runs} == {"COMPLETED"}
    assert {run.task_count for run in runs} == {tasks_each}


def test_a_killed_flow_process_reads_back_as_crashed(db):
    sleeper = _python(SLEEPER, str(db))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                run = get_run("doomed", db=db)
                break
            except RunNotFound:
                pass
            if time.monotonic() > deadline or sleeper.poll() is not None:
                pytest.fail(f"the run was never recorded: {sleeper.stderr.read() if sleeper.poll() is not None else ''}")
            time.sleep(0.02)
        assert run.state_type == "RUNNING" and run.pid == sleeper.pid

        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait(timeout=10)
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait(timeout=10)
        sleeper.stdout.close()
        sleeper.stderr.close()

    run = get_run("doomed", db=db)
    assert (run.state_type, run.state_name) == ("CRASHED", "Crashed")
    assert str(sleeper.pid) in run.error
    assert [r.id for r in list_runs(status="crashed", db=db)] == ["doomed"]

    conn = sqlite3.connect(db)  # the fix was persisted, not only reported
    try:
        assert conn.execute("SELECT state_type FROM flow_runs WHERE id = 'doomed'").fetchone() == ("CRASHED",)
    finally:
        conn.close()


def test_a_live_run_of_this_process_stays_running(db, start_flow):
    run_id = start_flow()
    assert get_run(run_id, db=db).state_type == "RUNNING"


def test_a_reused_pid_does_not_keep_a_run_alive():
    me = psutil.Process()
    assert process_alive(me.pid, started_at=time.time())
    # A run that "started" an hour before this process existed cannot be ours.
    assert not process_alive(me.pid, started_at=me.create_time() - 3600)


def test_a_pid_that_does_not_exist_is_dead():
    pid = max(psutil.pids()) + 10_000
    assert not psutil.pid_exists(pid)
    assert not process_alive(pid, started_at=time.time())
