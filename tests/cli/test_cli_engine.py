"""``legato run``, ``runs`` and ``resume`` end to end, through the real engine.

The flows are in ``flows/engine_flows.py``.
"""

from __future__ import annotations

from pathlib import Path


from legato.history import get_run, list_runs, task_runs

FLOWS = Path(__file__).resolve().parent / "flows" / "engine_flows.py"


def test_run_a_flow_with_typed_parameters(legato):
    result = legato("run", f"{FLOWS}:greet", "-p", "name=ada", "-p", "times=2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "'hello ada hello ada'"

    (run,) = list_runs()
    assert (run.flow_name, run.state_type) == ("greet", "COMPLETED")
    assert run.entrypoint == f"{FLOWS}:greet"
    assert run.cli_parameters == {"name": "ada", "times": "2"}


def test_a_failing_flow_exits_1_with_one_line(legato, one_line_error):
    line = one_line_error(legato("run", f"{FLOWS}:fails"), 1)
    assert line == "error: flow run failed: ValueError: boom"
    (run,) = list_runs()
    assert (run.state_type, run.state_name) == ("FAILED", "Failed")
    assert "ValueError: boom" in run.error


def test_a_mapped_flow_on_threads_and_its_graph(legato):
    result = legato("run", f"{FLOWS}:mapped", "-p", "n=4", "--runner", "threads")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "12"

    (run,) = list_runs()
    assert run.task_count == 5
    assert sorted(t.map_index for t in task_runs(run.id) if t.task_name == "double") == [0, 1, 2, 3]
    graph = legato("graph", run.id[:8])
    assert graph.returncode == 0, graph.stderr
    assert '["double [x4: 4 Completed]"]' in graph.stdout
    assert "n0 --> n1" in graph.stdout


def test_resume_a_failed_run(legato, home, one_line_error):
    marker = home / "marker"
    first = legato("run", f"{FLOWS}:fail_once", "-p", f"marker={marker}")
    assert first.returncode == 1, first.stderr
    (failed,) = list_runs()

    resumed = legato("resume", failed.id[:8])
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == "'recovered'"

    latest = list_runs(limit=1)[0]
    assert latest.id != failed.id and latest.state_type == "COMPLETED"
    assert latest.run_key == failed.id
    assert get_run(failed.id).state_type == "FAILED"

    line = one_line_error(legato("resume", latest.id[:8]), 2)
    assert "nothing to resume" in line


def test_history_can_be_switched_off(legato):
    result = legato("run", f"{FLOWS}:nothing", env={"LEGATO_HISTORY": "off"})
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert list_runs() == []


def test_a_parameter_the_flow_cannot_coerce_is_a_usage_error(legato, one_line_error):
    line = one_line_error(legato("run", f"{FLOWS}:greet", "-p", "times=many"), 2)
    assert line.startswith("error: bad parameter: ParameterTypeError:") and "times" in line
