"""Interrupts: KeyboardInterrupt / SystemExit in tasks, Ctrl-C in a flow (real SIGINT)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from legato import flow, task
from legato.runners import ThreadPoolTaskRunner


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_interrupt_in_a_task_crashes_the_flow_and_is_reraised(interrupt):
    crashed = []

    @task
    def stop():
        raise interrupt()

    @task
    def slow(i):
        time.sleep(0.05)

    @flow(task_runner=ThreadPoolTaskRunner(2), on_crashed=[lambda f, r, s: crashed.append(s.name)])
    def f():
        slow.map(range(20))
        stop.submit()

    with pytest.raises(interrupt):
        f()
    assert crashed == ["Crashed"]


def test_interrupt_in_a_direct_call_is_reraised():
    @task
    def stop():
        raise KeyboardInterrupt

    @flow
    def f():
        stop()

    with pytest.raises(KeyboardInterrupt):
        f()


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from legato import flow, task
    from legato.runners import ThreadPoolTaskRunner

    @task
    def slow(i):
        time.sleep(0.1)
        return i

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def long_flow():
        futures = slow.map(range(200))
        print("STARTED", flush=True)
        return [f.result() for f in futures]

    baseline = threading.active_count()
    try:
        long_flow()
    except KeyboardInterrupt:
        time.sleep(0.3)
        alive = [t.name for t in threading.enumerate() if t.name.startswith("legato-thread")]
        print("INTERRUPTED", "alive-workers=%d" % len(alive), flush=True)
        sys.exit(0)
    print("NOT INTERRUPTED", flush=True)
    sys.exit(1)
    """
)


def test_ctrl_c_in_a_flow_cancels_pending_tasks_and_leaves_no_worker_threads(tmp_path):
    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**__import__("os").environ, "LEGATO_HISTORY": "0"},
    )
    try:
        line = process.stdout.readline()
        assert line.strip() == "STARTED"
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert "INTERRUPTED alive-workers=0" in out, err
    assert process.returncode == 0
    assert "Cancelled" in err and "Crashed" in err
