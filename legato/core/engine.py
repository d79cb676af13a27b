"""The engine of one flow run: a dynamic task graph and its state machine.

The flow body builds the graph as it runs. Every ``submit`` creates a
:class:`TaskRun`, finds the futures in its arguments (edges), and either
hands it to the runner at once (all upstreams final) or parks it with a count
of the upstreams it still waits for. When a task run reaches a final state,
its dependents' counts go down and those that reach zero are handed over in
turn, so a task never occupies a worker while it waits for its inputs.

Per task run::

    Pending ──dispatch──▶ Running ──ok──▶ Completed
       │                    │  └─error, retry left──▶ AwaitingRetry ─timer─▶ Running
       │                    └─error, no retry left──▶ Failed (or TimedOut)
       └─an upstream did not complete──▶ Pending named NotReady (final here)

All transitions happen under one lock per engine, and are short: the lock is
never held while user code, hooks, or the runner's ``submit`` run. Completion
callbacks arrive on whatever thread the runner uses; chains of settlements
(a failure turning a whole downstream branch NotReady) are processed with a
work list, not recursion, so a 10,000-link chain is no deeper than one link.
"""

from __future__ import annotations

import concurrent.futures
import functools
import itertools
import os
import random
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from legato.core import states as S
from legato.core.tracebacks import trim as trim_traceback
from legato.core.annotations import allow_failure
from legato.core.arguments import Upstream, extract_upstreams, fill_slots
from legato.core.context import RunInfo, current_runner_options, current_tags
from legato.core.errors import CancelledRun, TaskTimeoutError, WorkerCrashedError, WorkerStartupError
from legato.core.logs import engine_logger, task_run_logger
from legato.core.timer import timer
from legato.core.batching import Backlog, BatchWork, Element, LocalBatch
from legato.core.work import Inline, WorkItem, slot_values

if TYPE_CHECKING:
    from legato.core.flow import FlowRun
    from legato.core.futures import LegatoFuture
    from legato.core.task import Task
    from legato.runners.base import RunnerFuture, TaskRunner

_COMPLETED = S.StateType.COMPLETED
_getrandbits = random.getrandbits  # the module's shared generator: random.seed() still applies

#: What a run without upstreams (or a settled run) holds instead of containers of its own.
#: The garbage collector rescans every live container at each full collection, and a
#: big map keeps every task run alive until the flow ends: two empty lists per run were
#: 40% of the objects it rescanned. Shared immutable empties cost nothing per run.
_NO_UPSTREAMS: tuple[Upstream, ...] = ()
_RELEASED_KWARGS: Mapping[str, Any] = MappingProxyType({})


class TaskRun:
    """One run of a task inside a flow run: its arguments, edges and state."""

    __slots__ = (
        "engine",
        "id",
        "name",
        "task",
        "args",
        "kwargs",
        "upstreams",
        "wait_for",
        "waiting_on",
        "dependents",
        "_state",
        "run_count",
        "retry_state",
        "runner",
        "runner_future",
        "attempt_open",
        "waiter",
        "callbacks",
        "started_at",
        "ended_at",
        "map_index",
        "tags",
        "cache_parameters",
        "settled",
        "batch_index",
        "options",
        "limiter",
        "holds_slot",
        "_since",
        "__weakref__",
    )

    def __init__(self, engine: FlowEngine, task: Task, name: str, map_index: int | None,
                 args: tuple[Any, ...] = (), kwargs: Mapping[str, Any] = _RELEASED_KWARGS) -> None:
        self.engine = engine
        self.id = _getrandbits(64).to_bytes(8, "big").hex()  # 16 hex digits, as f"{bits:016x}", in half the time
        self.name = name
        self.task = task
        self.map_index = map_index
        #: the argument template (upstreams replaced by slots); emptied when the run settles
        self.args = args
        self.kwargs = kwargs
        #: edges; the shared empty tuple when there are none (the common case), and once settled
        self.upstreams: Sequence[Upstream] = _NO_UPSTREAMS
        self.wait_for: Sequence[Upstream] = _NO_UPSTREAMS
        self.waiting_on = 0
        self.dependents: list[TaskRun] | None = None
        #: when it was created: its Pending state, made only if someone looks before the run moves on
        self._since: float | S.State | None = time.time()
        self._state: S.State | None = None
        self.run_count = 0
        self.retry_state: Any = None
        self.runner: TaskRunner | None = None
        self.runner_future: RunnerFuture | None = None
        self.attempt_open = False
        self.waiter: threading.Event | None = None
        self.callbacks: list[Callable[[TaskRun], None]] | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.tags: frozenset[str] = task.tags
        self.cache_parameters: dict[str, Any] | None = None
        #: no more transitions: a final state, or Pending named NotReady
        self.settled = False
        #: position in the batch its last attempt ran in (its runner future is the batch's)
        self.batch_index: int | None = None
        #: backend options from a ``runner_options(...)`` block around its creation
        self.options: dict[str, Any] | None = None
        #: the max_concurrency limit of the map it belongs to, and whether it holds one of its slots
        self.limiter: Limiter | None = None
        self.holds_slot = False

    @property
    def state(self) -> S.State:
        """The run's current state; a run that has not moved yet is Pending since its creation.

        Most runs of a big map wait in a backlog and go from Pending to
        Running unseen; a Pending state object each would be one more
        container alive per waiting run for the garbage collector to rescan
        (and to promote to its oldest generation, then free), so it is made
        on first look, with the run's creation time, and kept for later looks.
        It is kept in ``_since``, not in ``_state``: a reader must never
        overwrite a state the engine set meanwhile.

        A property and not ``__getattr__``: a class with ``__getattr__`` pays
        for it on every attribute read, and the engine and the history read
        run attributes millions of times in a big map. The engine itself
        reads and writes ``_state`` where it knows the run has moved.
        """
        state = self._state
        if state is not None:
            return state
        since = self._since
        if isinstance(since, S.State):
            return since
        pending = self._since = S.State(S.StateType.PENDING, "Pending", timestamp=since)
        return pending

    @state.setter
    def state(self, state: S.State) -> None:
        self._state = state

    @property
    def task_name(self) -> str:
        return self.task.name

    @property
    def log_prints(self) -> bool:
        """The task's ``log_prints``, or its flow run's when the task leaves it at None (Prefect's inheritance)."""
        own = self.task.log_prints
        return self.engine.flow_run.log_prints if own is None else own

    @property
    def flow_run_id(self) -> str:
        return self.engine.flow_run.id

    @property
    def flow_run_name(self) -> str:
        return self.engine.flow_run.name

    def info(self) -> RunInfo:
        return RunInfo(
            id=self.id,
            name=self.name,
            task_name=self.task.name,
            flow_run_id=self.engine.flow_run.id,
            flow_run_name=self.engine.flow_run.name,
            run_count=self.run_count,
            tags=tuple(self.tags),
            map_index=self.map_index,
            log_prints=self.log_prints,
        )

    def upstream_ids(self) -> list[str]:
        return [u.source.id for u in (*self.upstreams, *self.wait_for) if isinstance(u.source, TaskRun)]

    def __repr__(self) -> str:
        return f"TaskRun({self.name!r}, state={self.state!r})"


def _is_upstream(obj: Any) -> bool:
    return isinstance(obj, _UPSTREAM_TYPES)


class FlowEngine:
    """Runs the tasks of one flow run on one task runner."""

    def __init__(self, flow_run: FlowRun, runner: TaskRunner, recorder: Any = None, results: Any = None,
                 progress: Any = None, open_results: Callable[[], Any] | None = None) -> None:
        from legato.runners.sync import SyncTaskRunner

        self.flow_run = flow_run
        self.runner = runner
        self.recorder = recorder
        #: the result store's hook (legato.results.ResultsManager), None when nothing caches or persists
        self.results = results
        #: opens the result store on first need, when ``results`` is None
        self._open_results = open_results
        #: the live progress display (legato.progress.FlowProgress), None when off
        self.progress = progress
        self.logger = engine_logger()
        self._lock = threading.RLock()
        #: per task name, the numbers of its runs (``noop-0``, ``noop-1``, ...); ``next()`` on one is atomic
        self._counters: dict[str, Iterator[int]] = {}
        self._unfinished = 0
        self._all_done = threading.Event()
        self._all_done.set()
        self._pending: set[TaskRun] = set()
        self.crash: BaseException | None = None
        self._batching = not isinstance(runner, SyncTaskRunner) and os.environ.get("LEGATO_BATCHING", "1") != "0"
        self._concurrency_known: int | None = None  # see _concurrency
        self._batch_target = float(getattr(runner, "batch_target_seconds", 0.01 if runner.shares_memory else 0.05))
        self._backlogs: dict[Any, Backlog] = {}
        self._batchable_tasks: dict[Any, bool] = {}
        self._cache_tasks: dict[Any, bool] = {}

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
        template_args, template_kwargs, upstreams = extract_upstreams(args, kwargs, _is_upstream)
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
            run.wait_for = [Upstream(self._as_task_run(w), tolerate) for w, tolerate in _flatten_wait_for(wait_for)]
        if upstreams or wait_for:
            self.record_edges(run, run.upstream_ids())
        if self.progress is not None:
            self.progress.created(task.name)
        return run

    def record_edges(self, run: TaskRun, upstream_ids: Sequence[str]) -> None:
        """Edges into ``run`` for the history: its upstreams, or ones it does not wait for (a future a map iterated)."""
        if self.recorder is not None:
            self.recorder.task_run_edges(run.id, upstream_ids)

    def submit(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any],
               wait_for: Iterable[Any] | None = None, map_index: int | None = None) -> TaskRun:
        run = self.create(task, args, kwargs, wait_for, map_index)
        run.runner = self.runner
        if self._link(run):
            self._settle_all(self._route([run]))
        return run

    def launch(self, runs: list[TaskRun]) -> None:
        """Start elements of a map made by :meth:`create_element`: count, link and route them together."""
        runner = self.runner
        link = self._link_locked
        with self._lock:  # one lock for the whole chunk: this is the hot path of a big map
            self._add_unfinished(len(runs))
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
            return self._link_locked(run)

    def _link_locked(self, run: TaskRun) -> bool:
        """:meth:`_link`, for a caller that holds the lock."""
        waiting = 0
        self._pending.add(run)
        for source in _sources(run):
            if not source.settled:
                if source.dependents is None:
                    source.dependents = []
                source.dependents.append(run)
                waiting += 1
        run.waiting_on = waiting
        return waiting == 0

    # ------------------------------------------------------------------ dispatching

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
        if self.crash is not None:
            return S.Cancelled("the flow run crashed before this task started")
        runner = run.runner
        assert runner is not None
        try:
            slots, upstream_futures = self._resolve_inputs(run, runner)
        except _NotReady as not_ready:
            return S.NotReady(str(not_ready))
        if run.run_count == 0 and self._wants_cache(run.task):
            cached = self._lookup_cache(run, slots, upstream_futures)
            if cached is not None:
                return cached
        self._begin_attempt(run)
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
        run.run_count += 1
        run._state = S.Running() if run.run_count == 1 else S.Retrying()
        if run.started_at is None:
            run.started_at = time.time()
            if self.progress is not None:
                self.progress.started(run.task.name)

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
        arm = functools.partial(timer.call_later, timeout, self._timed_out, run, attempt)
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
            future.add_start_callback(lambda _future: arm())  # type: ignore[attr-defined]
        future.add_done_callback(lambda f, run=run, attempt=attempt: self._attempt_done(run, attempt, f))
        return None

    # ------------------------------------------------------------------ batches (see legato.core.batching)

    def _route(self, runs: list[TaskRun]) -> list[tuple[TaskRun, S.State | None]]:
        """Dispatch ready runs: mapped elements through their task's backlog, the rest one by one."""
        outcomes: list[tuple[TaskRun, S.State | None]] = []
        queued: list[TaskRun] = []
        for run in runs:
            if run.limiter is not None or self._batchable(run):
                queued.append(run)
            else:
                outcomes.append((run, self._dispatch(run)))
        pumped: list[Any] = []
        if queued:
            with self._lock:  # once for all of them: a map's elements come here a chunk at a time
                task = limiter = backlog = None
                for run in queued:
                    if backlog is None or run.task is not task or run.limiter is not limiter:
                        task, limiter = run.task, run.limiter
                        key = (task, limiter)
                        backlog = self._backlogs.get(key)
                        if backlog is None:
                            backlog = self._backlogs[key] = Backlog(self._batch_target)
                        if key not in pumped:
                            pumped.append(key)
                    backlog.runs.append(run)
        for key in pumped:
            outcomes.extend(self._pump(key))
        return outcomes

    def _batchable(self, run: TaskRun) -> bool:
        if run.map_index is None or not self._batching:
            return False
        return self._batchable_task(run.task)

    def _batchable_task(self, task: Any) -> bool:
        decision = self._batchable_tasks.get(task)
        if decision is None:
            decision = self._batchable_tasks[task] = task.timeout_seconds is None and not self._wants_cache(task)
        return decision

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

    @property
    def _concurrency(self) -> int:
        """How many tasks the runner runs at once; sizes the batches of maps.

        Asked on first need, not when the flow starts: on Dask the answer is a
        round trip to the scheduler, which a flow that never maps should not pay.
        """
        known = self._concurrency_known
        if known is None:
            runner = self.runner
            known = self._concurrency_known = max(1, int(
                getattr(runner, "concurrency", None) or getattr(runner, "max_workers", None) or os.cpu_count() or 1))
        return known

    def _pump(self, key: tuple[Any, Limiter | None]) -> list[tuple[TaskRun, S.State | None]]:
        """Send work from a backlog: batches while fewer than the limit are in flight, and
        never more elements than its map's ``max_concurrency`` allows."""
        outcomes: list[tuple[TaskRun, S.State | None]] = []
        task, limiter = key
        backlog = self._backlogs[key]
        batched = self._batching and self._batchable_task(task)
        limit = 2 * self._concurrency
        while True:
            with self._lock:
                if not backlog.runs or (batched and backlog.in_flight >= limit):
                    return outcomes
                allowance = len(backlog.runs) if limiter is None else limiter.limit - limiter.in_flight
                if allowance <= 0:
                    return outcomes
                size = backlog.sizer.next_size(len(backlog.runs), self._concurrency) if batched else 1
                chunk = [backlog.runs.popleft() for _ in range(min(size, allowance, len(backlog.runs)))]
                if limiter is not None:
                    limiter.in_flight += len(chunk)
                    for run in chunk:
                        run.holds_slot = True
                if batched:
                    backlog.in_flight += 1
            if batched:
                outcomes.extend(self._dispatch_batch(task, backlog, chunk))
            else:
                outcomes.extend((run, self._dispatch(run)) for run in chunk)

    def _dispatch_batch(self, task: Any, backlog: Backlog, chunk: list[TaskRun]) -> list[tuple[TaskRun, S.State | None]]:
        outcomes: list[tuple[TaskRun, S.State | None]] = []
        runs: list[TaskRun] = []
        spans: list[tuple[int, int]] = []
        futures: list[Any] = []
        # in the flow's memory, a LocalBatch of the work items' parts; elsewhere the work items, to send
        local = self.runner.shares_memory
        items: list[WorkItem] = []
        args: list[tuple[Any, ...]] = []
        kwargs: list[Any] = []
        slot_lists: list[list[int | Inline] | None] = []
        option_list: list[dict[str, Any] | None] = []
        for run in chunk:
            prepared = self._prepare(run)
            if prepared is None or isinstance(prepared, S.State):
                outcomes.append((run, prepared))
                continue
            slots, upstream_futures = prepared
            if upstream_futures:
                spans.append((len(futures), len(futures) + len(upstream_futures)))
                futures.extend(upstream_futures)
            else:  # elements of a map of plain values: one shared span, not a tuple each
                spans.append(_NO_SPAN if not futures else (len(futures), len(futures)))
            if local:
                args.append(run.args)
                kwargs.append(run.kwargs)
                slot_lists.append(slots)
                option_list.append(run.options)
            else:
                items.append(self._work_item(run, slots))
            runs.append(run)
        if not runs:
            with self._lock:
                backlog.in_flight -= 1
            return outcomes
        attempts = [run.run_count for run in runs]
        try:
            work = (LocalBatch(task, self, runs, args, kwargs, slot_lists, option_list, spans) if local
                    else BatchWork(items, spans))
            future = self.runner.submit(work, futures)
        except BaseException as error:
            with self._lock:
                backlog.in_flight -= 1
                for run in runs:
                    run.attempt_open = False
            for run, attempt in zip(runs, attempts):
                outcomes.append((run, self._failure_state(run, error, attempt)))
            return outcomes
        for index, run in enumerate(runs):
            run.runner_future = future
            run.batch_index = index
        future.add_done_callback(lambda f: self._batch_done(task, backlog, runs, attempts, f))
        return outcomes

    def _batch_done(self, task: Any, backlog: Backlog, runs: list[TaskRun], attempts: list[int], future: Any) -> None:
        try:
            seconds, results = self.runner.batch_outcomes(future)
        except BaseException as error:  # the call failed as a whole: cancelled, unserializable, worker lost
            results, failure = None, error
        with self._lock:
            backlog.in_flight -= 1
            if results is not None:  # close the elements' attempts in one go, not with a lock each
                closed = [_close_attempt(run, attempt) for run, attempt in zip(runs, attempts)]
        outcomes: list[tuple[TaskRun, S.State | None]] = []
        # the elements' outcomes, as two lists rather than a (run, state) pair each: a pair per
        # element, alive until the whole batch is settled, is one more object for the collector
        done_runs: list[TaskRun] = []
        done_states: list[S.State | None] = []
        if results is None:
            outcomes = self._batch_failed(runs, attempts, failure)
        else:
            backlog.sizer.observe(seconds, len(results))
            remote = not self.runner.shares_memory
            for index, (run, attempt, ours) in enumerate(zip(runs, attempts, closed)):
                if not ours:  # settled meanwhile (cancelled, or the flow crashed)
                    continue
                done_runs.append(run)
                if index >= len(results):  # the batch stopped at an interrupt before this element
                    run.run_count -= 1
                    done_states.append(self._dispatch(run))
                    continue
                ok, value = results[index]
                if ok:
                    data = S.ResultRef(functools.partial(_element_result, future, index)) if remote else value
                    done_states.append(self._completed(run, data))
                else:
                    done_states.append(self._failure_state(run, value, attempt))
        pumped = self._pump((task, runs[0].limiter))
        self._settle_all(itertools.chain(outcomes, zip(done_runs, done_states), pumped))

    def _batch_failed(self, runs: list[TaskRun], attempts: list[int], failure: BaseException
                      ) -> list[tuple[TaskRun, S.State | None]]:
        """A whole batch failed: run each element again on its own, so only a culprit fails."""
        outcomes: list[tuple[TaskRun, S.State | None]] = []
        cancelled = isinstance(failure, concurrent.futures.CancelledError)
        for run, attempt in zip(runs, attempts):
            with self._lock:
                if not run.attempt_open or run.run_count != attempt:
                    continue
                run.attempt_open = False
            if cancelled:
                outcomes.append((run, S.Cancelled(f"the runner cancelled this task: {failure!r}")))
            elif len(runs) > 1 and self.crash is None:
                if not isinstance(failure, WorkerCrashedError):  # a dead worker's batch did run: it counts
                    run.run_count -= 1  # not the element's fault (yet): this attempt does not count
                outcomes.append((run, self._dispatch(run)))
            else:
                outcomes.append((run, self._failure_state(run, failure, attempt)))
        return outcomes

    def _resolve_inputs(self, run: TaskRun, runner: TaskRunner) -> tuple[list[int | Inline] | None, Sequence[Any]]:
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
            if value is not _USE_FUTURE:
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
            try:
                self.results.store(run.task, run.info(), run.cache_parameters, state.result())
            except Exception:
                self.logger.warning("could not persist the result of task run %r", run.name, exc_info=True)
            run.cache_parameters = None
        return state

    def _check_upstream(self, source: Any, allow_failure: bool) -> Any:
        state = source if isinstance(source, S.State) else source.state
        if state.type is _COMPLETED:
            return state.result() if isinstance(source, S.State) else _USE_FUTURE
        if allow_failure:
            return state.result(raise_on_failure=False)
        label = getattr(source, "name", "a state")
        raise _NotReady(f"upstream task run {label!r} finished in state {state.name}")

    # ------------------------------------------------------------------ outcomes

    def _attempt_done(self, run: TaskRun, attempt: int, future: RunnerFuture) -> None:
        with self._lock:
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
            if not run.attempt_open or run.run_count != attempt:
                return
            run.attempt_open = False
        if run.runner_future is not None and run.runner is not None:
            run.runner.abort(run.runner_future)
        error = TaskTimeoutError(f"task run {run.name!r} exceeded timeout of {run.task.timeout_seconds} second(s)")
        state = self._failure_state(run, error, attempt)
        if state is not None:
            self._settle_all([(run, state)])

    def _failure_state(self, run: TaskRun, error: BaseException, attempt: int,
                       reschedule: Callable[[TaskRun, float], None] | None = None) -> S.State | None:
        """Decide what a failed attempt leads to: a retry (returns None) or a final state."""
        trim_traceback(error)
        if not isinstance(error, Exception):
            self.crash = self.crash or error
            self.logger.error("Task run %r crashed: %s", run.name, _describe(error))
            return S.Crashed(error)
        state = S.TimedOut(error) if isinstance(error, TaskTimeoutError) else S.Failed(error)
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
                    attempt, _describe(error), delay, policy.retries if policy.retries >= 0 else "custom")
                run._state = S.AwaitingRetry(f"retry in {delay:.3g} s")
                (reschedule or self._schedule_retry)(run, delay)
                return None
        task_run_logger(run).error("Finished in state %s: %s", state.name, _describe(error),
                                   exc_info=_exc_info(error) if not isinstance(error, TaskTimeoutError) else None)
        return state

    def _schedule_retry(self, run: TaskRun, delay: float) -> None:
        if delay <= 0:
            self._start_or_settle(run)
        else:
            timer.call_later(delay, self._start_or_settle, run)

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
            with self._lock:
                for run, state in work:
                    if state is not None:
                        if self._transition(run, state, ready):
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

    def _transition(self, run: TaskRun, state: S.State, ready: list[TaskRun]) -> bool:
        """Make ``state`` the final state of ``run`` (under the lock); False if it already had one.

        Dependents left with nothing to wait for are appended to ``ready``.
        """
        if run.settled:
            return False
        run.settled = True
        run._state = state
        if run.holds_slot:
            run.holds_slot = False
            run.limiter.in_flight -= 1  # type: ignore[union-attr]
        run.ended_at = time.time()
        self._pending.discard(run)
        if run.dependents:
            for dependent in run.dependents:
                dependent.waiting_on -= 1
                if dependent.waiting_on == 0:
                    ready.append(dependent)
            run.dependents = None
        return True

    def _announce(self, settled: list[TaskRun]) -> None:
        """Wake the waiters and run the hooks and callbacks of settled runs, then count them finished.

        Outside the lock: once a run is settled nobody adds a waiter or a
        callback to it any more (both check ``settled`` under the lock).
        """
        if self.recorder is not None:  # their states are final: the history may build their rows now
            self.recorder.task_runs_finished(settled)
        done = 0
        try:
            for run in settled:
                done += 1
                state, waiter, callbacks = run._state, run.waiter, run.callbacks
                run.waiter = run.callbacks = None  # waking them is all they were for
                if waiter is not None:
                    waiter.set()
                if self.progress is not None:
                    self.progress.settled(run.task.name, state.type.value)
                self._after_settle(run, state, callbacks)
        finally:  # even if a hook is interrupted: nobody may wait forever for these runs
            for run in settled[done:]:
                if run.waiter is not None:
                    run.waiter.set()
            with self._lock:
                self._unfinished -= len(settled)
                if self._unfinished == 0:
                    self._all_done.set()

    def _after_settle(self, run: TaskRun, state: S.State, callbacks: list[Callable[[TaskRun], None]] | None) -> None:
        task = run.task
        if state.type is _COMPLETED:
            if task.on_completion:
                task.run_hooks(task.on_completion, run, state, "on_completion")
        elif state.type is S.StateType.FAILED or state.type is S.StateType.CRASHED:
            if task.on_failure:
                task.run_hooks(task.on_failure, run, state, "on_failure")
        self._release(run, state)
        for callback in callbacks or ():
            try:
                callback(run)
            except Exception:
                self.logger.exception("done callback of task run %r raised", run.name)

    @staticmethod
    def _release(run: TaskRun, state: S.State) -> None:
        """Drop what a settled run no longer needs, so a long flow does not hoard inputs.

        The value stays in the state (or, for remote runners, in the backend,
        reachable through the state's ResultRef) for as long as a future or a
        downstream run holds this run. What is dropped is replaced by shared
        empties, not fresh containers: a settled run of a big map lives until
        the flow ends, and each container it kept would be one more object for
        the garbage collector to rescan at every full collection.
        """
        run.args = ()
        run.kwargs = _RELEASED_KWARGS
        run.upstreams = run.wait_for = _NO_UPSTREAMS
        run._since = None
        run.retry_state = None
        run.cache_parameters = None
        if run.runner is not None and run.runner.shares_memory:
            run.runner_future = None

    # ------------------------------------------------------------------ direct calls

    def call(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any],
             wait_for: Iterable[Any] | None = None) -> TaskRun:
        """Run a task now, in this thread, with its retries (``my_task(x)`` inside a flow)."""
        run = self.create(task, args, kwargs, wait_for)
        self._wait_for_inputs(run)
        with self._lock:
            self._pending.add(run)
        while True:
            try:
                slots, _ = self._resolve_inputs(run, _DIRECT)
            except _NotReady as not_ready:
                self._settle_all([(run, S.NotReady(str(not_ready)))])
                return run
            if run.run_count == 0 and self._wants_cache(task):
                cached = self._lookup_cache(run, slots, [])
                if cached is not None:
                    self._settle_all([(run, cached)])
                    return run
            self._begin_attempt(run)
            work = WorkItem(task, run.args, run.kwargs, run.info(), slots, self)
            try:
                value = _call_with_timeout(work, task.timeout_seconds, run.name)
            except BaseException as error:
                delays: list[float] = []
                state = self._failure_state(run, error, run.run_count, lambda _r, d: delays.append(d))
                if state is not None:
                    self._settle_all([(run, state)])
                    return run
                time.sleep(delays[0])
                continue
            self._settle_all([(run, self._completed(run, value))])
            return run

    def _wait_for_inputs(self, run: TaskRun) -> None:
        for source in _sources(run):
            if not source.settled:
                self.wait_run(source, None)

    # ------------------------------------------------------------------ waiting

    def wait_run(self, run: TaskRun, timeout: float | None) -> bool:
        """Block until ``run`` is final (or ``timeout``); True if it is."""
        if run.settled:
            return True
        with self._lock:
            if run.settled:
                return True
            if run.waiter is None:
                run.waiter = threading.Event()
            waiter = run.waiter
        return self.wait_event(waiter, timeout)

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


from legato.core.futures import LegatoFuture  # noqa: E402  (futures imports nothing from here at runtime)

_UPSTREAM_TYPES = (LegatoFuture, S.State)


class Limiter:
    """The ``max_concurrency`` of one map: how many of its elements may be in flight."""

    __slots__ = ("limit", "in_flight")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0


class _NotReady(Exception):
    pass


def _close_attempt(run: TaskRun, attempt: int) -> bool:
    """Close attempt ``attempt`` of ``run`` if it is still the open one (under the engine's lock)."""
    if not run.attempt_open or run.run_count != attempt:
        return False
    run.attempt_open = False
    return True


class _DirectRunner:
    """Stands for "this thread" when inputs are resolved for a direct call."""

    shares_memory = True


_DIRECT: Any = _DirectRunner()
_USE_FUTURE = object()
_NO_SPAN = (0, 0)  # the span of upstream values of a batch element that has none, while none before it had


def _element_result(future: Any, index: int) -> Any:
    """The value of element ``index`` of a batch, fetched from a remote runner on demand."""
    return future.result()[1][index][1]


def _sources(run: TaskRun) -> Sequence[TaskRun]:
    if not run.upstreams and not run.wait_for:
        return ()  # most runs: no tuple, list or generator made to find nothing
    return [u.source for u in (*run.upstreams, *run.wait_for) if isinstance(u.source, TaskRun)]


def _flatten_wait_for(wait_for: Iterable[Any], tolerate: bool = False) -> Iterable[tuple[Any, bool]]:
    """``(future_or_state, allow_failure)`` for each entry of ``wait_for``, at any depth."""
    for item in wait_for:
        if isinstance(item, allow_failure):
            yield from _flatten_wait_for([item.value], True)
        elif isinstance(item, (list, tuple, set)):
            yield from _flatten_wait_for(item, tolerate)
        elif _is_upstream(item):
            yield item, tolerate
        else:
            raise TypeError(f"wait_for takes futures or states, got {type(item).__name__}: {item!r}")


def _call_with_timeout(work: WorkItem, timeout: float | None, name: str) -> Any:
    """Run a direct call; a sync function with a timeout runs on a helper thread we can abandon."""
    if timeout is None or work.task.is_async:
        return work()
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="legato-timeout")
    try:
        return pool.submit(work).result(timeout)
    except concurrent.futures.TimeoutError:
        raise TaskTimeoutError(f"task run {name!r} exceeded timeout of {timeout} second(s)") from None
    finally:
        pool.shutdown(wait=False)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}({error})" if str(error) else type(error).__name__


def _exc_info(error: BaseException) -> tuple[Any, ...]:
    return (type(error), error, error.__traceback__)


def format_error(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


__all__ = ["CancelledRun", "FlowEngine", "TaskRun", "format_error"]
