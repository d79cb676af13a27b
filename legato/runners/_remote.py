"""What the Dask and Ray runners share: tasks that submit tasks, and batch summaries.

**Tasks that submit tasks.** A work item that reaches a worker process has no
engine (the flow's engine lives in the flow process), so ``other.submit(x)``
inside the task would have nowhere to go. :func:`run_with_engine` gives the
call a small engine of its own, bound to a runner that submits to the same
cluster from the worker:

* nested runs are ordinary legato task runs (retries, timeouts, states),
  belonging to the same flow run id as the task that submitted them;
* the call does not return before the runs it submitted are final (they are
  cancelled if it raises), so nothing it started is orphaned;
* waiting for a nested run goes through the runner's ``wait``, which must
  give the worker's slot back while it waits (Dask: ``secede``; Ray: block in
  ``ray.wait``), or a cluster full of waiting parents would deadlock.

A batch of map elements (:class:`~legato.core.batching.BatchWork`) shares
one engine among its elements.

**Batch summaries.** A batch returns ``(seconds, [(ok, value or error)])``.
The engine needs to know how each element ended, not the values, which
should stay on the cluster until someone asks for them.
:func:`summarize_batch` (run on the worker, next to the result) keeps the
durations and the errors, with their remote tracebacks, and drops the
values; :func:`unpack_summary` turns it back into what the engine expects,
``(seconds, [(True, None) | (False, exception)])``.
"""

from __future__ import annotations

import copy
from typing import Any

from legato.runners._process_worker import pack_error, unpack_error
from legato.runners.base import TaskRunner

Summary = tuple[float, list[tuple[bool, Any]]]


def is_batch(work: Any) -> bool:
    return getattr(work, "items", None) is not None and getattr(work, "spans", None) is not None


def run_with_engine(work: Any, upstream_values: tuple[Any, ...], runner: TaskRunner) -> Any:
    """Call ``work(*upstream_values)`` with a worker-side engine over ``runner``."""
    items = work.items if is_batch(work) else None
    first = items[0] if items else work
    info = getattr(first, "info", None)
    if info is None or not hasattr(first, "engine"):
        return work(*upstream_values)
    engine = _engine(info, runner)
    work = copy.copy(work)
    if items:
        work.items = [_with_engine(item, engine) for item in items]
    else:
        work.engine = engine
    try:
        result = work(*upstream_values)
    except BaseException:
        engine.cancel_pending("the task that submitted this task failed")
        raise
    engine.wait_all()
    return result


def summarize_batch(result: tuple[float, list[tuple[bool, Any]]]) -> Summary:
    """A batch result without its values: ``(seconds, [(True, None) | (False, packed error)])``."""
    from legato.serializers import get_serializer

    serializer = get_serializer("cloudpickle")
    seconds, outcomes = result
    return seconds, [(True, None) if ok else (False, pack_error(value, serializer)) for ok, value in outcomes]


def unpack_summary(summary: Summary, names: list[str]) -> Summary:
    """The engine's view of a batch summary: errors rebuilt, remote tracebacks as ``__cause__``."""
    from legato.serializers import get_serializer

    serializer = get_serializer("cloudpickle")
    seconds, outcomes = summary
    unpacked: list[tuple[bool, Any]] = []
    for index, (ok, packed) in enumerate(outcomes):
        name = names[index] if index < len(names) else "?"
        unpacked.append((True, None) if ok else (False, unpack_error(packed, serializer, name)))
    return seconds, unpacked


def item_names(work: Any) -> list[str]:
    return [getattr(getattr(item, "info", None), "name", None) or item.key for item in work.items]


def _engine(info: Any, runner: TaskRunner) -> Any:
    from legato.core.engine import FlowEngine
    from legato.core.flow import FlowRun

    flow_run = FlowRun(id=info.flow_run_id or info.id, name=info.flow_run_name or info.name,
                       flow_name="<tasks submitted by a task>")
    return FlowEngine(flow_run, runner)


def _with_engine(item: Any, engine: Any) -> Any:
    item = copy.copy(item)
    item.engine = engine
    return item




def run_name(work: Any) -> str:
    """The task run name a work item (or batch) carries, for error messages."""
    info = getattr(work, "info", None)
    return getattr(info, "name", None) or work.key


def innermost_cause(error: BaseException) -> BaseException:
    """The innermost cause of ``error`` (what actually could not be pickled)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


__all__ = [
    "Summary", "innermost_cause", "is_batch", "item_names", "run_name", "run_with_engine", "summarize_batch",
    "unpack_summary",
]
