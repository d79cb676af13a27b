"""A Prefect 3 program using every Prefect import path runs with only its imports changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = Path(__file__).with_name("prefect_program.py")


@pytest.mark.parametrize("runner_name", ["threads", "processes"])
def test_a_ported_prefect_program_runs_unchanged(runner_name, tmp_path):
    env = {**os.environ, "LEGATO_HOME": str(tmp_path), "LEGATO_PROGRESS": "0"}
    done = subprocess.run([sys.executable, str(PROGRAM), runner_name], capture_output=True, text=True, env=env,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    observed = json.loads(done.stdout.strip().splitlines()[-1])
    assert observed["squares"] == [0, 1, 4, 9]
    assert observed["scaled"] == [0, 10, 40, 90]
    assert (observed["done"], observed["not_done"]) == (4, 0)
    assert observed["flaky"] == {"run_count": 2, "parameters": {"x": 3}, "name": "flaky"}
    assert observed["tolerant"] == "ValueError"
    assert observed["quoted_length"] == 3
    assert observed["failed_state"] == "FAILED"
    assert observed["context"] == {"task_context": True, "flow_run_id_known": True, "tags": ["nightly"]}
    assert observed["flow_context"] and observed["flow_run_name"]
    assert observed["flow_parameters"] == {"n": 4}
    assert observed["direct_fn"] == 49
    assert observed["returns_state"] == 5
    assert observed["returns_failed_state"] == "FAILED"
    assert "printed from the flow" in done.stderr  # log_prints: the print went to the run logger
    assert "flaky attempt 1" in done.stderr and "first attempt fails" in done.stderr
