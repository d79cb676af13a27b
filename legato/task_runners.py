"""Prefect-compatible home of the task runners: ``from legato.task_runners import ThreadPoolTaskRunner``.

The Dask and Ray runners are imported on first access, so this module stays as
light as ``import legato``; Prefect keeps them in ``prefect_dask`` and
``prefect_ray``, legato in :mod:`legato.runners.dask` and :mod:`legato.runners.ray`
(both also reachable from here).
"""

from __future__ import annotations

from typing import Any

from legato.runners import runner_class
from legato.runners.base import TaskRunner
from legato.runners.sync import SyncTaskRunner
from legato.runners.threads import ThreadPoolTaskRunner

#: Prefect's name for the base class of every task runner
PrefectTaskRunner = TaskRunner

_LAZY = {"ProcessPoolTaskRunner": "processes", "DaskTaskRunner": "dask", "RayTaskRunner": "ray"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return runner_class(_LAZY[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DaskTaskRunner", "PrefectTaskRunner", "ProcessPoolTaskRunner", "RayTaskRunner", "SyncTaskRunner",
           "TaskRunner", "ThreadPoolTaskRunner"]
