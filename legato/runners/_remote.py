"""What the Dask and Ray runners share: tasks that submit tasks, batch summaries, the result check.

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

The engine is built on first use (:class:`LazyEngine`): a task that
submits nothing pays for none.

**Batch summaries.** A batch returns ``(seconds, [(ok, value or error)])``.
The engine needs to know how each element ended, not the values, which
should stay on the cluster until someone asks for them.
:func:`summarize_batch` (run on the worker, next to the result) keeps the
durations and the errors, with their remote tracebacks, and drops the
values; :func:`unpack_summary` turns it back into what the engine expects,
``(seconds, [(True, None) | (False, exception)])``.

**Tasks pickled once per flow run.** A work item carries its task (the
function and every option), which is pickled by value: about 1 KB and a
third of a millisecond per submission, and as much again to unpickle on the
worker. :class:`TaskPickles` keeps, per runner (so per flow run), each
task's pickle, made on first use; a work item is sent with that, and a
worker unpickles a given pickle once (:func:`_load_task`, a small cache by
content). What a task's function captured by value (globals of a function
defined in ``__main__``) is therefore what it was at the flow run's first
submission of that task, as on the processes runner, which sends each
task once per worker. A task with nothing to capture (its function, hooks
and options all importable, so its pickle only names them, as ``task(f)``
of a module's ``f`` does) pickles to the same bytes in every flow run: its
pickle is kept for the process, which saves a one-task flow about 0.3 ms.
``@task def f`` is not such a task (the module's ``f`` is the task, so the
function is pickled by value, with the globals it reads).

**Results that cannot leave the worker.** Dask and Ray keep a result where
it was computed and serialize it only when it moves (to another worker, to
the flow process; Ray also into its object store). A result that cannot be
serialized would be reported Completed, and fail later, elsewhere, or never.
:func:`checked_result` (run on the worker, before the result is handed to
the backend) fails the task run instead, with a
:class:`~legato.core.errors.SerializationError` naming it, as the process
runner does; in a batch only the elements whose values do not serialize
fail. The check only asks whether the value *would* serialize; what crosses
the wire is still the backend's business:

* it pickles into a sink that keeps nothing, with large buffers (bytes,
  NumPy arrays) passed by reference or out of band, so it costs a walk over
  the value's objects and no copy of its data (a fraction of a microsecond
  for a small result, next to the hundreds a Dask or Ray task costs; a
  batch is checked in one pass);
* a value the task serializer rejects is offered to the backend's own
  serializer, so types the user registered with Dask or Ray still pass.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from legato.core.errors import SerializationError
from legato.core.work import StateReturned
from legato.runners._process_worker import pack_error, unpack_error
from legato.runners.base import TaskRunner
from legato.serializers.probe import pickles

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
    engine = LazyEngine(info, runner)
    work = copy.copy(work)
    if items:
        work.items = [_with_engine(item, engine) for item in items]
    else:
        work.engine = engine
    try:
        result = work(*upstream_values)
    except StateReturned:  # not a failure: the runs it submitted finish as after a return
        engine.wait_all()
        raise
    except BaseException:
        if engine.started is not None:
            engine.started.cancel_pending("the task that submitted this task failed")
        raise
    if engine.started is not None:
        engine.started.wait_all()
    return result


class LazyEngine:
    """The worker-side engine of a task, built only when the task submits something.

    Most tasks submit nothing, and building an engine costs about a third of
    a millisecond per task on the worker: on a chain, where each link waits
    for the previous one, that is latency on every link.
    """

    __slots__ = ("_info", "_runner", "started")

    def __init__(self, info: Any, runner: TaskRunner) -> None:
        self._info = info
        self._runner = runner
        #: the engine, once something asked for it
        self.started: Any = None

    def __getattr__(self, name: str) -> Any:  # what the engine has and this stand-in does not
        engine = self.started
        if engine is None:
            engine = self.started = _engine(self._info, self._runner)
        return getattr(engine, name)


class PickledTask:
    """A task as the bytes of its pickle: unpickled, it is the task again (see the module docs)."""

    __slots__ = ("data", "name")

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return _load_task, (self.data,)


class TaskPickles:
    """Each task's pickle, made once for the runner that holds this (one flow run)."""

    __slots__ = ("_pickles", "_lock")

    def __init__(self) -> None:
        self._pickles: dict[int, tuple[Any, PickledTask]] = {}
        self._lock = threading.Lock()

    def sendable(self, work: Any) -> Any:
        """``work`` with its task replaced by the task's pickle (a copy; batches are sent as they are)."""
        if is_batch(work) or not hasattr(work, "task"):
            return work
        task = work.task
        lasting = _lasting_pickles.get(id(task))
        known = lasting is not None and lasting[0] is task
        if known and lasting[1] is not None:  # type: ignore[index]
            pickled = lasting[1]  # type: ignore[index]
        else:
            found = self._pickles.get(id(task))
            if found is not None and found[0] is task:
                pickled = found[1]
            else:
                from legato.serializers import task_serializer

                pickled = PickledTask(task_serializer().dumps(task), task.name)
                with self._lock:
                    self._pickles[id(task)] = (task, pickled)  # the task is kept, so its id is not reused
            if not known:  # asked once per task and process: can its pickle last?
                _remember(task, pickled if _by_reference(task) else None)
        work = copy.copy(work)
        work.task = pickled
        return work


#: by task id: the task, and its pickle kept for the process if it is pickled wholly by reference, else
#: None (pickled once per flow run); see "Tasks pickled once per flow run" above
_lasting_pickles: dict[int, tuple[Any, PickledTask | None]] = {}
_LASTING_MAX = 256


def _remember(task: Any, pickled: PickledTask | None) -> None:
    if len(_lasting_pickles) >= _LASTING_MAX:
        _lasting_pickles.clear()
    _lasting_pickles[id(task)] = (task, pickled)  # the task is kept, so its id is not reused


def _by_reference(task: Any) -> bool:
    """Whether ``task`` pickles by reference alone: a plain pickle succeeds and names nothing in ``__main__``."""
    import pickle

    try:
        data = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # something in it is pickled by value (a lambda, a closure, a __main__ function)
        return False
    return b"__main__" not in data


#: on a worker: tasks by their pickle, so each is unpickled once (bounded: cleared when full)
_loaded_tasks: dict[bytes, Any] = {}
_LOADED_TASKS_MAX = 256


def _load_task(data: bytes) -> Any:
    task = _loaded_tasks.get(data)
    if task is None:
        from legato.serializers import task_serializer

        task = task_serializer().loads(data)
        if len(_loaded_tasks) >= _LOADED_TASKS_MAX:
            _loaded_tasks.clear()
        _loaded_tasks[data] = task
    return task


def install_print_redirect_if_asked(work: Any) -> None:
    """Route ``print`` to the run logger in this worker if the task (or its flow) has ``log_prints``."""
    first = work.items[0] if is_batch(work) else work
    if getattr(getattr(first, "info", None), "log_prints", False):
        from legato.core.logs import install_print_redirect

        install_print_redirect()


def summarize_batch(result: tuple[float, list[tuple[bool, Any]]]) -> Summary:
    """A batch result without its values: ``(seconds, [(True, None) | (False, packed error)])``."""
    from legato.serializers import task_serializer

    serializer = task_serializer()
    seconds, outcomes = result
    return seconds, [(True, None) if ok else (False, pack_error(value, serializer)) for ok, value in outcomes]


def unpack_summary(summary: Summary, names: list[str]) -> Summary:
    """The engine's view of a batch summary: errors rebuilt, remote tracebacks as ``__cause__``."""
    from legato.serializers import task_serializer

    serializer = task_serializer()
    seconds, outcomes = summary
    unpacked: list[tuple[bool, Any]] = []
    for index, (ok, packed) in enumerate(outcomes):
        name = names[index] if index < len(names) else "?"
        unpacked.append((True, None) if ok else (False, unpack_error(packed, serializer, name)))
    return seconds, unpacked


def item_names(work: Any) -> list[str]:
    return [getattr(getattr(item, "info", None), "name", None) or item.key for item in work.items]


def _engine(info: Any, runner: TaskRunner) -> Any:
    from legato.core.nested import worker_engine

    return worker_engine(info, runner)


def _with_engine(item: Any, engine: Any) -> Any:
    item = copy.copy(item)
    item.engine = engine
    return item


def checked_result(work: Any, result: Any, backend: str, backend_dumps: Callable[[Any], object]) -> Any:
    """``result`` if it can be serialized; else the run fails (a batch: only its unserializable elements).

    ``backend_dumps`` is the backend's own serializer, asked only about a
    value plain pickling rejects (see the module docs).
    """
    if not is_batch(work):
        error = unserializable(result, backend_dumps)
        if error is not None:
            raise _unsendable(run_name(work), backend, error)
        return result
    seconds, outcomes = result
    if pickles(outcomes):
        return result
    names = item_names(work)
    checked: list[tuple[bool, Any]] = []
    for index, (ok, value) in enumerate(outcomes):
        error = unserializable(value, backend_dumps) if ok else None
        checked.append((ok, value) if error is None else (False, _unsendable(names[index], backend, error)))
    return seconds, checked


def unserializable(value: Any, backend_dumps: Callable[[Any], object]) -> BaseException | None:
    """Why ``value`` cannot be serialized, or None if it can (by pickle, the task serializer or the backend)."""
    if pickles(value):
        return None
    try:
        backend_dumps(value)
    except Exception as error:
        return _reason(value, error)
    return None


def _reason(value: Any, error: BaseException) -> BaseException:
    """The most telling error for ``value``: legato's serializer names the innermost culprit."""
    from legato.serializers import task_serializer

    try:
        task_serializer().dumps(value)
    except SerializationError as named:
        return named
    return error


def _unsendable(name: str, backend: str, error: BaseException) -> SerializationError:
    reason = error if isinstance(error, SerializationError) else f"{type(error).__name__}: {error}"
    return SerializationError(
        f"the result of task run {name!r} cannot be serialized, so it cannot leave the {backend} worker "
        f"that computed it: {reason}"
    )


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
    "PickledTask", "Summary", "TaskPickles", "checked_result", "innermost_cause", "is_batch", "item_names", "run_name", "run_with_engine",
    "summarize_batch", "unpack_summary", "unserializable",
]
