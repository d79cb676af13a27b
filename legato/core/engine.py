"""The engine of one flow run: wires the graph, dispatch, the map scheduler and direct calls.

The flow body builds the graph as it runs. Every ``submit`` creates a
:class:`~legato.core.graph.TaskRun`, finds the futures in its arguments
(edges), and either hands it on at once (all upstreams final) or parks it
with a count of the upstreams it still waits for. When a task run reaches a
final state, its dependents' counts go down and those that reach zero are
handed on in turn, so a task never occupies a worker while it waits for its
inputs. Where each part lives:

==========================  ====================================================
:mod:`legato.core.graph`     task runs, edges, the state machine (plain data)
:mod:`legato.core.dispatch`  a ready run to an attempt on the runner, and back
:mod:`legato.core.scheduler` backlogs, batches of maps, ``max_concurrency``
:mod:`legato.core.direct`    ``my_task(x)``: a run in the calling thread
this module                  creating runs, settling them, waiting, cancelling
==========================  ====================================================

All transitions happen under one lock per engine, and are short: the lock is
never held while user code, hooks, observers or the runner's ``submit`` run.
Completion callbacks arrive on whatever thread the runner uses; chains of
settlements (a failure turning a whole downstream branch NotReady) are
processed with a work list, not recursion, so a 10,000-link chain is no
deeper than one link.

The engine knows its runner, result store, observers and clock only by the
contracts of :mod:`legato.core.contracts` and :mod:`legato.core.clock`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from legato import config
from legato.core import states as S
from legato.core.arguments import Upstream, extract_upstreams
from legato.core.batching import Backlog
from legato.core.clock import Clock, current_clock
from legato.core.context import current_runner_options, current_tags, run_scope
from legato.core.contracts import ResultStore, Runner, RunObserver, observer_hooks
from legato.core.direct import DirectCalls
from legato.core.dispatch import Dispatch
from legato.core.elements import MapElements
from legato.core.context import task_run_context
from legato.core.errors import CancelledRun, DependencyCycleError, format_error
from legato.core.graph import (
    Limiter, TaskRun, find_cycle, flatten_wait_for, is_upstream, link, release, transition,
)
from legato.core.logs import engine_logger
from legato.core.scheduler import MapScheduler

if TYPE_CHECKING:
    from legato.core.flow import FlowRun
    from legato.core.task import Task

_COMPLETED = S.StateType.COMPLETED


def _current_task_run() -> TaskRun | None:
    """The task run whose body is running here, where it is a live run of an engine in this process."""
    context = task_run_context.get()
    if context is None:
        return None
    run = context.task_run
    return run if isinstance(run, TaskRun) else None


class FlowEngine(Dispatch, MapScheduler, DirectCalls, MapElements):
    """Runs the tasks of one flow run on one task runner."""

    def __init__(self, flow_run: FlowRun, runner: Runner, observers: Sequence[RunObserver] = (),
                 results: ResultStore | None = None, open_results: Callable[[], ResultStore | None] | None = None,
                 clock: Clock | None = None) -> None:
        self.flow_run = flow_run
        self.runner = runner
        #: told about runs as they are created, start and settle (history, progress)
        self.observers = tuple(observers)
        self._on_created = observer_hooks(self.observers, "run_created")
        self._on_edges = observer_hooks(self.observers, "run_edges")
        self._on_started = observer_hooks(self.observers, "run_started")
        self._on_settled = observer_hooks(self.observers, "runs_settled")
        #: the result store, None when nothing caches or persists
        self.results = results
        #: opens the result store on first need, when ``results`` is None
        self._open_results = open_results
        #: retry delays, timeouts and direct-call retries ask it (a test's clock in tests)
        self.clock = clock if clock is not None else current_clock()
        self.logger = engine_logger()
        self._lock = threading.RLock()
        #: per task name, the numbers of its runs (``noop-0``, ``noop-1``, ...); ``next()`` on one is atomic
        self._counters: dict[str, Iterator[int]] = {}
        self._unfinished = 0
        self._all_done = threading.Event()
        self._all_done.set()
        self._pending: set[TaskRun] = set()
        self.crash: BaseException | None = None
        self._batching = runner.batches and config.batching_enabled()
        self._concurrency_known: int | None = None  # see MapScheduler._concurrency
        self._batch_target = float(runner.batch_target_seconds)
        self._backlogs: dict[Any, Backlog] = {}
        self._batchable_tasks: dict[Any, bool] = {}
        self._cache_tasks: dict[Any, bool] = {}
        #: running task runs blocked inside their bodies on another run (for finding cycles)
        self._waits: dict[TaskRun, TaskRun] = {}
        #: direct calls whose own handling failed, with the error, until settled (see DirectCalls.call)
        self._orphans: list[tuple[TaskRun, BaseException]] = []
        #: runs created inside a run scope (a transaction), until they settle: see contracts.RunScope
        self._scoped: dict[TaskRun, Any] = {}
        #: generator tasks called and not yet exhausted (see legato.core.generators); closed by wait_all
        self.open_generators: set[Any] = set()
        #: the FlowRunContext of the flow body this engine serves, once made (FlowRunContext.get() in tasks)
        self.flow_context: Any = None

    # ------------------------------------------------------------------ building the graph

    def create(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], wait_for: Iterable[Any] | None,
               map_index: int | None = None) -> TaskRun:
        """Register a task run and its edges; it is not started yet.

        Everything that can reject the call (a bad name template, a bad
        ``wait_for``) runs before the run is counted, so a rejected call
        leaves nothing behind for the flow to wait for.
        """
        run = self._new_run(task, args, kwargs, wait_for, map_index)
        with self._lock:
            self._add_unfinished(1)
        return run

    def create_element(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any],
                       wait_for: Iterable[Any] | None, map_index: int) -> TaskRun:
        """Register an element of a map, like :meth:`create`; :meth:`launch` counts it, a chunk at a time."""
        return self._new_run(task, args, kwargs, wait_for, map_index)

    def _add_unfinished(self, count: int) -> None:
        """Count runs the flow must wait for (under the lock)."""
        if count and self._unfinished == 0:
            self._all_done.clear()
        self._unfinished += count

    def _new_run(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], wait_for: Iterable[Any] | None,
                 map_index: int | None) -> TaskRun:
        """A new, uncounted run with its edges; takes the lock only for a task's first run."""
        counter = self._counters.get(task.name)
        if counter is None:
            with self._lock:
                counter = self._counters.setdefault(task.name, itertools.count())
        name = task.run_name(args, kwargs, next(counter))
        template_args, template_kwargs, upstreams = extract_upstreams(args, kwargs, is_upstream)
        run = TaskRun(self, task, name, map_index, template_args, template_kwargs)
        extra_tags = current_tags()
        if extra_tags:
            run.tags = run.tags | extra_tags
        options = current_runner_options()
        if options:
            run.options = {**task.runner_options, **options}
        if upstreams:
            for upstream in upstreams:
                upstream.source = self._as_task_run(upstream.source)
            run.upstreams = upstreams
        if wait_for:
            run.wait_for = [Upstream(self._as_task_run(w), tolerate) for w, tolerate in flatten_wait_for(wait_for)]
        if upstreams or wait_for:
            self.record_edges(run, run.upstream_ids())
        if self._on_created:
            for created in self._on_created:
                created(run)
        scope = run_scope.get()
        if scope is not None:
            self._scoped[run] = scope
            scope.run_created(run)
        return run

    def record_edges(self, run: TaskRun, upstream_ids: Sequence[str]) -> None:
        """Edges into ``run`` for the history: its upstreams, or ones it does not wait for (a future a map iterated)."""
        for edges in self._on_edges:
            edges(run.id, upstream_ids)

    def submit(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any],
               wait_for: Iterable[Any] | None = None, map_index: int | None = None) -> TaskRun:
        run = self.create(task, args, kwargs, wait_for, map_index)
        run.runner = self.runner
        if self._link(run):
            self._settle_all(self._route([run]))
        elif self.runner.submits_eagerly:  # its upstreams still run: the backend may start it when they end
            self._submit_eagerly(run)
        return run

    def launch(self, runs: list[TaskRun]) -> None:
        """Start elements of a map made by :meth:`create_element`: count, link and route them together."""
        runner = self.runner
        with self._lock:  # one lock for the whole chunk: this is the hot path of a big map
            self._add_unfinished(len(runs))
            self._pending.update(runs)
            for run in runs:
                run.runner = runner
            ready = [run for run in runs if link(run)]
        if ready:
            self._settle_all(self._route(ready))

    def _as_task_run(self, source: Any) -> Any:
        """Futures become their task runs; states stay states (already final values)."""
        run = getattr(source, "task_run", None)
        return run if isinstance(run, TaskRun) else source

    def _link(self, run: TaskRun) -> bool:
        """Count the upstreams ``run`` waits for; True if there are none (it is ready)."""
        with self._lock:
            self._pending.add(run)
            return link(run)

    # ------------------------------------------------------------------ settling

    def _settle_all(self, work: Iterable[tuple[TaskRun, S.State | None]]) -> None:
        """Put runs into final states and start (or settle) the dependents that became ready.

        All the transitions of ``work`` (a whole batch of a map, often a
        thousand runs) happen under one acquisition of the lock: with one per
        run, worker threads settling batches at the same time queued for the
        lock at every run. Then, run by run and outside the lock, as before,
        its waiter is woken and its hooks and done callbacks run. The runs
        count as finished only after that, so the flow cannot end while hooks
        of runs it waited for still run.
        """
        while True:
            ready: list[TaskRun] = []
            freed: list[tuple[Any, Limiter]] = []
            settled: list[TaskRun] = []
            pending = self._pending
            with self._lock:
                for run, state in work:
                    if state is not None:
                        if transition(run, state, ready):
                            pending.discard(run)
                            settled.append(run)
                        if run.limiter is not None and (run.task, run.limiter) not in freed:
                            freed.append((run.task, run.limiter))
            if settled:
                self._announce(settled)
            more = self._route(ready) if ready else []
            for key in freed:  # a max_concurrency slot came free: start the next waiting element
                more.extend(self._pump(key))
            if not more:
                return
            work = more

    def settle(self, run: TaskRun, state: S.State) -> None:
        """Put one run into a final state (and start what it makes ready), unless it has one."""
        self._settle_all([(run, state)])

    def _announce(self, settled: list[TaskRun]) -> None:
        """Wake the waiters and run the hooks and callbacks of settled runs, then count them finished.

        Outside the lock: once a run is settled nobody adds a waiter or a
        callback to it any more (both check ``settled`` under the lock).
        """
        done = 0
        try:
            if self._scoped:  # before waking anyone: a failed run rolls its transaction back first
                self._tell_scopes(settled)
            for observe in self._on_settled:  # their states are final: the history may build their rows now
                try:
                    observe(settled)
                except Exception:  # a failing observer (a history write) must not strand the runs
                    self.logger.warning("a run observer failed on %d settled run(s)", len(settled), exc_info=True)
            for run in settled:
                done += 1
                state, waiter, callbacks = run.last_state, run.waiter, run.callbacks
                run.waiter = run.callbacks = None  # waking them is all they were for
                if waiter is not None:
                    waiter.set()
                self._after_settle(run, state, callbacks)
        finally:  # even if a hook is interrupted: nobody may wait forever for these runs
            for run in settled[done:]:
                if run.waiter is not None:
                    run.waiter.set()
            with self._lock:
                self._unfinished -= len(settled)
                if self._unfinished == 0:
                    self._all_done.set()

    def _tell_scopes(self, settled: list[TaskRun]) -> None:
        for run in settled:
            scope = self._scoped.pop(run, None)
            if scope is not None:
                try:
                    scope.run_settled(run, run.last_state)
                except Exception:
                    self.logger.warning("the run scope of task run %r failed", run.name, exc_info=True)

    def _after_settle(self, run: TaskRun, state: S.State, callbacks: list[Callable[[TaskRun], None]] | None) -> None:
        task = run.task
        if state.type is _COMPLETED:
            if task.on_completion:
                task.run_hooks(task.on_completion, run, state, "on_completion")
        elif state.type is S.StateType.FAILED or state.type is S.StateType.CRASHED:
            if task.on_failure:
                task.run_hooks(task.on_failure, run, state, "on_failure")
        release(run)
        for callback in callbacks or ():
            try:
                callback(run)
            except Exception:
                self.logger.exception("done callback of task run %r raised", run.name)

    # ------------------------------------------------------------------ waiting

    def wait_run(self, run: TaskRun, timeout: float | None) -> bool:
        """Block until ``run`` is final (or ``timeout``); True if it is."""
        if run.settled:
            return True
        current = _current_task_run()
        with self._lock:
            if run.settled:
                return True
            if current is not None:  # a task body blocks on a run: would that run ever end?
                self._check_no_cycle(current, run)
            if run.waiter is None:
                run.waiter = threading.Event()
            waiter = run.waiter
        if current is None:
            return self.wait_event(waiter, timeout)
        try:
            return self.wait_event(waiter, timeout)
        finally:
            with self._lock:
                self._waits.pop(current, None)

    def _check_no_cycle(self, current: TaskRun, run: TaskRun) -> None:
        """Under the lock: note that ``current`` waits for ``run``, or raise if that is a cycle."""
        cycle = find_cycle(current, run, self._waits)
        if cycle is not None:
            names = " -> ".join(repr(r.name) for r in cycle)
            raise DependencyCycleError(f"task run {current.name!r} waits for {run.name!r}, which can only "
                                       f"start or finish after {current.name!r} does: the cycle {names}")
        self._waits[current] = run

    def wait_event(self, event: threading.Event, timeout: float | None) -> bool:
        return self.runner.wait(event, timeout)

    def add_done_callback(self, run: TaskRun, callback: Callable[[TaskRun], None]) -> None:
        with self._lock:
            if not run.settled:
                if run.callbacks is None:
                    run.callbacks = []
                run.callbacks.append(callback)
                return
        callback(run)

    def wait_all(self, timeout: float | None = None) -> bool:
        """Wait until every task run of this flow run is final."""
        if self._orphans:
            self.settle_orphans()
        if self.open_generators:
            from legato.core.generators import close_open_generators

            close_open_generators(self)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._all_done.is_set():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self.wait_event(self._all_done, remaining) and deadline is not None:
                return False
        return True

    def cancel_pending(self, reason: str, abandon: bool = False) -> int:
        """Settle every run that has not finished as Cancelled; return how many.

        Queued work is cancelled in the runner. Work already running is
        stopped where the runner can kill it (processes, Ray); on threads it
        is waited for at shutdown, unless ``abandon`` gives it up too.
        """
        with self._lock:
            pending = [r for r in self._pending if not r.settled]
            for run in pending:
                run.attempt_open = False
        for run in pending:
            future = run.runner_future
            if future is not None and run.runner is not None:
                if abandon or not run.runner.shares_memory:
                    run.runner.abort(future)  # processes and Ray kill what is running
                else:
                    future.cancel()  # threads cannot be killed: shutdown waits for them
        self._settle_all([(run, S.Cancelled(reason)) for run in pending])
        return len(pending)


__all__ = ["CancelledRun", "FlowEngine", "Limiter", "TaskRun", "format_error", "is_upstream"]
