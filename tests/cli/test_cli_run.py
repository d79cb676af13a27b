"""``legato run`` and ``legato resume`` with real flows (``flows/cli_flows.py``).

What the CLI gave a flow (runner, run key, parameters) is read back from the
run history the flow run wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from legato.history import get_run, list_runs

FLOWS = Path(__file__).resolve().parent / "flows" / "cli_flows.py"


@pytest.fixture
def flows() -> str:
    return str(FLOWS)


def _newest_run(result: object) -> dict:
    """What the newest flow run was given, from the history it wrote: its id, runner and run key."""
    run = list_runs()[0]
    return {"run_id": run.id, "runner": run.runner, "run_key": run.run_key}


def test_run_prints_the_return_value_and_records_the_entrypoint(legato, flows):
    result = legato("run", f"{flows}:add", "--param", "a=2", "-p", "b=40")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"
    report = _newest_run(result)
    assert (report["runner"], report["run_key"]) == ("threads", None)

    run = get_run(report["run_id"])
    assert run.state_type == "COMPLETED"
    assert run.entrypoint == f"{flows}:add"
    assert run.cli_parameters == {"a": "2", "b": "40"}
    assert run.parameters == {"a": "2", "b": "40"}


def test_run_decodes_json_values_and_keeps_other_strings(legato, flows):
    result = legato("run", f"{flows}:echo", "-p", 'value={"xs": [1, 2.5, null]}')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "('dict', {'xs': [1, 2.5, None]})\n"


def test_run_passes_runner_and_run_key_to_with_options(legato, flows):
    result = legato("run", f"{flows}:add", "-p", "a=1", "--runner", "processes", "--run-key", "nightly-1")
    assert result.returncode == 0, result.stderr
    report = _newest_run(result)
    assert (report["runner"], report["run_key"]) == ("processes", "nightly-1")


def test_a_flow_returning_none_prints_nothing(legato, flows):
    result = legato("run", f"{flows}:quiet")
    assert (result.returncode, result.stdout) == (0, "")


def test_a_failing_flow_exits_1_with_one_line(legato, flows, one_line_error):
    line = one_line_error(legato("run", f"{flows}:explode", "-p", "message=kaboom"), 1)
    assert line == "error: flow run failed: ValueError: kaboom"
    assert [run.state_type for run in list_runs()] == ["FAILED"]


def test_traceback_on_request(legato, flows):
    result = legato("run", f"{flows}:explode", "--traceback")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith("error: flow run failed: ValueError: boom")


def test_a_flow_without_run_key_support_is_a_clear_error(legato, flows, one_line_error):
    line = one_line_error(legato("run", f"{flows}:old_style", "--run-key", "k"), 2)
    assert "does not support run_key" in line


def test_resume_reruns_a_failed_run_with_its_parameters_and_run_key(legato, flows, home, one_line_error):
    marker = home / "marker"
    first = legato("run", f"{flows}:fail_once", "-p", f"marker={marker}", "--runner", "sync")
    assert first.returncode == 1
    failed_id = _newest_run(first)["run_id"]

    resumed = legato("resume", failed_id[:7])
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "'recovered'\n"
    report = _newest_run(resumed)
    assert report["run_key"] == failed_id  # the failed run had no run key: its id is used
    assert report["runner"] == "sync"  # the runner of the original run
    assert get_run(report["run_id"]).cli_parameters == {"marker": str(marker)}

    line = one_line_error(legato("resume", report["run_id"]), 2)
    assert "is Completed: there is nothing to resume" in line


def test_resume_needs_an_entrypoint(legato, home, sample_history, one_line_error):
    ids = sample_history(home / "history.db")
    line = one_line_error(legato("resume", ids["report"]), 2)
    assert line == "error: run 4e904e90 was not started with `legato run`: no entrypoint to resume"
