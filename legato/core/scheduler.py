"""The map scheduler: backlogs of ready elements, batch sizing and ``max_concurrency``.

A mixin of :class:`legato.core.engine.FlowEngine`. Ready runs come to
:meth:`MapScheduler._route`: a run that is neither a map element to batch
nor bounded by ``max_concurrency`` goes straight to dispatch; the others
join the backlog of their ``(task, limiter)``, and :meth:`MapScheduler._pump`
sends work from it:

* batched (see :mod:`legato.core.batching`): a batch sized by the task's
  measured duration per element, while fewer than ``2 x concurrency``
  batches of that backlog are in flight;
* bounded: never more elements in flight than the map's ``max_concurrency``;
  a settled element frees its slot and the engine pumps again.

A batch's outcome comes back to :meth:`MapScheduler._batch_done`, which
settles each element on its own (its state, retries, hooks); a batch that
failed as a whole is run again element by element, so only a culprit fails.
"""

from __future__ import annotations

import concurrent.futures
import functools
import itertools
import time
from typing import Any

from legato.core import states as S
from legato.core.adoption import has_adopted_upstream
from legato.core.batching import Backlog, BatchWork, LocalBatch
from legato.core.errors import WorkerCrashedError
from legato.core.graph import Limiter, TaskRun, close_attempt
from legato.core.work import Inline, WorkItem

_RUNNING = S.StateType.RUNNING
_COMPLETED = S.StateType.COMPLETED

#: the span of upstream values of a batch element that has none, while none before it had
NO_SPAN = (0, 0)


class MapScheduler:
    """Where a ready run goes: straight to dispatch, or a backlog and then a batch."""

    # what it uses of the engine (set in FlowEngine.__init__; dispatch methods from Dispatch)
    runner: Any
    crash: BaseException | None
    _lock: Any
    _batching: bool
    _batch_target: float
    _concurrency_known: int | None
    _backlogs: dict[Any, Backlog]
    _batchable_tasks: dict[Any, bool]
    _on_started: tuple[Any, ...]

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
        if run.upstreams and has_adopted_upstream(run):  # a partition: runs on its own, where its data is
            return False
        return self._batchable_task(run.task)

    def _batchable_task(self, task: Any) -> bool:
        decision = self._batchable_tasks.get(task)
        if decision is None:
            decision = self._batchable_tasks[task] = task.timeout_seconds is None and not self._wants_cache(task)
        return decision

    @property
    def _concurrency(self) -> int:
        """How many tasks the runner runs at once; sizes the batches of maps.

        Asked on first need, not when the flow starts: on Dask the answer is a
        round trip to the scheduler, which a flow that never maps should not pay.
        """
        known = self._concurrency_known
        if known is None:
            known = self._concurrency_known = max(1, int(self.runner.concurrency))
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
        running: S.State | None = None  # the Running state of this batch's first attempts, made for the first
        on_started = self._on_started
        for run in chunk:
            if (run.run_count == 0 and not run.upstreams and (run._extra is None or not run.wait_for)
                    and not run.settled and self.crash is None):
                # a first attempt with nothing to check (a batched task never caches): what _prepare does,
                # with one Running state and start time for the batch, which starts as one
                if running is None:
                    running = S.State(_RUNNING, "Running", None, None, time.time())
                    started_at = running._ts
                run.run_count = 1
                run.last_state = running
                if run.started_at is None:
                    run.started_at = started_at
                    for started in on_started:
                        started(run)
                run.batch_index = None
                run.attempt_open = True
                slots, upstream_futures = None, ()
            else:
                prepared = self._prepare(run)
                if prepared is None or isinstance(prepared, S.State):
                    outcomes.append((run, prepared))
                    continue
                slots, upstream_futures = prepared
            if upstream_futures:
                spans.append((len(futures), len(futures) + len(upstream_futures)))
                futures.extend(upstream_futures)
            else:  # elements of a map of plain values: one shared span, not a tuple each
                spans.append(NO_SPAN if not futures else (len(futures), len(futures)))
            if local:
                args.append(run.args)
                kwargs.append(run.kwargs)
                slot_lists.append(slots)
                option_list.append(None if run._extra is None else run.options)
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
        except BaseException as error:  # a runner that cannot take the batch fails its elements
            return outcomes + self._batch_not_taken(backlog, runs, attempts, error)
        for index, run in enumerate(runs):
            run.runner_future = future
            if not local:  # where a remote element's value is found in its batch's (local ones carry values)
                run.batch_index = index
        future.add_done_callback(lambda f: self._batch_done(task, backlog, runs, attempts, f))
        return outcomes

    def _batch_not_taken(self, backlog: Backlog, runs: list[TaskRun], attempts: list[int], error: BaseException
                         ) -> list[tuple[TaskRun, S.State | None]]:
        with self._lock:
            backlog.in_flight -= 1
            for run in runs:
                run.attempt_open = False
        return [(run, self._failure_state(run, error, attempt)) for run, attempt in zip(runs, attempts)]

    def _batch_done(self, task: Any, backlog: Backlog, runs: list[TaskRun], attempts: list[int], future: Any) -> None:
        try:
            seconds, results = self.runner.batch_outcomes(future)
        except BaseException as error:  # the call failed as a whole: cancelled, unserializable, worker lost
            results, failure = None, error
        with self._lock:
            backlog.in_flight -= 1
            if results is not None:  # close the elements' attempts in one go, not with a lock each
                closed = []
                for run, attempt in zip(runs, attempts):  # close_attempt, inline
                    if run.attempt_open and run.run_count == attempt:
                        run.attempt_open = False
                        closed.append(True)
                    else:
                        closed.append(False)
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
            now = time.time()  # the batch's elements end together: one end time (and Completed timestamp)
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
                    if remote:
                        done_states.append(self._completed(run, S.ResultRef(functools.partial(element_result,
                                                                                                future, index))))
                    elif run._extra is None or run.cache_parameters is None:  # nothing to persist: _completed's state, made here
                        done_states.append(S.State(_COMPLETED, "Completed", None, value, now))
                    else:
                        done_states.append(self._completed(run, value))
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
                if not close_attempt(run, attempt):
                    continue
            if cancelled:
                outcomes.append((run, S.Cancelled(f"the runner cancelled this task: {failure!r}")))
            elif len(runs) > 1 and self.crash is None:
                if not isinstance(failure, WorkerCrashedError):  # a dead worker's batch did run: it counts
                    run.run_count -= 1  # not the element's fault (yet): this attempt does not count
                outcomes.append((run, self._dispatch(run)))
            else:
                outcomes.append((run, self._failure_state(run, failure, attempt)))
        return outcomes



def element_result(future: Any, index: int) -> Any:
    """The value of element ``index`` of a batch, fetched from a remote runner on demand."""
    return future.result()[1][index][1]


__all__ = ["NO_SPAN", "MapScheduler", "element_result"]
