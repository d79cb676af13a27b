"""Which flow run and task run the current code belongs to.

Two context variables, set by the engine: the flow run context in the thread
that runs the flow body (and, for runners that share memory, in the worker
threads that run its tasks), and the task run context around each task call,
wherever it runs. Both are plain, picklable descriptions plus, for the flow, a
handle on the in-process engine that only exists where the flow runs.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from legato.core.engine import FlowEngine


@dataclass
class RunInfo:
    """What a task knows about its own run, on whatever worker it runs."""

    id: str
    name: str
    task_name: str
    flow_run_id: str | None = None
    flow_run_name: str | None = None
    run_count: int = 1
    tags: tuple[str, ...] = ()
    map_index: int | None = None
    log_prints: bool = False


@dataclass(slots=True)  # one is made around every task call: no __dict__ to allocate, and to collect
class TaskRunContext:
    task: Any
    task_run: RunInfo
    engine: FlowEngine | None = None
    #: the call's arguments as the function receives them (bound to names only when asked for)
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, Any]:
        """The task run's arguments by parameter name (Prefect's ``TaskRunContext.parameters``)."""
        return self.task.bind(self.args, self.kwargs)

    @classmethod
    def get(cls) -> TaskRunContext | None:
        """The current task run context, or None outside a task run (as in Prefect)."""
        return task_run_context.get()


@dataclass
class FlowRunContext:
    flow: Any
    flow_run: Any
    engine: FlowEngine
    parameters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def get(cls) -> FlowRunContext | None:
        """The current flow run context, or None outside a flow run (as in Prefect)."""
        return flow_run_context.get()


flow_run_context: contextvars.ContextVar[FlowRunContext | None] = contextvars.ContextVar(
    "legato_flow_run", default=None
)
task_run_context: contextvars.ContextVar[TaskRunContext | None] = contextvars.ContextVar(
    "legato_task_run", default=None
)
#: ``(start, end)`` of the schedule window a flow call runs for (set by legato.scheduling); None otherwise
scheduled_window: contextvars.ContextVar[tuple[Any, Any] | None] = contextvars.ContextVar(
    "legato_scheduled_window", default=None
)
#: what task runs created here belong to (a transaction, :mod:`legato.transactions`); see contracts.RunScope
run_scope: contextvars.ContextVar[Any] = contextvars.ContextVar("legato_run_scope", default=None)
_tags: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("legato_tags", default=frozenset())
_runner_options: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("legato_runner_options", default={})


def get_run_context() -> TaskRunContext | FlowRunContext:
    """The innermost run context; raises ``RuntimeError`` outside any run."""
    context = task_run_context.get() or flow_run_context.get()
    if context is None:
        raise RuntimeError("no run context: this code is not running inside a legato flow or task")
    return context


def current_engine() -> FlowEngine | None:
    """The engine that new task submissions from here belong to, if any."""
    task_context = task_run_context.get()
    if task_context is not None:
        return task_context.engine
    flow_context = flow_run_context.get()
    return flow_context.engine if flow_context is not None else None


@contextmanager
def tags(*names: str) -> Iterator[frozenset[str]]:
    """Add tags to every task and flow run created inside the block."""
    token = _tags.set(_tags.get() | frozenset(names))
    try:
        yield _tags.get()
    finally:
        _tags.reset(token)


def current_tags() -> frozenset[str]:
    return _tags.get()


@contextmanager
def runner_options(**options: Any) -> Iterator[dict[str, Any]]:
    """Backend options (Ray's ``num_cpus``, ...) for every task run created inside the block.

    They are captured when the run is created, so they hold even when the run
    starts later, from another thread, once its upstreams finish.
    """
    token = _runner_options.set({**_runner_options.get(), **options})
    try:
        yield _runner_options.get()
    finally:
        _runner_options.reset(token)


def current_runner_options() -> dict[str, Any]:
    return _runner_options.get()


__all__ = [
    "FlowRunContext",
    "RunInfo",
    "TaskRunContext",
    "current_engine",
    "current_tags",
    "get_run_context",
    "runner_options",
    "tags",
]
