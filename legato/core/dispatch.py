"""Dispatch: from a ready task run to an attempt on the runner, and from its outcome back.

A mixin of :class:`legato.core.engine.FlowEngine` (it uses the engine's lock,
runner, clock, result store and ``_settle_all``), kept apart so the path of
one attempt reads in one file:

1. :meth:`Dispatch._prepare` checks the inputs (an upstream that did not
   complete makes the run NotReady), asks the result cache, and opens an
   attempt (:func:`legato.core.graph.begin_attempt`);
2. :meth:`Dispatch._dispatch` builds the work item, arms the timeout on the
   clock, and submits it;
3. :meth:`Dispatch._attempt_done` (or :meth:`Dispatch._timed_out`) closes the
   attempt, and :meth:`Dispatch._failure_state` decides: retry later (on the
   clock) or a final state, which the engine then settles.

An attempt is closed once (:func:`legato.core.graph.close_attempt`): a late
outcome of a timed-out or cancelled attempt is ignored.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from legato.core import states as S
from legato.core.arguments import fill_slots
from legato.core.eager import EagerSubmission
from legato.core.errors import FailedRun, TaskTimeoutError, WorkerStartupError
from legato.core.tracebacks import trim as trim_traceback
from legato.core.graph import TaskRun, begin_attempt, close_attempt
from legato.core.logs import task_run_logger
from legato.core.batching import Element
from legato.core.work import Inline, StateReturned, WorkItem, slot_values

if TYPE_CHECKING:
    from legato.core.contracts import Runner, StartReportingFuture

_COMPLETED = S.StateType.COMPLETED
#: what :meth:`Dispatch._check_upstream` returns for a completed upstream whose runner future carries the value
USE_FUTURE = object()


class NotReady(Exception):
    """An input of a run did not complete: the run becomes NotReady."""


class Dispatch(EagerSubmission):
    """Starting attempts of task runs and deciding what their outcomes lead to.

    Runs that went to the backend before their upstreams ended are the
    eager path's (:mod:`legato.core.eager`) until it lets them go.
    """

    # what it uses of the engine (set in FlowEngine.__init__)
    runner: Runner
    clock: Any
    results: Any
    crash: BaseException | None
    logger: Any
    _lock: Any
    _open_results: Any
    _cache_tasks: dict[Any, bool]
    _scoped: dict[Any, Any]
    _on_started: tuple[Callable[..., None], ...]
    _settle_all: Callable[..., None]

    def _start_or_settle(self, run: TaskRun) -> None:
        """Dispatch one run on its own (a retry) and settle it if it cannot run."""
        self._settle_all([(run, self._dispatch(run))])

    def _prepare(self, run: TaskRun) -> S.State | tuple[list[int | Inline] | None, Sequence[Any]] | None:
        """Open a new attempt of a ready run: its argument slots and upstream futures.

        Returns a final state instead when the run cannot run (an upstream
        failed, the flow crashed, its result is cached), or None when it has
        already settled (cancelled while it waited in a backlog).
        """
        if run.settled:
            return None
        if self._eager and self._deferred(run):  # its eager attempt is out: it dispatches the run if need be
            return None
        if self.crash is not None:
            return S.Cancelled("the flow run crashed before this task started")
        runner = run.runner
        assert runner is not None
        try:
            slots, upstream_futures = self._resolve_inputs(run, runner)
        except NotReady as not_ready:
            return S.NotReady(str(not_ready))
        if run.run_count == 0 and self._wants_cache(run.task):
            cached = self._lookup_cache(run, slots, upstream_futures)
            if cached is not None:
                return cached
        if begin_attempt(run) and self._on_started:  # its first start
            for started in self._on_started:
                started(run)
        run.batch_index = None
        run.attempt_open = True
        return slots, upstream_futures

    def _work_item(self, run: TaskRun, slots: list[int | Inline] | None) -> WorkItem:
        """The work item of the attempt :meth:`_prepare` opened."""
        runner = run.runner
        assert runner is not None
        # in the flow's memory the run itself describes the run; elsewhere a picklable copy does
        info: Any = run if runner.shares_memory else run.info()
        return WorkItem(run.task, run.args, run.kwargs, info, slots, self if runner.shares_memory else None,
                        run.options)

    def _begin_attempt(self, run: TaskRun) -> None:
        if begin_attempt(run) and self._on_started:
            for started in self._on_started:
                started(run)

    def _dispatch(self, run: TaskRun) -> S.State | None:
        """Hand a ready run to its runner on its own; return a final state instead if it cannot run."""
        prepared = self._prepare(run)
        if prepared is None or isinstance(prepared, S.State):
            return prepared
        slots, upstream_futures = prepared
        work = self._work_item(run, slots)
        attempt = run.run_count
        runner = run.runner
        assert runner is not None
        timeout = run.task.timeout_seconds if not run.task.is_async else None  # async: enforced in the task
        arm = functools.partial(self.clock.call_later, timeout, self._timed_out, run, attempt)
        if timeout is not None and not runner.reports_start:
            arm()  # counted from submission: the runner cannot say when the task starts
        try:
            future = runner.submit(work, upstream_futures)
        except BaseException as error:  # a runner that cannot take the work fails the run
            with self._lock:
                run.attempt_open = False
            return self._failure_state(run, error, attempt)
        run.runner_future = future
        if timeout is not None and runner.reports_start:
            starting: StartReportingFuture = future
            starting.add_start_callback(lambda _future: arm())
        future.add_done_callback(lambda f, run=run, attempt=attempt: self._attempt_done(run, attempt, f))
        return None


    def _wants_cache(self, task: Any) -> bool:
        """Does the result store look up or persist this task's results? (asked once per task)"""
        if self.results is None:
            if self._open_results is None or not task.uses_results:
                return False
            with self._lock:
                if self.results is None:
                    self.results = self._open_results()
            if self.results is None:
                return False
        wants = self._cache_tasks.get(task)
        if wants is None:
            wants = self._cache_tasks[task] = bool(self.results.wants(task))
        return wants


    def _resolve_inputs(self, run: TaskRun, runner: Runner) -> tuple[list[int | Inline] | None, Sequence[Any]]:
        if run.wait_for:  # (not even an iterator over nothing, for most runs)
            for waited in run.wait_for:
                self._check_upstream(waited.source, waited.allow_failure)
        if not run.upstreams:
            return None, ()  # the runner contract takes any sequence; () is the shared one
        slots: list[int | Inline] = []
        futures: list[Any] = []
        for upstream in run.upstreams:
            source = upstream.source
            value = self._check_upstream(source, upstream.allow_failure)
            if value is not USE_FUTURE:
                slots.append(Inline(value))
            elif source.runner is runner and not runner.shares_memory and source.runner_future is not None:
                index = len(futures)
                slots.append(index if source.batch_index is None else Element(index, source.batch_index))
                futures.append(source.runner_future)
            else:
                slots.append(Inline(source.state.result()))
        return slots, futures

    def _lookup_cache(self, run: TaskRun, slots: list[int | Inline] | None, futures: Sequence[Any]) -> S.State | None:
        """Ask the result store for this run's result; remember its parameters for storing later."""
        args, kwargs = run.args, run.kwargs
        if slots is not None:
            values = slot_values(slots, [f.result() for f in futures])
            args, kwargs = fill_slots(args, values), fill_slots(kwargs, values)
        run.cache_parameters = run.task.bind(args, kwargs)
        hit, value = self.results.lookup(run.task, run.info(), run.cache_parameters)
        if not hit:
            return None
        run.started_at = run.started_at or time.time()
        return S.Cached(value)

    def _completed(self, run: TaskRun, data: Any) -> S.State:
        """The Completed state of a run; its result is persisted first when the run asks for it.

        Persisting before settling means nobody can see the run complete (a
        waiting flow body, a process about to exit) before its record exists.
        """
        state = S.Completed(data)
        if run.cache_parameters is not None and self.results is not None:
            write = functools.partial(self._store, run, run.info(), run.cache_parameters, state)
            scope = self._scoped.get(run) if self._scoped else None
            if scope is None or not scope.defer_store(run, write):  # a transaction writes it on commit
                write()
            run.cache_parameters = None
        return state

    def _store(self, run: TaskRun, info: Any, parameters: dict[str, Any], state: S.State) -> None:
        try:
            self.results.store(run.task, info, parameters, state.result())
        except Exception:
            self.logger.warning("could not persist the result of task run %r", run.name, exc_info=True)

    def _check_upstream(self, source: Any, allow_failure: bool) -> Any:
        state = source if isinstance(source, S.State) else source.state
        if state.type is _COMPLETED:
            return state.result() if isinstance(source, S.State) else USE_FUTURE
        if allow_failure:
            return state.result(raise_on_failure=False)
        label = getattr(source, "name", "a state")
        raise NotReady(f"upstream task run {label!r} finished in state {state.name}")


    # ------------------------------------------------------------------ outcomes

    def _attempt_done(self, run: TaskRun, attempt: int, future: Any) -> None:
        with self._lock:  # graph.close_attempt, inline: once per task run on the hot path
            if not run.attempt_open or run.run_count != attempt:
                return
            run.attempt_open = False
        try:
            error = future.exception()
        except BaseException as cancelled:  # CancelledError from the backend
            self._settle_all([(run, S.Cancelled(f"the runner cancelled this task: {cancelled!r}"))])
            return
        if error is None:
            data = future.result() if run.runner is None or run.runner.shares_memory else S.ResultRef(future.result)
            self._settle_all([(run, self._completed(run, data))])
            return
        state = self._failure_state(run, error, attempt)
        if state is not None:
            self._settle_all([(run, state)])

    def _timed_out(self, run: TaskRun, attempt: int) -> None:
        with self._lock:
            if not close_attempt(run, attempt):
                return
        if run.runner_future is not None and run.runner is not None:
            run.runner.abort(run.runner_future)
        error = TaskTimeoutError(f"task run {run.name!r} exceeded timeout of {run.task.timeout_seconds} second(s)")
        state = self._failure_state(run, error, attempt)
        if state is not None:
            self._settle_all([(run, state)])

    def _failure_state(self, run: TaskRun, error: BaseException, attempt: int,
                       reschedule: Callable[[TaskRun, float], None] | None = None) -> S.State | None:
        """Decide what a failed attempt leads to: a retry (returns None) or a final state."""
        if type(error) is StateReturned:  # not a failure: the function returned a state
            return self._returned_state(run, error.state, attempt, reschedule)
        trim_traceback(error)
        if not isinstance(error, Exception):
            self.crash = self.crash or error
            self.logger.error("Task run %r crashed: %s", run.name, describe(error))
            return S.Crashed(error)
        state = S.TimedOut(error) if isinstance(error, TaskTimeoutError) else S.Failed(error)
        return self._retry_or_final(run, error, state, attempt, reschedule)

    def _returned_state(self, run: TaskRun, state: S.State, attempt: int,
                        reschedule: Callable[[TaskRun, float], None] | None) -> S.State | None:
        """The outcome of an attempt whose function returned ``state``, by Prefect's rules.

        A state the user built is the run's final state: Completed persists
        its value first, Failed is retried while retries are left (as a raised
        exception would be), a state that is not final is a mistake that fails
        the run. A task run's state (``return other(return_state=True)``)
        is the value of a Completed run if it completed; otherwise the run
        fails with it as its data, so ``result()`` raises its error.
        """
        run.runner_future = None  # it holds no value: downstream runs take the value from the state
        if isinstance(state, S.ManualState):
            if state.type is _COMPLETED:
                self._completed(run, state.data)
                return state
            if not state.is_final():
                error = TypeError(f"task run {run.name!r} returned {state!r}, which is not a final state: "
                                  f"return Completed(...), Failed(...), Crashed(...) or Cancelled(...)")
                return self._retry_or_final(run, error, S.Failed(error), attempt, reschedule)
            if state.type is S.StateType.FAILED:
                data = state.data
                error = data if isinstance(data, Exception) else FailedRun(state.message or "the task returned a Failed state")
                return self._retry_or_final(run, error, state, attempt, reschedule)
            return state
        if state.type is _COMPLETED:
            return self._completed(run, state)
        return S.Failed(message=f"the task returned the state of a run that did not complete: "
                                f"{state.message or state.name}", data=state)

    def _retry_or_final(self, run: TaskRun, error: BaseException, state: S.State, attempt: int,
                        reschedule: Callable[[TaskRun, float], None] | None) -> S.State | None:
        """A failed attempt (``error``, ending in ``state``): schedule a retry (None) or return ``state``."""
        policy = run.task.retry_policy
        # a runner whose workers cannot start fails every attempt the same way, at once: no retries
        if policy.enabled and self.crash is None and not isinstance(error, WorkerStartupError):
            if run.retry_state is None:
                run.retry_state = policy.new_call_state(run.task, run)
            try:
                delay = policy.next_delay(run.retry_state, error, state)
            except Exception as condition_error:  # a retry_condition_fn that raises ends the retries
                self.logger.error("retry condition of task run %r raised %r", run.name, condition_error)
                delay = None
            if delay is not None:
                task_run_logger(run).warning(
                    "Attempt %d failed with %s; retrying in %.3g s (retries: %s)",
                    attempt, describe(error), delay, policy.retries if policy.retries >= 0 else "custom")
                run.last_state = S.AwaitingRetry(f"retry in {delay:.3g} s")
                (reschedule or self._schedule_retry)(run, delay)
                return None
        traced = error.__traceback__ is not None or error.__cause__ is not None  # (not a returned Failed state)
        task_run_logger(run).error("Finished in state %s: %s", state.name, describe(error),
                                   exc_info=exc_info(error) if traced and not isinstance(error, TaskTimeoutError) else None)
        return state

    def _schedule_retry(self, run: TaskRun, delay: float) -> None:
        if delay <= 0:
            self._start_or_settle(run)
        else:
            self.clock.call_later(delay, self._start_or_settle, run)



def describe(error: BaseException) -> str:
    return f"{type(error).__name__}({error})" if str(error) else type(error).__name__


def exc_info(error: BaseException) -> tuple[Any, ...]:
    return (type(error), error, error.__traceback__)


__all__ = ["USE_FUTURE", "Dispatch", "NotReady", "describe", "exc_info"]
