"""Shipping many elements of a map as one backend call.

A backend charges per call: a queue hop and a future on a thread pool, a
pickle round trip on processes, a scheduler transaction on Dask or Ray. For
small mapped tasks that charge is most of the work, so the engine hands the
runner a :class:`BatchWork` of several elements instead of one call each.
Every element keeps its own task run: state, retries, hooks, result.

How many elements go in one call is measured, not guessed (as joblib does):

* the first batches of a task carry one element each, as probes;
* each finished batch reports how long its elements took, and
  :class:`BatchSizer` keeps a moving average per element;
* the next batch is sized so it takes about ``target_seconds`` (short on
  threads, longer where a call costs milliseconds), but never so large that
  fewer batches than workers remain, so heavy tasks keep their parallelism;
* at most ``2 x concurrency`` batches of one task are in flight; the rest of
  its ready elements wait in the engine's backlog, where they cost nothing
  but memory, and a slow element holds back at most one short batch.

Maps of tasks with ``timeout_seconds`` or with result caching are not
batched (each element needs its own deadline or cache lookup first).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from legato.core.context import TaskRunContext, task_run_context
from legato.core.work import _PLAIN_RESULTS, WorkItem, task_result

MAX_BATCH = 1024


class Element:
    """Stands in a work item's slots for element ``element`` of a batch result."""

    __slots__ = ("index", "element")

    def __init__(self, index: int, element: int) -> None:
        self.index = index
        self.element = element

    def __reduce__(self) -> tuple[Any, ...]:
        return (Element, (self.index, self.element))

    def pick(self, upstream_values: tuple[Any, ...]) -> Any:
        return upstream_values[self.index][1][self.element][1]


class BatchWork:
    """Several work items run one after another in a single backend call.

    Returns ``(seconds, outcomes)`` where each outcome is ``(True, value)`` or
    ``(False, exception)``. An interrupt (KeyboardInterrupt, SystemExit)
    stops the batch: it is the last outcome, and the elements after it are
    left out for the engine to deal with.
    """

    __slots__ = ("items", "spans", "key", "task_name", "options")

    def __init__(self, items: list[Any], spans: list[tuple[int, int]]) -> None:
        self.items = items
        #: for each item, the (start, stop) of its upstream values in the call's arguments
        self.spans = spans
        first = items[0]
        self.key = f"{first.info.name}-batch{len(items)}-{first.info.id}"
        self.task_name = first.task_name
        self.options = first.options

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def _work_items(self) -> Iterable[Any]:
        return self.items

    def __call__(self, *upstream_values: Any) -> tuple[float, list[tuple[bool, Any]]]:
        outcomes: list[tuple[bool, Any]] = []
        started = time.perf_counter()
        for item, (start, stop) in zip(self._work_items(), self.spans):
            try:
                outcomes.append((True, item(*upstream_values[start:stop])))
            except Exception as error:
                outcomes.append((False, error))
            except BaseException as interrupt:
                outcomes.append((False, interrupt))
                break
        return time.perf_counter() - started, outcomes

    def __repr__(self) -> str:
        return f"BatchWork({self.key!r})"


class LocalBatch(BatchWork):
    """A batch for a runner in the flow's own memory: each element's work item is made as it starts.

    A batch may wait in the runner's queue behind others (up to two per
    worker are in flight). Made up front, the work items of all the waiting
    elements would live that long: long enough for the garbage collector to
    move thousands of them to its oldest generation, where each one brings
    the next full collection (of every live object) nearer. Here an element
    is kept as what its work item is made of, in lists (no object of its
    own), and its :class:`~legato.core.work.WorkItem` lives for its own call
    only. ``items`` still makes them all, for anyone who asks.
    """

    __slots__ = ("task", "engine", "runs", "args", "kwargs", "slot_lists", "option_list")

    def __init__(self, task: Any, engine: Any, runs: list[Any], args: list[tuple[Any, ...]],
                 kwargs: list[dict[str, Any]], slot_lists: list[Any], option_list: list[dict[str, Any] | None],
                 spans: list[tuple[int, int]]) -> None:
        self.task = task
        self.engine = engine
        #: per element: its task run (which describes it, as in a WorkItem), argument template, slots, options
        self.runs = runs
        self.args = args
        self.kwargs = kwargs
        self.slot_lists = slot_lists
        self.option_list = option_list
        self.spans = spans
        first = runs[0]
        self.key = f"{first.name}-batch{len(runs)}-{first.id}"
        self.task_name = task.name
        self.options = option_list[0] if option_list[0] is not None else task.runner_options

    def _work_items(self) -> Iterable[WorkItem]:
        task, engine = self.task, self.engine
        for run, args, kwargs, slots, options in zip(self.runs, self.args, self.kwargs, self.slot_lists,
                                                     self.option_list):
            yield WorkItem(task, args, kwargs, run, slots, engine, options)

    def __call__(self, *upstream_values: Any) -> tuple[float, list[tuple[bool, Any]]]:
        """Run the elements in order, as :class:`BatchWork` does.

        An element with nothing around its call (no argument slots, tags,
        ``on_running`` hooks, nor an ``async`` function) is called right
        here, in its task run context, without a work item of its own.
        """
        task, engine = self.task, self.engine
        if task.on_running or task.is_async:
            return super().__call__(*upstream_values)
        fn = task.fn
        outcomes: list[tuple[bool, Any]] = []
        append = outcomes.append
        context_set, context_reset = task_run_context.set, task_run_context.reset
        started = time.perf_counter()
        for run, args, kwargs, slots, options, (start, stop) in zip(
                self.runs, self.args, self.kwargs, self.slot_lists, self.option_list, self.spans):
            try:
                if slots is not None or run.tags:
                    append((True, WorkItem(task, args, kwargs, run, slots, engine, options)(
                        *upstream_values[start:stop])))
                    continue
                token = context_set(TaskRunContext(task, run, engine, args, kwargs))
                try:
                    result = fn(*args, **kwargs)
                    if type(result) not in _PLAIN_RESULTS:
                        result = task_result(task, result, run.name)
                finally:
                    context_reset(token)
                append((True, result))
            except Exception as error:
                append((False, error))
            except BaseException as interrupt:
                append((False, interrupt))
                break
        return time.perf_counter() - started, outcomes

    @property  # type: ignore[override]
    def items(self) -> list[WorkItem]:
        return list(self._work_items())

    def __reduce__(self) -> tuple[Any, ...]:
        return (BatchWork, (self.items, self.spans))


class BatchSizer:
    """Chooses batch sizes for one task from the durations it has seen."""

    __slots__ = ("target_seconds", "per_element")

    def __init__(self, target_seconds: float) -> None:
        self.target_seconds = target_seconds
        self.per_element: float | None = None

    def observe(self, seconds: float, count: int) -> None:
        if count <= 0:
            return
        sample = seconds / count
        self.per_element = sample if self.per_element is None else 0.5 * self.per_element + 0.5 * sample

    def next_size(self, waiting: int, concurrency: int) -> int:
        if self.per_element is None:
            return 1
        wanted = self.target_seconds / max(self.per_element, 1e-7)
        spread = math.ceil(waiting / max(concurrency, 1))
        return max(1, min(round(wanted), spread, MAX_BATCH))


class Backlog:
    """Ready elements of one task waiting for a batch, and its batches in flight."""

    __slots__ = ("runs", "in_flight", "sizer")

    def __init__(self, target_seconds: float) -> None:
        self.runs: deque[Any] = deque()
        self.in_flight = 0
        self.sizer = BatchSizer(target_seconds)


__all__ = ["MAX_BATCH", "Backlog", "BatchSizer", "BatchWork", "Element", "LocalBatch"]
