"""``legato run`` and ``legato resume`` against stand-in flows (no engine needed).

``flows/fake_flows.py`` implements only the flow API the CLI relies on and
reports the options it was given on stderr (a ``FAKE {...}`` JSON line), so
these tests pin down the CLI's half of the contract with the engine.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from legato.history import get_run, list_runs

FAKE_FLOWS = Path(__file__).resolve().parent / "flows" / "fake_flows.py"


@pytest.fixture
def fake() -> str:
    return str(FAKE_FLOWS)


def _fake_report(result: subprocess.CompletedProcess[str]) -> dict:
    lines = [line for line in result.stderr.splitlines() if line.startswith("FAKE ")]
    assert len(lines) == 1, result.stderr
    return json.loads(lines[0][5:])


def test_run_prints_the_return_value_and_records_the_entrypoint(legato, fake):
    result = legato("run", f"{fake}:add", "--param", "a=2", "-p", "b=40")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"
    report = _fake_report(result)
    assert (report["runner"], report["run_key"]) == ("threads", None)

    run = get_run(report["run_id"])
    assert run.state_type == "COMPLETED"
    assert run.entrypoint == f"{fake}:add"
    assert run.cli_parameters == {"a": "2", "b": "40"}
    assert run.parameters == {"a": "2", "b": "40"}


def test_run_decodes_json_values_and_keeps_other_strings(legato, fake):
    result = legato("run", f"{fake}:echo", "-p", 'value={"xs": [1, 2.5, null]}')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "('dict', {'xs': [1, 2.5, None]})\n"


def test_run_passes_runner_and_run_key_to_with_options(legato, fake):
    result = legato("run", f"{fake}:add", "-p", "a=1", "--runner", "processes", "--run-key", "nightly-1")
    assert result.returncode == 0, result.stderr
    report = _fake_report(result)
    assert (report["runner"], report["run_key"]) == ("processes", "nightly-1")


def test_a_flow_returning_none_prints_nothing(legato, fake):
    result = legato("run", f"{fake}:quiet")
    assert (result.returncode, result.stdout) == (0, "")


def test_a_failing_flow_exits_1_with_one_line(legato, fake, one_line_error):
    line = one_line_error(legato("run", f"{fake}:explode", "-p", "message=kaboom"), 1)
    assert line == "error: flow run failed: ValueError: kaboom"
    assert [run.state_type for run in list_runs()] == ["FAILED"]


def test_traceback_on_request(legato, fake):
    result = legato("run", f"{fake}:explode", "--traceback")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith("error: flow run failed: ValueError: boom")


def test_a_flow_without_run_key_support_is_a_clear_error(legato, fake, one_line_error):
    line = one_line_error(legato("run", f"{fake}:old_style", "--run-key", "k"), 2)
    assert "does not support run_key" in line


def test_resume_reruns_a_failed_run_with_its_parameters_and_run_key(legato, fake, home, one_line_error):
    marker = home / "marker"
    first = legato("run", f"{fake}:fail_once", "-p", f"marker={marker}", "--runner", "sync")
    assert first.returncode == 1
    failed_id = _fake_report(first)["run_id"]

    resumed = legato("resume", failed_id[:7])
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "'recovered'\n"
    report = _fake_report(resumed)
    assert report["run_key"] == failed_id  # the failed run had no run key: its id is used
    assert report["runner"] == "sync"  # the runner of the original run
    assert get_run(report["run_id"]).cli_parameters == {"marker": str(marker)}

    line = one_line_error(legato("resume", report["run_id"]), 2)
    assert "is Completed: there is nothing to resume" in line


def test_resume_needs_an_entrypoint(legato, home, sample_history, one_line_error):
    ids = sample_history(home / "history.db")
    line = one_line_error(legato("resume", ids["report"]), 2)
    assert line == "error: run 4e904e90 was not started with `legato run`: no entrypoint to resume"
