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
from legato.wiring import install as _install_services

_install_services()  # the core's runners, result store, history and progress (see legato.wiring)

__version__ = "0.1.0"

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
    "exponential_backoff",
    "flow",
    "get_run_context",
    "get_run_logger",
    "quote",
    "tags",
    "task",
    "unmapped",
    "wait",
]
