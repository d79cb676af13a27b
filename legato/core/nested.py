"""The engine for tasks that a task submits on a worker with no flow engine of its own.

On a remote runner (processes, Dask, Ray) the flow's engine stays in the
flow's process. A task there that calls ``other.submit(...)`` gets an engine
of its own, on a runner the worker provides, under a stand-in flow run that
carries the ids of the real one, so its runs log under the right flow run.
Runners ask for it here rather than building engines themselves.
"""

from __future__ import annotations

from typing import Any

from legato.core.contracts import Runner
from legato.core.engine import FlowEngine
from legato.core.flow import FlowRun


def worker_engine(info: Any, runner: Runner) -> FlowEngine:
    """An engine on ``runner`` for the tasks submitted by the task run ``info`` describes."""
    flow_run = FlowRun(id=info.flow_run_id or info.id, name=info.flow_run_name or info.name,
                       flow_name=getattr(info, "flow_name", None) or "<tasks submitted by a task>", stand_in=True)
    return FlowEngine(flow_run, runner)


__all__ = ["worker_engine"]
