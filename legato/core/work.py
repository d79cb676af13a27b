"""The unit a runner executes: one attempt of one task run.

A :class:`WorkItem` carries the task, the argument template (upstream values
replaced by slots, see :mod:`legato.core.arguments`), the run's description
and, only where the runner shares the flow's memory, a handle on the engine
so the task can submit more tasks. It is picklable (cloudpickle carries the
task's function); the engine handle is dropped when it is pickled.

Calling it fills the slots with the upstream values, sets the task run
context, runs ``on_running`` hooks, calls the function (``async def``
functions in a fresh event loop, with the timeout enforced there) and
returns the value or raises the exception, untouched.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from legato.core.arguments import fill_slots
from legato.core.context import RunInfo, TaskRunContext, task_run_context
from legato.core.errors import TaskTimeoutError
from legato.core.states import State

if TYPE_CHECKING:
    from legato.core.engine import FlowEngine
    from legato.core.task import Task


_PLAIN_RESULTS = frozenset({int, float, str, bytes, bool, type(None), list, dict, tuple})


class StateReturned(Exception):
    """Carries a State the task function *returned* from the worker to the engine (not an error).

    Prefect makes a returned state the run's final state (``return
    Failed(message=...)`` fails the run without raising, ``return
    Completed(data=v)`` completes it with ``v``). The runner that executed
    the work may be another process or a cluster, where the engine cannot
    look inside the value without fetching it; raised, the state rides the
    path every runner already has for exceptions (types kept, pickled where
    needed), and the engine turns it into the final state
    (:meth:`legato.core.dispatch.Dispatch._returned_state`). Plain results
    never meet it.
    """

    def __init__(self, state: State) -> None:
        super().__init__(state)
        self.state = state

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.state,))

    def __str__(self) -> str:
        return f"the task returned {self.state!r}"


class Inline:
    """An upstream value carried inside the work item (no runner future for it)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class WorkItem:
    __slots__ = ("task", "args", "kwargs", "info", "slots", "engine", "_options")

    def __init__(
        self,
        task: Task,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        info: RunInfo,
        slots: list[int | Inline] | None,
        engine: FlowEngine | None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.info = info
        #: for each argument slot: an index into the upstream values, or an Inline value
        self.slots = slots
        self.engine = engine
        self._options = options

    @property
    def key(self) -> str:
        """The work's name in a backend (a Dask key, a Ray task name): made when asked for, as the
        thread and sync runners, where every task of a big map passes, never ask."""
        return f"{self.info.name}-{self.info.id}"

    @property
    def task_name(self) -> str:
        return self.task.name

    @property
    def options(self) -> dict[str, Any]:
        """Backend options: the task's ``runner_options``, updated by a ``runner_options(...)`` block."""
        return self._options if self._options is not None else self.task.runner_options

    def __getstate__(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in self.__slots__}
        state["engine"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __call__(self, *upstream_values: Any) -> Any:
        args, kwargs = self.args, self.kwargs
        if self.slots is not None:
            values = slot_values(self.slots, upstream_values)
            args = fill_slots(args, values)
            kwargs = fill_slots(kwargs, values)
        task = self.task
        # Tag limits (legato.scheduling.limits): a tagged attempt takes its slots before the function runs.
        info = self.info
        leases = _acquire_tag_slots(info.tags) if info.tags else None
        token = task_run_context.set(TaskRunContext(task, info, self.engine, args, kwargs))
        try:
            if task.on_running:
                task.run_hooks(task.on_running, self.info, None, "on_running")
            if task.is_async:
                result = _run_coroutine(task.fn(*args, **kwargs), task.timeout_seconds, self.info.name)
                if isinstance(result, State):
                    raise StateReturned(result)
                return result
            result = task.fn(*args, **kwargs)
            if type(result) in _PLAIN_RESULTS:  # the common results pay this one check, nothing more
                return result
            return task_result(task, result, self.info.name)
        finally:
            task_run_context.reset(token)
            if leases:
                _release_tag_slots(leases)

    def __repr__(self) -> str:
        return f"WorkItem({self.info.name!r})"


_tag_limit_calls: Any = None  # the services' (acquire, release) of tag limits, once a tagged task runs


def _acquire_tag_slots(tags: tuple[str, ...]) -> list[str] | None:
    global _tag_limit_calls
    if _tag_limit_calls is None:
        from legato.core.contracts import services

        _tag_limit_calls = services().tag_limits()
    return _tag_limit_calls[0](tags)  # type: ignore[no-any-return]


def _release_tag_slots(leases: list[str]) -> None:
    _tag_limit_calls[1](leases)


def slot_values(slots: list[Any], upstream_values: Any) -> list[Any]:
    """The value for each argument slot: carried inline, an upstream's, or one element of an upstream batch."""
    values = []
    for slot in slots:
        kind = type(slot)
        if kind is Inline:
            values.append(slot.value)
        elif kind is int:
            values.append(upstream_values[slot])
        else:
            values.append(slot.pick(upstream_values))
    return values


def task_result(task: Task, returned: Any, name: str) -> Any:
    """What a sync task's function returned (not of a plain type), made the run's result.

    An awaitable is awaited; a generator (a generator task submitted or
    mapped) is collected to a list; a returned State is raised as
    :class:`StateReturned`, so it becomes the run's final state on every runner.
    """
    if inspect.isawaitable(returned):
        returned = _run_coroutine(returned, task.timeout_seconds, name)
    elif task.is_generator:
        return _collect(returned, task, name)
    if isinstance(returned, State):
        raise StateReturned(returned)
    return returned


def _collect(generator: Any, task: Task, name: str) -> list[Any]:
    """A generator's values as a list (Prefect makes a generator a task returns a list too)."""
    if task.is_async_generator:
        from legato.core.generators import collect_async

        return _run_coroutine(collect_async(generator), task.timeout_seconds, name)  # type: ignore[no-any-return]
    return list(generator)


def _run_coroutine(coroutine: Any, timeout: float | None, name: str) -> Any:
    import asyncio  # only async tasks pay for importing asyncio

    async def bounded() -> Any:
        if timeout is None:
            return await coroutine
        try:
            return await asyncio.wait_for(coroutine, timeout)
        except asyncio.TimeoutError:
            raise TaskTimeoutError(f"task run {name!r} exceeded timeout of {timeout} second(s)") from None

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(bounded())
    # Called from inside a running loop (an async flow on the sync runner):
    # run in a fresh loop on a helper thread rather than deadlock this one.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, bounded()).result()


__all__ = ["Inline", "StateReturned", "WorkItem", "slot_values"]
