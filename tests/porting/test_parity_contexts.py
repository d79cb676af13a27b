"""Run contexts inside tasks on every runner, as Prefect 3 has them (checked on Prefect 3.9).

Prefect gives a task ``get_run_context()`` (its ``TaskRunContext``, also
``TaskRunContext.get()``) and ``FlowRunContext.get()`` (its flow run's) on
every task runner, with ``task_run.name``, ``task_run.id``, ``task_run.state``
(type RUNNING; legato names a retry's attempt
Retrying, Prefect Running), ``task_run.run_count``, ``task_run.tags``, ``task_run.flow_run_id``,
``task.name``, ``parameters`` and ``flow_run.name``, ``flow.name``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from legato import flow, task
from legato.context import FlowRunContext, TaskRunContext, get_run_context

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runners"))
from _cluster import dask_address, ray_session  # noqa: E402,F401  (the session's cluster fixtures)

RUNNER_NAMES = ("sync", "threads", "processes", "dask", "ray")


@task(tags=["nightly"], retries=1)
def describe(x):
    context = get_run_context()
    flow_context = FlowRunContext.get()
    run = context.task_run
    if run.run_count == 1 and x == "retry":
        raise ValueError("first attempt")
    return {
        "same": TaskRunContext.get() is context,
        "kind": type(context).__name__,
        "task_run.name": run.name,
        "task_run.id": isinstance(run.id, str) and len(run.id) > 0,
        "task_run.state": (run.state.type.value, run.state.name),
        "task_run.run_count": run.run_count,
        "task_run.tags": sorted(run.tags),
        "task_run.task_name": run.task_name,
        "task_run.map_index": run.map_index,
        "task.name": context.task.name,
        "parameters": dict(context.parameters),
        "flow_run.id": flow_context is not None and flow_context.flow_run.id == run.flow_run_id,
        "flow_run.name": flow_context and flow_context.flow_run.name,
        "task_run.flow_run_name": run.flow_run_name,
        "flow.name": flow_context and flow_context.flow.name,
    }


def _expected(name, x, flow_run_name, run_count=1, map_index=None):
    return {
        "same": True, "kind": "TaskRunContext", "task_run.name": name, "task_run.id": True,
        "task_run.state": ("RUNNING", "Running" if run_count == 1 else "Retrying"), "task_run.run_count": run_count, "task_run.tags": ["nightly"],
        "task_run.task_name": "describe", "task_run.map_index": map_index, "task.name": "describe",
        "parameters": {"x": x}, "flow_run.id": True, "flow_run.name": flow_run_name,
        "task_run.flow_run_name": flow_run_name, "flow.name": "contexts",
    }


def test_contexts_read_the_same_inside_tasks_on_every_runner(runner):
    """Prefect: the same attributes, with the same values, whether the task was called, submitted or
    mapped and wherever it runs (legato: a live run on threads, a description elsewhere, read alike)."""

    @flow(name="contexts", task_runner=runner)
    def contexts():
        return (FlowRunContext.get().flow_run.name, describe("called"), describe.submit("submitted").result(),
                describe.map(["mapped"]).result()[0], describe.submit("retry").result())

    name, called, submitted, mapped, retried = contexts()
    assert called == _expected("describe-0", "called", name)
    assert submitted == _expected("describe-1", "submitted", name)
    assert mapped == _expected("describe-2", "mapped", name, map_index=0)
    assert retried == _expected("describe-3", "retry", name, run_count=2)


def test_outside_a_flow_a_task_has_its_task_context_and_no_flow_context():
    """Prefect: a task called outside any flow has a TaskRunContext, and ``FlowRunContext.get()`` is None."""
    result = describe("alone")
    assert result["kind"] == "TaskRunContext" and result["task_run.name"].startswith("describe")
    assert result["flow.name"] is None and result["flow_run.name"] is None


def test_the_flow_body_sees_the_flow_context_and_no_task_context():
    """Prefect: in the flow body ``TaskRunContext.get()`` is None and ``FlowRunContext.get()`` has
    ``flow.name``, ``flow_run.name`` and ``parameters``."""

    @flow(name="body")
    def body(a=1):
        context = FlowRunContext.get()
        return TaskRunContext.get(), context.flow.name, context.parameters, get_run_context() is context

    assert body() == (None, "body", {"a": 1}, True)
