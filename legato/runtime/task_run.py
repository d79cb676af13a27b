"""The current task run, as Prefect's ``prefect.runtime.task_run``, on every runner.

Attributes: ``id``, ``name``, ``task_name``, ``parameters``, ``run_count``,
``tags`` and legato's ``map_index``. Outside a task run the ids and names are
None, ``parameters`` is empty and ``run_count`` is 0.
"""

from __future__ import annotations

from typing import Any

from legato.core.context import task_run_context

__all__ = ["id", "map_index", "name", "parameters", "run_count", "tags", "task_name"]

_FIELDS = {
    "id": lambda c: c.task_run.id,
    "name": lambda c: c.task_run.name,
    "task_name": lambda c: c.task_run.task_name,
    "parameters": lambda c: c.parameters,
    "run_count": lambda c: c.task_run.run_count,
    "tags": lambda c: sorted(c.task_run.tags),
    "map_index": lambda c: c.task_run.map_index,
}
_OUTSIDE = {"parameters": dict, "tags": list, "run_count": lambda: 0}


def __getattr__(name: str) -> Any:
    if name not in _FIELDS:
        raise AttributeError(f"legato.runtime.task_run has no attribute {name!r}; it has: {', '.join(sorted(_FIELDS))}")
    context = task_run_context.get()
    if context is not None:
        return _FIELDS[name](context)
    return _OUTSIDE[name]() if name in _OUTSIDE else None
