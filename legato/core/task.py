"""``@task``: a plain function plus how it should be run.

A :class:`Task` holds options only; all running happens in the engine of the
flow run it is used in. Options are validated when the decorator runs, so a
mistake (negative retries, too many delays) fails at import, not at 3 AM.

* ``my_task(x)`` inside a flow runs it now, in this thread, and returns its
  value (an ``async def`` task returns an awaitable, as in Prefect; a
  generator task returns a generator that runs it as it is iterated, see
  :mod:`legato.core.generators`);
* ``my_task.submit(x)`` returns a :class:`~legato.core.futures.LegatoFuture`;
* ``my_task.map(xs)`` returns a :class:`~legato.core.futures.LegatoFutureList`.

Outside a flow, calling a task runs it with its retries and hooks, and
``submit``/``map`` raise ``RuntimeError``.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar, overload

from legato.core.adoption import adopt_arguments
from legato.core.code_origin import restore_source_file, source_file
from legato.core.callables import accepted_parameters, check_callable_and_timeout, check_names, check_result_storage
from legato.core.context import current_engine, task_run_context
from legato.core.futures import LegatoFuture, LegatoFutureList
from legato.core.hooks import Hook, call_hook, hook_list
from legato.core.logs import engine_logger
from legato.core.mapping import expand_map
from legato.core.retries import RetryPolicy
from legato.core.states import ManualState, State

R = TypeVar("R")


class Task(Generic[R]):
    """A function that legato runs as a task. Build one with :func:`task`."""

    def __init__(
        self,
        fn: Callable[..., R],
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        retries: Any = None, retry_delay_seconds: Any = None,
        retry_jitter_factor: float | None = None,
        retry_condition_fn: Any = None,
        timeout_seconds: float | None = None,
        task_run_name: str | Callable[..., str] | None = None,
        log_prints: bool | None = None,
        on_completion: list[Hook] | None = None, on_failure: list[Hook] | None = None,
        on_running: list[Hook] | None = None,
        on_commit: list[Hook] | None = None, on_rollback: list[Hook] | None = None,
        cache_policy: Any = None,
        cache_key_fn: Callable[..., str | None] | None = None,
        cache_expiration: Any = None,
        refresh_cache: bool | None = None,
        persist_result: bool | None = None, result_storage: Any = None, result_serializer: Any = None,
        result_storage_key: str | None = None,
        runner_options: dict[str, Any] | None = None,
    ) -> None:
        check_callable_and_timeout(fn, timeout_seconds, "@task")
        check_names(fn, "@task", name, "task_run_name", task_run_name)
        check_result_storage(result_storage)
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.description = description or inspect.getdoc(fn)
        self.tags = frozenset(tags or ())
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_jitter_factor = retry_jitter_factor
        self.retry_condition_fn = retry_condition_fn
        self.retry_policy = RetryPolicy(retries, retry_delay_seconds, retry_jitter_factor, retry_condition_fn)
        self.timeout_seconds = timeout_seconds
        self.task_run_name = task_run_name
        self.log_prints = log_prints
        self.on_completion = hook_list(on_completion, "on_completion")
        self.on_failure = hook_list(on_failure, "on_failure")
        self.on_running = hook_list(on_running, "on_running")
        #: called with the task run's transaction when it commits or rolls back (legato.transactions)
        self.on_commit = hook_list(on_commit, "on_commit")
        self.on_rollback = hook_list(on_rollback, "on_rollback")
        self._keep_result_options(cache_policy, cache_key_fn, cache_expiration, refresh_cache, persist_result,
                                  result_storage, result_serializer, result_storage_key)
        self.runner_options = dict(runner_options or {})
        self.is_async = inspect.iscoroutinefunction(fn)
        #: a generator task streams its values when called (see :mod:`legato.core.generators`)
        function = inspect.unwrap(fn)
        self.is_async_generator = inspect.isasyncgenfunction(function)
        self.is_generator = self.is_async_generator or inspect.isgeneratorfunction(function)
        self._signature: inspect.Signature | None = None
        if log_prints:
            from legato.core.logs import install_print_redirect

            install_print_redirect()
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def _keep_result_options(self, cache_policy: Any, cache_key_fn: Any, cache_expiration: Any, refresh_cache: Any,
                              persist_result: Any, result_storage: Any, result_serializer: Any,
                              result_storage_key: Any) -> None:
        """The caching and persistence options, read by the result store (:mod:`legato.results`).

        As in Prefect, ``persist_result`` reads True when a caching or
        storage option asks for persistence, and ``cache_policy`` reads the
        policy in effect (``DEFAULT`` when none was given); the options as
        given are kept for the result store and ``with_options``.
        """
        self._user_cache_policy = cache_policy
        self._user_persist_result = persist_result
        self.__dict__.pop("_effective_cache_policy", None)
        self.cache_key_fn = cache_key_fn
        self.cache_expiration = cache_expiration
        self.refresh_cache = refresh_cache
        caches = cache_policy is not None and getattr(cache_policy, "caches", True)  # NO_CACHE does not
        if persist_result is None and (caches or cache_key_fn is not None or result_storage_key is not None
                                       or result_storage is not None or result_serializer is not None):
            persist_result = True
        if cache_policy is not None and cache_key_fn is not None:
            logging.getLogger("legato.tasks").warning(
                "Both `cache_policy` and `cache_key_fn` are set on task %s. `cache_key_fn` will be used.", self)
        if persist_result is False and (caches or cache_key_fn is not None):
            logging.getLogger("legato.tasks").warning("Ignoring `cache_policy` because `persist_result` is False")
        self.persist_result = persist_result
        self.result_storage = result_storage
        self.result_serializer = result_serializer
        self.result_storage_key = result_storage_key
        #: whether any option asks the result store for something (else it need not be opened)
        self.uses_results = bool(
            cache_policy is not None or cache_key_fn is not None or persist_result or result_storage is not None
            or result_serializer is not None or result_storage_key is not None or cache_expiration is not None
            or refresh_cache
        )

    @property
    def cache_policy(self) -> Any:
        """The cache policy in effect, as Prefect's attribute reads: ``DEFAULT`` when none was given,
        ``NO_CACHE`` under ``persist_result=False`` (worked out on first read: it needs the result layer)."""
        policy = self.__dict__.get("_effective_cache_policy", _UNKNOWN)
        if policy is _UNKNOWN:
            from legato.core.contracts import services

            policy = self.__dict__["_effective_cache_policy"] = services().cache_policy_of(self)
        return policy

    @cache_policy.setter
    def cache_policy(self, policy: Any) -> None:
        self._user_cache_policy = policy
        self.__dict__.pop("_effective_cache_policy", None)

    # ------------------------------------------------------------------ options

    #: options whose attribute reads what is in effect; ``with_options`` passes on what was given
    _GIVEN = {"cache_policy": "_user_cache_policy", "persist_result": "_user_persist_result"}

    _OPTIONS = (
        "name", "description", "tags", "retries", "retry_delay_seconds", "retry_jitter_factor",
        "retry_condition_fn", "timeout_seconds", "task_run_name", "log_prints", "on_completion",
        "on_failure", "on_running", "on_commit", "on_rollback", "cache_policy", "cache_key_fn", "cache_expiration", "refresh_cache",
        "persist_result", "result_storage", "result_serializer", "result_storage_key", "runner_options",
    )

    def with_options(self, **changes: Any) -> Task[R]:
        """A copy of this task with some options changed."""
        unknown = set(changes) - set(self._OPTIONS)
        if unknown:
            raise TypeError(f"with_options() got unknown option(s): {', '.join(sorted(unknown))}")
        given = self._GIVEN
        options = {name: getattr(self, given.get(name, name)) for name in self._OPTIONS}
        options.update(changes)
        return type(self)(self.fn, **options)

    @property
    def signature(self) -> inspect.Signature:
        if self._signature is None:
            self._signature = inspect.signature(self.fn)
        return self._signature

    def run_name(self, args: tuple[Any, ...], kwargs: dict[str, Any], count: int) -> str:
        """The name of the ``count``-th run of this task in a flow run."""
        template = self.task_run_name
        if template is None:
            return f"{self.name}-{count}"
        try:
            parameters = {**self._bound_to(), **self.bind(args, kwargs)}
            if callable(template):
                return str(template(**accepted_parameters(template, parameters)))
            return template.format(**parameters)
        except Exception as error:
            raise ValueError(f"task {self.name!r}: cannot build task_run_name from {template!r}: {error}") from error

    def _bound_to(self) -> dict[str, Any]:
        """``{"self": instance}`` (or ``cls``) for a task bound as a method, so run names can use it."""
        fn = self.fn
        if not inspect.ismethod(fn):
            return {}
        first = next(iter(inspect.signature(fn.__func__).parameters), None)
        return {first: fn.__self__} if first else {}

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = self.signature.bind_partial(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def run_hooks(self, hooks: list[Hook], task_run: Any, state: State | None, kind: str) -> None:
        """Call each hook; one that raises is logged and the others still run."""
        for hook in hooks:
            try:
                call_hook(hook, self, task_run, state)
            except Exception:
                engine_logger().exception("%s hook %r of task %r raised", kind, getattr(hook, "__name__", hook), self.name)

    # ------------------------------------------------------------------ running

    def __call__(self, *args: Any, return_state: bool = False, wait_for: Iterable[Any] | None = None, **kwargs: Any) -> Any:
        engine = current_engine()
        if engine is None:
            engine = _standalone_engine(self)
        if self.is_generator:
            from legato.core.generators import call_generator

            return call_generator(engine, self, args, kwargs, wait_for, return_state)
        if self.is_async and _in_event_loop():
            return _await_direct(engine, self, args, kwargs, wait_for, return_state)
        run = engine.call(self, args, kwargs, wait_for)
        state = run.state
        # a state the function returned is what a direct call gives back, as in Prefect
        return state if return_state or type(state) is ManualState else state.result()

    def submit(self, *args: Any, return_state: bool = False, wait_for: Iterable[Any] | None = None,
               **kwargs: Any) -> Any:
        """Run this task on the flow's task runner; returns a future at once.

        With ``return_state=True`` it waits for the run and returns its final
        state instead, as Prefect does.
        """
        engine = _require_engine(self, "submit")
        args, kwargs = adopt_arguments(engine.runner, args, kwargs)  # Dask partitions, Ray refs (core/adoption.py)
        future = LegatoFuture(engine.submit(self, args, kwargs, wait_for))
        if return_state:
            future.wait()
            return future.state
        return future

    def map(self, *args: Any, return_state: bool = False, wait_for: Iterable[Any] | None = None,
            max_concurrency: int | None = None, **kwargs: Any) -> Any:
        """Submit one run per element of the iterable arguments (see :mod:`legato.core.mapping`).

        ``max_concurrency`` bounds how many elements of this map are in flight
        at once (retries included); the others wait in the engine, holding no
        worker. With ``return_state=True`` it waits for every element and
        returns their final states, as Prefect does.
        """
        futures = self._map(args, kwargs, wait_for, max_concurrency)
        if return_state:
            futures.wait()
            return [future.state for future in futures]
        return futures

    def _map(self, args: tuple[Any, ...], kwargs: dict[str, Any], wait_for: Iterable[Any] | None,
             max_concurrency: int | None) -> LegatoFutureList:
        engine = _require_engine(self, "map")
        limiter = None
        if max_concurrency is not None:
            if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
                raise ValueError(f"{self.name}.map(): max_concurrency must be a positive int, got {max_concurrency!r}")
            from legato.core.graph import Limiter

            limiter = Limiter(max_concurrency)
        args, kwargs = adopt_arguments(engine.runner, args, kwargs)  # Dask partitions, Ray refs (core/adoption.py)
        wait_for = list(wait_for) if wait_for is not None else None
        # A future mapped over (``task.map(load.submit())``) is resolved to its
        # value to be iterated, so the elements never wait for it; the graph and
        # the history still show it upstream of every element.
        iterated: list[str] = []  # their run ids, all known before the first element is made
        calls = expand_map(self.name, self.signature, args, kwargs, functools.partial(_resolve_for_map, iterated))
        return engine.map_elements(self, calls, wait_for, limiter, iterated)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Task({self.name!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its function's file name, which a by-value pickler may drop (see :mod:`~legato.core.code_origin`)."""
        state = self.__dict__.copy()
        state["_source_file"] = source_file(self.fn)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        filename = state.pop("_source_file", None)
        self.__dict__.update(state)
        restore_source_file(self.fn, filename)

    def __get__(self, instance: Any, owner: Any) -> Any:
        """Tasks defined as methods bind like methods (also under ``@classmethod``).

        The bound task shares every option with this one (not a copy made
        through ``__init__``, whose ``inspect.getdoc`` on a bound method looks
        the attribute up on the class again, and so binds again, forever).
        """
        if instance is None:
            return self
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound.fn = self.fn.__get__(instance, owner)  # type: ignore[attr-defined]
        bound._signature = None
        return bound


_UNKNOWN: Any = object()


def _resolve_for_map(iterated: list[str], value: Any) -> Any:
    """The value of a future or state given to ``map`` (waiting for it); a future's run id goes in ``iterated``."""
    if isinstance(value, LegatoFuture):
        iterated.append(value.task_run.id)
        return value.result()
    if isinstance(value, State):
        return value.result()
    return value


def _require_engine(task: Task[Any], method: str) -> Any:
    engine = current_engine()
    if engine is not None:
        return engine
    if task_run_context.get() is not None:
        raise RuntimeError(
            f"{task.name}.{method}() was called inside a task running on a worker that has no flow engine; "
            "call the task directly there, or submit it from the flow"
        )
    raise RuntimeError(
        f"{task.name}.{method}() was called outside a flow: {method}() needs a flow run to schedule the task on. "
        f"Call it inside a @flow function, or call {task.name}(...) directly to run it now."
    )


def _in_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _await_direct(engine: Any, task: Task[Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                        wait_for: Any, return_state: bool) -> Any:
    """``await my_async_task(x)``: the coroutine runs on a worker thread with its own loop.

    The caller's event loop stays free while it waits, so other coroutines of
    an async flow keep going.
    """
    import asyncio

    run = await asyncio.to_thread(engine.call, task, args, kwargs, wait_for)
    state = run.state
    return state if return_state or type(state) is ManualState else state.result()


def _standalone_engine(task: Task[Any]) -> Any:
    """An engine for a task called outside any flow: runs it inline, with retries and hooks."""
    from legato.core.contracts import services
    from legato.core.engine import FlowEngine
    from legato.core.flow import FlowRun

    return FlowEngine(FlowRun.standalone(task.name), services().inline_runner())


@overload
def task(__fn: Callable[..., R]) -> Task[R]: ...
@overload
def task(**options: Any) -> Callable[[Callable[..., R]], Task[R]]: ...


def task(__fn: Callable[..., R] | None = None, **options: Any) -> Any:
    """Make a function a legato task: ``@task`` or ``@task(retries=3, ...)``."""
    if __fn is not None:
        return Task(__fn, **options)
    return lambda fn: Task(fn, **options)


__all__ = ["Task", "task"]
