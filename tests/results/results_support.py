"""Helpers for the results tests: stand-ins for a flow and a hand-driven engine.

The engine calls the results manager as ``wants`` -> ``lookup`` -> run ->
``store``; :func:`run_task` does the same by hand, so the manager is tested
without a flow, a runner or threads.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from legato.core.context import RunInfo
from legato.core.flow import FlowRun
from legato.results import ResultsManager

_counts = itertools.count()


def make_flow(name: str = "my-flow", **options: Any) -> SimpleNamespace:
    """A stand-in for a legato Flow: the manager reads only these attributes."""
    defaults = dict(fn=None, persist_result=None, result_storage=None, result_serializer=None, run_key=None)
    return SimpleNamespace(name=name, **{**defaults, **options})


def make_manager(flow: Any = None, run_key: str | None = None, parameters: dict[str, Any] | None = None,
                 run_id: str | None = None) -> ResultsManager:
    flow = flow if flow is not None else make_flow()
    flow_run = FlowRun(id=run_id or uuid.uuid4().hex, name="test-run", flow_name=flow.name,
                       parameters=parameters or {}, run_key=run_key)
    manager = ResultsManager.for_flow_run(flow, flow_run)
    assert manager is not None
    return manager


def run_info(manager: ResultsManager, task: Any, name: str | None = None, map_index: int | None = None) -> RunInfo:
    return RunInfo(id=uuid.uuid4().hex, name=name or f"{task.name}-{next(_counts)}", task_name=task.name,
                   flow_run_id=manager.flow_run.id, flow_run_name=manager.flow_run.name, map_index=map_index)


def run_task(manager: ResultsManager, task: Any, *args: Any, name: str | None = None, **kwargs: Any) -> tuple[str, Any]:
    """Run ``task`` the way the engine does; returns ("cached" or "ran", value)."""
    parameters = task.bind(args, kwargs)
    if not manager.wants(task):
        return "ran", task.fn(**parameters)
    info = run_info(manager, task, name)
    found, value = manager.lookup(task, info, parameters)
    if found:
        return "cached", value
    value = task.fn(**parameters)
    manager.store(task, info, parameters, value)
    return "ran", value


def record_files(root: Path) -> list[Path]:
    """The records under ``root`` (temporary files excluded)."""
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))


class TouchOnLoad:
    """A pickle that creates a file when it is loaded: the shape of a code-execution attack."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (Path(self.path),))
