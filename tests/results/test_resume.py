"""Resuming a killed flow run by its run key: a real process, a real SIGKILL.

The flow (flows/resume_flow.py) maps a task over 200 items on 4 threads, each
logging "start i" / "done i" durably. The test kills it with SIGKILL once 60
items are done, runs it again with the same run key, and checks that the
second run redid only what had not completed: an item whose "done" was logged
before the kill may run again only if it was still in flight (its result not
yet stored), which is at most one per worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FLOW = Path(__file__).resolve().parent / "flows" / "resume_flow.py"
ITEMS = 200
KILL_AFTER = 60
MAX_WORKERS = 4  # as in the flow
TIMEOUT = 60

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def read_log(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [(event, int(item)) for event, item in (line.split() for line in lines if line.count(" ") == 1)]


def start(home: Path, log: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEGATO_HOME": str(home), "LEGATO_PROGRESS": "0"}
    env.pop("LEGATO_RESULTS_KEY", None)
    return subprocess.Popen([sys.executable, str(FLOW), str(ITEMS), str(log), str(out), "resume-test"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_done_lines(process: subprocess.Popen[bytes], log: Path, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while sum(event == "done" for event, _ in read_log(log)) < count:
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"the flow exited ({process.returncode}) before {count} items were done:\n{stderr.decode()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"fewer than {count} items were done after {TIMEOUT} s")
        time.sleep(0.005)


def test_a_killed_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    home, log, out = tmp_path / "home", tmp_path / "events.log", tmp_path / "out.json"

    first = start(home, log, out)
    wait_for_done_lines(first, log, KILL_AFTER)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=TIMEOUT)
    assert first.returncode == -signal.SIGKILL
    assert not out.exists(), "the first run finished before it was killed: nothing was tested"

    before = read_log(log)
    done_before = {item for event, item in before if event == "done"}
    assert len(done_before) >= KILL_AFTER

    second = start(home, log, out)
    _, stderr = second.communicate(timeout=TIMEOUT)
    assert second.returncode == 0, stderr.decode()
    assert not any(word in stderr.decode() for word in ("not stored", "could not store", "ignoring stored result"))

    after = read_log(log)[len(before):]
    started_again = {item for event, item in after if event == "start"}
    rerun = started_again & done_before
    assert len(rerun) <= MAX_WORKERS, f"{len(rerun)} completed items ran again: {sorted(rerun)}"
    assert done_before | {item for event, item in after if event == "done"} == set(range(ITEMS))
    assert json.loads(out.read_text()) == [i * i for i in range(ITEMS)]
