"""``@flow``: the function whose run builds and runs the task graph.

Calling a flow validates its parameters, starts its task runner, runs the
body (which submits tasks to a fresh :class:`~legato.core.engine.FlowEngine`),
waits for every task it submitted, resolves any futures in its return value,
and ends in one final state:

* Completed: the body returned and every future it returned completed;
* Failed: the body raised (the exception is re-raised to the caller), or a
  future it returned failed; flow-level ``retries`` rerun the body;
* Crashed: an interrupt (Ctrl-C, ``SystemExit``) in the body or in a task;
  tasks not yet started are Cancelled and the interrupt is re-raised;
* Cancelled: the body raised :class:`~legato.core.errors.CancelledRun`.

A failed task that the body neither returns nor waits for does not fail the
flow, as in Prefect. A flow called inside another flow is a subflow: it runs
in the caller's thread with its own engine and a copy of its own runner.

Map of this module (top to bottom): :class:`FlowRun` (what is known about
one run); :class:`Flow` (options, parameter validation, run names,
``__call__``); ``_FlowRunner`` (one call: begin, body attempts with flow
retries on the clock, waiting within the timeout, resolving the result, the
final state, hooks and observers at the end); then helpers (when the result
store must open at once, type hints, validation messages) and :func:`flow`.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from legato.core import states as S
from legato.core.arguments import replace_futures
from legato.core.callables import accepted_parameters, check_callable_and_timeout
from legato.core.context import FlowRunContext, current_tags, flow_run_context, scheduled_window
from legato import config
from legato.core.clock import current_clock
from legato.core.contracts import services
from legato.core.engine import FlowEngine
from legato.core.errors import CancelledRun, FlowTimeoutError, ParameterTypeError, UnavailableFeature, format_error
from legato.core.graph import is_upstream
from legato.core.futures import LegatoFuture
from legato.core.hooks import call_hook, hook_list
from legato.core.logs import configure_logging, flow_run_logger
from legato.core.mainguard import refuse_in_worker_startup
from legato.core.retries import RetryPolicy

R = TypeVar("R")

_ADJECTIVES = "amber brisk calm deft eager fair gentle hardy ivory jolly keen lucid mellow nimble olive proud quiet rapid sable tidy urban vivid witty young zesty".split()
_NOUNS = "aria bolero cadenza duet etude fugue gavotte hymn interlude jig lied minuet nocturne opus prelude quartet rondo sonata toccata unison waltz".split()


@dataclass
class FlowRun:
    """What is known about one run of a flow."""

    id: str
    name: str
    flow_name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    run_key: str | None = None
    state: S.State = field(default_factory=S.Pending)
    run_count: int = 0
    #: whether ``print`` in the flow and in tasks that do not say otherwise goes to the run logger
    log_prints: bool = False
    #: the start of the schedule window a served or backfilled run is for (None for a run called directly)
    scheduled_start_time: Any = None
    #: a worker's stand-in for a flow run that lives in another process (it knows only the id and name)
    stand_in: bool = False
    started_at: float | None = None
    ended_at: float | None = None

    @classmethod
    def standalone(cls, name: str) -> FlowRun:
        """The stand-in run of a task called outside any flow."""
        return cls(id=uuid.uuid4().hex, name=f"standalone-{name}", flow_name="<no flow>")


class Flow(Generic[R]):
    """A function that legato runs as a flow. Build one with :func:`flow`."""

    _OPTIONS = (
        "name", "description", "version", "task_runner", "retries", "retry_delay_seconds", "flow_run_name",
        "tags", "log_prints", "validate_parameters", "on_completion", "on_failure", "on_crashed",
        "on_cancellation", "on_running", "timeout_seconds", "persist_result", "result_storage", "result_serializer",
        "cache_result_in_memory", "run_key",
    )

    def __init__(
        self,
        fn: Callable[..., R],
        *,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        task_runner: Any = None,
        retries: int | None = None,
        retry_delay_seconds: float | None = None,
        flow_run_name: str | Callable[..., str] | None = None,
        tags: Iterable[str] | None = None,
        log_prints: bool | None = None,
        validate_parameters: bool = True,
        on_completion: list[Callable[..., Any]] | None = None, on_failure: list[Callable[..., Any]] | None = None,
        on_crashed: list[Callable[..., Any]] | None = None, on_cancellation: list[Callable[..., Any]] | None = None,
        on_running: list[Callable[..., Any]] | None = None,
        timeout_seconds: float | None = None,
        persist_result: bool | None = None, result_storage: Any = None, result_serializer: Any = None,
        cache_result_in_memory: bool = True,
        run_key: str | Callable[..., str] | None = None,
    ) -> None:
        check_callable_and_timeout(fn, timeout_seconds, "@flow")
        if task_runner is not None:
            services().validate_runner(task_runner)
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "flow").replace("_", "-")
        self.description = description or inspect.getdoc(fn)
        self.version = version
        self.task_runner = task_runner
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_policy = RetryPolicy(retries, retry_delay_seconds)
        self.flow_run_name = flow_run_name
        self.tags = frozenset(tags or ())
        self.log_prints = log_prints
        self.validate_parameters = validate_parameters
        self._keep_hooks(on_completion, on_failure, on_crashed, on_cancellation, on_running)
        self.timeout_seconds = timeout_seconds
        self._keep_result_options(persist_result, result_storage, result_serializer, cache_result_in_memory, run_key)
        self.is_async = inspect.iscoroutinefunction(fn)
        self.signature = inspect.signature(fn)
        self._model: Any = None
        self._hints: dict[str, Any] | None = None
        if log_prints:
            from legato.core.logs import install_print_redirect

            install_print_redirect()
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def _keep_hooks(self, on_completion: Any, on_failure: Any, on_crashed: Any, on_cancellation: Any,
                    on_running: Any) -> None:
        self.on_completion = hook_list(on_completion, "on_completion")
        self.on_failure = hook_list(on_failure, "on_failure")
        self.on_crashed = hook_list(on_crashed, "on_crashed")
        self.on_cancellation = hook_list(on_cancellation, "on_cancellation")
        self.on_running = hook_list(on_running, "on_running")

    def _keep_result_options(self, persist_result: Any, result_storage: Any, result_serializer: Any,
                             cache_result_in_memory: bool, run_key: Any) -> None:
        """What the result store reads (:mod:`legato.results`): persistence, and the run key of resume."""
        self.persist_result = persist_result
        self.result_storage = result_storage
        self.result_serializer = result_serializer
        self.cache_result_in_memory = cache_result_in_memory
        self.run_key = run_key

    def with_options(self, **changes: Any) -> Flow[R]:
        """A copy of this flow with some options changed."""
        unknown = set(changes) - set(self._OPTIONS)
        if unknown:
            raise TypeError(f"with_options() got unknown option(s): {', '.join(sorted(unknown))}")
        options = {name: getattr(self, name) for name in self._OPTIONS}
        options.update(changes)
        return type(self)(self.fn, **options)

    def to_deployment(self, name: str | None = None, **options: Any) -> Any:
        """A scheduled deployment of this flow, for ``legato.serve`` (see :mod:`legato.scheduling`)."""
        return services().to_deployment(self, name, options)

    def serve(self, name: str | None = None, **options: Any) -> None:
        """Run this flow on a schedule until SIGINT/SIGTERM (see :mod:`legato.scheduling`)."""
        self.to_deployment(name, **options).serve()

    def deploy(self, *args: Any, **kwargs: Any) -> Any:
        """Prefect's deployment to a work pool through its API: legato has neither, so this says what to use."""
        raise UnavailableFeature(
            "Flow.deploy is not available in legato: there are no work pools to deploy to; schedule the flow "
            "with flow.serve(...) or legato.serve(flow.to_deployment(...))"
        )

    @classmethod
    def from_source(cls, *args: Any, **kwargs: Any) -> Any:
        """Prefect's loading of a flow from remote storage for its workers: legato runs flows from your checkout."""
        raise UnavailableFeature(
            "Flow.from_source is not available in legato: import the flow from your checkout, or run it "
            "with `legato run path/to/file.py:flow`"
        )

    def __repr__(self) -> str:
        return f"Flow({self.name!r})"

    def __get__(self, instance: Any, owner: Any) -> Any:
        """Flows defined as methods bind like methods (also under ``@classmethod``), sharing every option."""
        if instance is None:
            return self
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound.fn = self.fn.__get__(instance, owner)
        bound.signature = inspect.signature(bound.fn)
        bound._model = None
        bound._hints = None
        return bound

    # ------------------------------------------------------------------ parameters

    def validate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Bind the call's arguments to parameters, coercing type-hinted ones with pydantic."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"flow {self.name!r}: {error}") from None
        bound.apply_defaults()
        parameters = dict(bound.arguments)
        if not self.validate_parameters or self._already_valid(parameters):
            return parameters
        model = self._parameter_model()
        if model is None:
            return parameters
        import pydantic

        hinted = {k: v for k, v in parameters.items() if k in model.model_fields}
        try:
            validated = model.model_validate(hinted)
        except pydantic.ValidationError as error:
            raise ParameterTypeError(_describe_validation(self.name, error)) from None
        for name in hinted:
            parameters[name] = getattr(validated, name)
        return parameters

    def _already_valid(self, parameters: dict[str, Any]) -> bool:
        """True when every hinted value already is an instance of its (plain class) hint.

        Then there is nothing to coerce, and pydantic (about 90 ms to import)
        is not needed at all.
        """
        if self._hints is None:
            self._hints = _resolved_hints(self.fn)
        for name, value in parameters.items():
            hint = self._hints.get(name, inspect.Parameter.empty)
            if hint is inspect.Parameter.empty or hint is Any:  # Any is a class since 3.11, not one to check
                continue
            if not isinstance(hint, type) or not isinstance(value, hint):
                return False
        return True

    def _parameter_model(self) -> Any:
        """A pydantic model of the type-hinted parameters, built on first call.

        A hint that cannot be resolved (a string naming a class local to some
        function) is left unvalidated rather than breaking the flow.
        """
        if self._model is None:
            hints = _resolved_hints(self.fn)
            fields = {}
            for name, parameter in self.signature.parameters.items():
                hint = hints.get(name, parameter.annotation)
                if hint is inspect.Parameter.empty or isinstance(hint, str):
                    continue
                if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                    continue
                default = ... if parameter.default is inspect.Parameter.empty else parameter.default
                fields[name] = (hint, default)
            if not fields:
                self._model = False
            else:
                import pydantic

                self._model = pydantic.create_model(
                    f"{self.name}-parameters",
                    __config__=pydantic.ConfigDict(arbitrary_types_allowed=True),
                    **fields,  # type: ignore[call-overload]
                )
        return self._model or None

    def _call_arguments(self, parameters: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        bound = inspect.BoundArguments(self.signature, parameters)  # type: ignore[arg-type]
        return bound.args, bound.kwargs

    def _run_name(self, parameters: dict[str, Any]) -> str:
        template = self.flow_run_name
        if template is None:
            return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randrange(1000):03d}"
        try:
            if callable(template):
                return str(template(**accepted_parameters(template, parameters)))
            return template.format(**parameters)
        except Exception as error:
            raise ValueError(f"flow {self.name!r}: cannot build flow_run_name from {template!r}: {error}") from error

    # ------------------------------------------------------------------ running

    def __call__(self, *args: Any, return_state: bool = False, run_key: Any = None,
                 wait_for: Iterable[Any] | None = None, **kwargs: Any) -> Any:
        """Run the flow. ``run_key`` names the logical run, so a rerun with the same key resumes it.

        ``wait_for`` (futures or states, as for tasks) makes a subflow start
        only once they are final; if one did not complete, the subflow does
        not run and ends Pending named NotReady, as a task would.
        """
        refuse_in_worker_startup()  # a worker re-importing a script that lacks the __main__ guard
        if wait_for is not None:
            not_ready = _wait_for_upstreams(self.name, wait_for)
            if not_ready is not None:
                return not_ready if return_state else not_ready.result()
        flow = self if run_key is None else self.with_options(run_key=run_key)
        parameters = None
        if return_state:  # Prefect: parameters that fail validation give a Failed state, not an exception
            try:
                parameters = flow.validate(args, kwargs)
            except TypeError as error:
                return _invalid_parameters(error, self.is_async)
        if self.is_async:
            return flow._call_async(args, kwargs, return_state, parameters)
        return _FlowRunner(flow, args, kwargs, return_state, parameters).run_sync()

    async def _call_async(self, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool,
                          parameters: dict[str, Any] | None = None) -> Any:
        return await _FlowRunner(self, args, kwargs, return_state, parameters).run_async()

    def run_hooks(self, hooks: list[Callable[..., Any]], flow_run: FlowRun, state: S.State, kind: str) -> None:
        for hook in hooks:
            try:
                call_hook(hook, self, flow_run, state)
            except Exception:
                flow_run_logger(flow_run).exception("%s hook %r raised", kind, getattr(hook, "__name__", hook))


class _FlowRunner:
    """Carries one call of a flow from parameters to final state."""

    def __init__(self, flow: Flow[Any], args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool,
                 parameters: dict[str, Any] | None = None) -> None:
        configure_logging()
        self.flow = flow
        self.return_state = return_state
        self.parameters = flow.validate(args, kwargs) if parameters is None else parameters
        self.run = FlowRun(
            id=uuid.uuid4().hex,
            name=flow._run_name(self.parameters),
            flow_name=flow.name,
            parameters=self.parameters,
            tags=flow.tags | current_tags(),
            log_prints=_effective_log_prints(flow),
            scheduled_start_time=_window_start(),
        )
        self.run.run_key = services().render_run_key(flow.run_key, self.parameters)
        #: flow retries wait on it; the engines of this run take it too
        self.clock = current_clock()
        self._engine: FlowEngine | None = None
        self.logger = flow_run_logger(self.run)

    def run_sync(self) -> Any:
        runner = services().resolve_runner(self.flow.task_runner)
        state = self._begin(runner)
        try:
            with runner:
                while True:
                    state = self._body_sync(self._new_attempt(runner))
                    delay = self._retry_delay(state)
                    if delay is None:
                        break
                    self.clock.sleep(delay)
        except BaseException as interrupt:  # the runner itself was interrupted while shutting down
            state = S.Crashed(interrupt)
        return self._end(state)

    async def run_async(self) -> Any:
        runner = services().resolve_runner(self.flow.task_runner)
        state = self._begin(runner)
        try:
            with runner:
                while True:
                    state = await self._body_async(self._new_attempt(runner))
                    delay = self._retry_delay(state)
                    if delay is None:
                        break
                    await self.clock.sleep_async(delay)
        except BaseException as interrupt:  # the runner itself was interrupted while shutting down
            state = S.Crashed(interrupt)
        return self._end(state)

    # -- phases

    def _begin(self, runner: Any) -> S.State:
        self.run.started_at = time.time()
        self.run.state = S.Running()
        self._results = services().open_results(self.flow, self.run) if _results_needed_now(self.flow, self.run) else None
        self._observers = services().open_observers(self.run, runner, top_level=flow_run_context.get() is None)
        self.logger.info("Beginning flow run %r for flow %r", self.run.name, self.flow.name)
        if self.flow.on_running:
            self.flow.run_hooks(self.flow.on_running, self.run, self.run.state, "on_running")
        return self.run.state

    def _results_later(self) -> Any:
        """The result store, opened the first time a task asks for caching (shared by all attempts)."""
        if self._results is None:
            self._results = services().open_results(self.flow, self.run)
        return self._results

    def _new_attempt(self, runner: Any) -> FlowEngine:
        """A fresh engine for one attempt of the body (flow retries rerun the body)."""
        self.run.run_count += 1
        self._engine = FlowEngine(self.run, runner, self._observers, self._results, self._results_later, self.clock)
        return self._engine

    def _body_sync(self, engine: FlowEngine) -> S.State:
        token = flow_run_context.set(FlowRunContext(self.flow, self.run, engine, self.parameters))
        started = time.monotonic()
        try:
            call_args, call_kwargs = self.flow._call_arguments(self.parameters)
            return self._after_body(engine, self.flow.fn(*call_args, **call_kwargs), started)
        except BaseException as error:
            return self._failed(engine, error)
        finally:
            flow_run_context.reset(token)

    async def _body_async(self, engine: FlowEngine) -> S.State:
        """As :meth:`_body_sync`; the blocking waits run on a thread so the event loop stays free."""
        import asyncio

        token = flow_run_context.set(FlowRunContext(self.flow, self.run, engine, self.parameters))
        started = time.monotonic()
        try:
            call_args, call_kwargs = self.flow._call_arguments(self.parameters)
            result = await self.flow.fn(*call_args, **call_kwargs)
            return await asyncio.to_thread(self._after_body, engine, result, started)
        except BaseException as error:
            return self._failed(engine, error)
        finally:
            flow_run_context.reset(token)

    def _after_body(self, engine: FlowEngine, result: Any, started: float) -> S.State:
        """Once the body returned: wait for its tasks (within the flow's timeout), then resolve its value."""
        if not self._wait_within_timeout(engine, started):
            return self._timed_out(engine)
        if engine.crash is not None:
            raise engine.crash
        return self._returned_state(result)

    def _returned_state(self, result: Any) -> S.State:
        """The flow's final state from what its body returned, by Prefect's rules.

        A state the user built is the final state. Task runs' states (one, or
        a list, tuple or set of them) are returned as they are, inside a
        final state that is Completed if they all completed and Failed
        otherwise. Futures anywhere else in the value give their values.
        """
        if isinstance(result, S.ManualState):
            return result
        states = [result] if isinstance(result, S.State) else _states_in(result)
        if states is None:
            return S.Completed(self._resolve(result))
        unfinished = [state for state in states if not state.is_completed()]
        if unfinished:
            first = unfinished[0].message or unfinished[0].name
            return S.Failed(message=f"{len(unfinished)}/{len(states)} returned state(s) did not complete: {first}",
                            data=result)
        return S.Completed(result)

    def _wait_within_timeout(self, engine: FlowEngine, started: float) -> bool:
        """Wait for every task; False if the flow's ``timeout_seconds`` ran out first."""
        timeout = self.flow.timeout_seconds
        if timeout is None:
            engine.wait_all()
            return True
        remaining = timeout - (time.monotonic() - started)
        return remaining > 0 and engine.wait_all(remaining)

    def _timed_out(self, engine: FlowEngine) -> S.State:
        timeout = self.flow.timeout_seconds
        cancelled = engine.cancel_pending(f"the flow run exceeded timeout of {timeout} second(s)", abandon=True)
        error = FlowTimeoutError(f"flow run {self.run.name!r} exceeded timeout of {timeout} second(s) "
                                 f"({cancelled} unfinished task run(s) cancelled)")
        return S.TimedOut(error)

    def _resolve(self, result: Any) -> Any:
        def value(source: Any) -> Any:
            return source.result()

        # only futures: states inside the value stay states, as Prefect returns them
        return replace_futures(result, value, _is_future)

    def _failed(self, engine: FlowEngine, error: BaseException) -> S.State:
        if engine.crash is not None or not isinstance(error, Exception):
            crash = engine.crash or error
            cancelled = engine.cancel_pending(f"the flow run crashed: {type(crash).__name__}")
            if cancelled:
                self.logger.warning("Cancelled %d task run(s) that had not finished", cancelled)
            return S.Crashed(crash, message=f"the flow run was interrupted by {type(crash).__name__}")
        try:
            engine.wait_all()
        except BaseException as interrupt:
            engine.cancel_pending("the flow run was interrupted")
            return S.Crashed(interrupt)
        if isinstance(error, CancelledRun):
            return S.Cancelled(str(error) or "the flow run was cancelled")
        return S.Failed(error)

    def _retry_delay(self, state: S.State) -> float | None:
        if not state.is_failed() or not self.flow.retry_policy.enabled:
            return None
        policy = self.flow.retry_policy
        if not hasattr(self, "_retry_state"):
            self._retry_state = policy.new_call_state(self.flow, self.run)
        delay = policy.next_delay(self._retry_state, state.data, state)
        if delay is not None:
            self.logger.warning("Flow run failed with %r; retrying in %.3g s", state.data, delay)
        return delay

    def _end(self, state: S.State) -> Any:
        run, flow = self.run, self.flow
        for observer in self._observers:  # a live display stops before the hooks print
            _quietly(observer.close)
        run.state = state
        run.ended_at = time.time()
        # the hooks run inside the flow run's context, as in Prefect (get_run_logger() works there)
        token = flow_run_context.set(FlowRunContext(self.flow, run, self._engine, self.parameters))
        try:
            self._log_and_run_final_hooks(state)
        finally:
            flow_run_context.reset(token)
        if self._observers:
            error = format_error(None if state.is_completed() else state.result(raise_on_failure=False))
            for observer in self._observers:
                _quietly(observer.flow_run_finished, run, error)
        if self.return_state:
            return state
        if state.is_crashed() and isinstance(state.data, BaseException) and not isinstance(state.data, Exception):
            raise state.data
        return state.result()

    def _log_and_run_final_hooks(self, state: S.State) -> None:
        run, flow = self.run, self.flow
        if state.is_completed():
            self.logger.info("Finished in state %s", state.name)
            flow.run_hooks(flow.on_completion, run, state, "on_completion")
        elif state.is_failed():
            self.logger.error("Finished in state %s: %s", state.name, state.message)
            flow.run_hooks(flow.on_failure, run, state, "on_failure")
        elif state.is_crashed():
            self.logger.error("Finished in state Crashed: %s", state.message)
            flow.run_hooks(flow.on_crashed, run, state, "on_crashed")
        elif state.is_cancelled():
            self.logger.warning("Finished in state Cancelled: %s", state.message)
            flow.run_hooks(flow.on_cancellation, run, state, "on_cancellation")


def _wait_for_upstreams(flow_name: str, wait_for: Iterable[Any]) -> S.State | None:
    """Wait for ``wait_for``; a NotReady state if one of them did not complete, else None."""
    for upstream in wait_for:
        if isinstance(upstream, LegatoFuture):
            upstream.wait()
            state = upstream.state
        elif isinstance(upstream, S.State):
            state = upstream
        else:
            raise TypeError(f"flow {flow_name!r}: wait_for takes futures and states, got {upstream!r}")
        if not state.is_completed():
            return S.NotReady(f"flow {flow_name!r} did not run: an upstream it waits for ended {state.name}")
    return None


def _invalid_parameters(error: TypeError, is_async: bool) -> Any:
    state = S.Failed(error, message=f"Validation of flow parameters failed with error: {error}")
    if not is_async:
        return state

    async def failed() -> S.State:
        return state

    return failed()


def _is_future(value: Any) -> bool:
    return isinstance(value, LegatoFuture)


def _states_in(value: Any) -> list[S.State] | None:
    """The states of a non-empty list, tuple or set made only of states, else None."""
    if not isinstance(value, (list, tuple, set, frozenset)) or not value:
        return None
    states = list(value)
    return states if all(isinstance(item, S.State) for item in states) else None


def _window_start() -> Any:
    """The schedule window's start, for a top-level run started by a server or a backfill."""
    window = scheduled_window.get()
    return window[0] if window is not None and flow_run_context.get() is None else None


def _effective_log_prints(flow: Flow[Any]) -> bool:
    """``log_prints=None`` (the default) inherits from the parent flow run, as in Prefect."""
    if flow.log_prints is not None:
        return bool(flow.log_prints)
    parent = flow_run_context.get()
    return bool(parent is not None and getattr(parent.flow_run, "log_prints", False))


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    """Call an observer; one that raises is logged, never allowed to change how the flow run ends."""
    try:
        fn(*args)
    except Exception:
        logging.getLogger("legato.engine").warning("a run observer failed: %r", fn, exc_info=True)


def _results_needed_now(flow: Flow[Any], run: FlowRun) -> bool:
    """Must the result store be open before any task runs? (else it opens on first use)

    Yes when the run persists everything (a run key, flow-level result
    options, ``LEGATO_PERSIST_RESULTS``) or is a subflow of a run with a run
    key (its own key derives from the parent's).
    """
    if run.run_key is not None or flow.run_key is not None:
        return True
    if flow.persist_result or flow.result_storage is not None or flow.result_serializer is not None:
        return True
    if config.persist_results():
        return True
    parent = flow_run_context.get()
    return parent is not None and getattr(parent.flow_run, "run_key", None) is not None


def _resolved_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Type hints with string annotations evaluated where possible, one parameter at a time."""
    hints: dict[str, Any] = {}
    namespace = getattr(fn, "__globals__", {})
    for name, annotation in getattr(fn, "__annotations__", {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # noqa: S307 - the function's own annotation
            except Exception:
                pass
        hints[name] = annotation
    return hints


def _describe_validation(flow_name: str, error: Any) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item.get("loc", ())) or "?"
        problems.append(f"parameter {location!r}: {item.get('msg')} (got {item.get('input')!r})")
    return f"flow {flow_name!r}: invalid parameters: " + "; ".join(problems)


def flow(__fn: Callable[..., R] | None = None, **options: Any) -> Any:
    """Make a function a legato flow: ``@flow`` or ``@flow(task_runner=..., retries=...)``."""
    if __fn is not None:
        return Flow(__fn, **options)
    return lambda fn: Flow(fn, **options)


__all__ = ["Flow", "FlowRun", "flow"]
