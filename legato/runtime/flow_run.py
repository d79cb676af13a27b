"""The current flow run, as Prefect's ``prefect.runtime.flow_run``.

Attributes: ``id``, ``name``, ``flow_name``, ``parameters``, ``tags``,
``run_count``, ``scheduled_start_time``, and legato's ``run_key``. In the flow
body and in tasks on runners that share the flow's memory (sync, threads)
every attribute is known; inside a task on a worker process or cluster only
``id`` and ``name`` are (``parameters`` is then empty, ``flow_name``,
``run_key`` and ``scheduled_start_time`` None), since the flow run itself stays
in the flow's process. ``scheduled_start_time`` is the window's start for a
scheduled run and the run's start otherwise (Prefect: the expected start).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from legato.core.context import flow_run_context, task_run_context

__all__ = ["flow_name", "id", "name", "parameters", "run_count", "run_key", "scheduled_start_time", "tags"]


def _run() -> Any:
    """The flow run: from the flow's context, or through the engine a task on a shared-memory runner has."""
    context = flow_run_context.get()
    if context is not None:
        return context.flow_run
    task_context = task_run_context.get()
    run = getattr(task_context.engine, "flow_run", None) if task_context is not None else None
    return None if run is None or run.stand_in else run


def _from_task(field: str) -> Any:
    context = task_run_context.get()
    return getattr(context.task_run, field, None) if context is not None else None


def _scheduled_start_time(run: Any) -> _dt.datetime | None:
    scheduled = getattr(run, "scheduled_start_time", None)
    if scheduled is not None:
        return scheduled  # type: ignore[no-any-return]
    if run.started_at is None:
        return None
    return _dt.datetime.fromtimestamp(run.started_at, tz=_dt.timezone.utc)


_FIELDS = {
    "id": lambda run: run.id,
    "name": lambda run: run.name,
    "flow_name": lambda run: run.flow_name,
    "parameters": lambda run: dict(run.parameters),
    "tags": lambda run: sorted(run.tags),
    "run_count": lambda run: run.run_count,
    "run_key": lambda run: run.run_key,
    "scheduled_start_time": _scheduled_start_time,
}
_OUTSIDE = {"parameters": dict, "tags": list, "run_count": lambda: 0}
_TASK_FIELDS = {"id": "flow_run_id", "name": "flow_run_name"}


def __getattr__(name: str) -> Any:
    if name not in _FIELDS:
        raise AttributeError(f"legato.runtime.flow_run has no attribute {name!r}; it has: {', '.join(sorted(_FIELDS))}")
    run = _run()
    if run is not None:
        return _FIELDS[name](run)
    if name in _TASK_FIELDS:
        return _from_task(_TASK_FIELDS[name])
    return _OUTSIDE[name]() if name in _OUTSIDE else None
