"""legato: a light Python flow engine with Prefect 3's execution API.

>>> from legato import flow, task
>>> @task
... def double(x):
...     return 2 * x
>>> @flow
... def pipeline(xs):
...     return double.map(xs)
"""

from __future__ import annotations

import typing as _typing

from legato.core.annotations import allow_failure, quote, unmapped
from legato.core.context import get_run_context, tags
from legato.core.errors import (
    CancelledRun,
    CrashedRun,
    LegatoError,
    MappingLengthMismatch,
    MappingMissingIterable,
    ParameterTypeError,
    SerializationError,
    TaskTimeoutError,
    UnfinishedRun,
    UpstreamNotReady,
)
from legato.core.flow import Flow, flow
from legato.core.futures import LegatoFuture, LegatoFutureList, PrefectFuture, as_completed, wait
from legato.core.logs import get_run_logger
from legato.core.retries import exponential_backoff
from legato.core.states import State, StateType
from legato.core.task import Task, task
from legato.notifications import notify
from legato.partitioning import partitions
from legato.unavailable import install as _install_refusals
from legato.wiring import install as _install_services

_install_services()  # the core's runners, result store, history and progress (see legato.wiring)
_install_refusals()  # Prefect's server-only modules answer with what to use instead (legato.unavailable)

__version__ = "0.1.0"


# -- schedules and limits (legato.scheduling, imported on first use) ------------------


def serve(*deployments: _typing.Any, **options: _typing.Any) -> None:
    """Serve deployments (``flow.to_deployment(...)``) until SIGINT/SIGTERM; see README "Running on a schedule"."""
    from legato.scheduling.server import serve as _serve

    _serve(*deployments, **options)


def rate_limit(names: _typing.Any, occupy: int = 1, timeout_seconds: float | None = None, strict: bool = False) -> None:
    """Wait until a ``per_second`` limit lets ``occupy`` more calls through."""
    from legato.scheduling.limits import rate_limit as _rate_limit

    _rate_limit(names, occupy=occupy, timeout_seconds=timeout_seconds, strict=strict)


def __getattr__(name: str) -> _typing.Any:
    from legato import unavailable

    if name in unavailable.NAMES:
        unavailable.refuse(f"prefect.{name}", unavailable.NAMES[name])
    if name == "concurrency":  # the package, callable: legato.concurrency(...) and legato.concurrency.sync
        import importlib

        return importlib.import_module("legato.concurrency")
    raise AttributeError(f"module 'legato' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "concurrency"})


__all__ = [
    "CancelledRun",
    "CrashedRun",
    "Flow",
    "LegatoError",
    "LegatoFuture",
    "LegatoFutureList",
    "MappingLengthMismatch",
    "MappingMissingIterable",
    "ParameterTypeError",
    "PrefectFuture",
    "SerializationError",
    "State",
    "StateType",
    "Task",
    "TaskTimeoutError",
    "UnfinishedRun",
    "UpstreamNotReady",
    "__version__",
    "allow_failure",
    "as_completed",
    "concurrency",
    "exponential_backoff",
    "flow",
    "get_run_context",
    "get_run_logger",
    "notify",
    "partitions",
    "quote",
    "rate_limit",
    "serve",
    "tags",
    "task",
    "unmapped",
    "wait",
]
