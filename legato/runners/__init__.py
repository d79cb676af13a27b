"""Task runners: where tasks run. See :mod:`legato.runners.base` for the contract.

Runners are looked up by name (``task_runner="dask"``) or given as instances;
``LEGATO_TASK_RUNNER`` overrides the flow's choice, so the same code runs on
a laptop and a cluster. Each runner's module, and its backend, is imported
only when that runner is first used.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from legato import config
from legato.core.errors import MissingDependencyError
from legato.runners.base import RunnerFuture, TaskRunner
from legato.runners.sync import SyncTaskRunner
from legato.runners.threads import ThreadPoolTaskRunner

#: runner name -> (module, class name, package it needs, extra that installs it)
RUNNERS: dict[str, tuple[str, str, str | None, str | None]] = {
    "sync": ("legato.runners.sync", "SyncTaskRunner", None, None),
    "threads": ("legato.runners.threads", "ThreadPoolTaskRunner", None, None),
    "processes": ("legato.runners.processes", "ProcessPoolTaskRunner", None, None),
    "dask": ("legato.runners.dask", "DaskTaskRunner", "distributed", "dask"),
    "ray": ("legato.runners.ray", "RayTaskRunner", "ray", "ray"),
}
_ALIASES = {"thread": "threads", "threadpool": "threads", "process": "processes", "processpool": "processes"}
_CLASSES = {class_name: name for name, (_, class_name, _, _) in RUNNERS.items()}


def runner_class(name: str) -> type[TaskRunner]:
    """The runner class registered under ``name``; imports its module on first use."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in RUNNERS:
        raise ValueError(f"unknown task runner {name!r}; known runners: {', '.join(RUNNERS)}")
    module_name, class_name, package, extra = RUNNERS[key]
    if package is not None:
        try:
            importlib.import_module(package)
        except ImportError as error:
            raise MissingDependencyError(
                f"the {key!r} task runner needs the {package!r} package: pip install \"legato[{extra}]\""
            ) from error
    return getattr(importlib.import_module(module_name), class_name)


def validate_runner_spec(spec: Any) -> None:
    """Fail early on a ``task_runner=`` that can never work (wrong type, unknown name)."""
    if isinstance(spec, TaskRunner):
        return
    if isinstance(spec, type) and issubclass(spec, TaskRunner):
        return
    if isinstance(spec, str):
        key = _ALIASES.get(spec.lower(), spec.lower())
        if key not in RUNNERS:
            raise ValueError(f"unknown task runner {spec!r}; known runners: {', '.join(RUNNERS)}")
        return
    raise TypeError(f"task_runner must be a TaskRunner, a TaskRunner class or a name, got {spec!r}")


def resolve_runner(spec: Any) -> TaskRunner:
    """A fresh, unstarted runner for one flow run."""
    override = config.task_runner_override()
    if override:
        spec = override
    if spec is None:
        return ThreadPoolTaskRunner()
    if isinstance(spec, TaskRunner):
        return spec.duplicate()
    if isinstance(spec, type) and issubclass(spec, TaskRunner):
        return spec()
    if isinstance(spec, str):
        return runner_class(spec)()
    raise TypeError(f"task_runner must be a TaskRunner, a TaskRunner class or a name, got {spec!r}")


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        return runner_class(_CLASSES[name])
    raise AttributeError(f"module 'legato.runners' has no attribute {name!r}")


__all__ = [
    "DaskTaskRunner",
    "ProcessPoolTaskRunner",
    "RayTaskRunner",
    "RunnerFuture",
    "SyncTaskRunner",
    "TaskRunner",
    "ThreadPoolTaskRunner",
    "resolve_runner",
    "runner_class",
]
