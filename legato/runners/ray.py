"""``RayTaskRunner``: tasks run as Ray tasks (prefect-ray's runner).

::

    flow process                                        Ray
    ─────────────                                       ───
    engine ─submit(work, upstream)─▶ _execute.remote((check, work), *upstream value refs)
       ▲                                 │  returns two refs: (value, status)
       │                                 ▼
       └─ engine callback ◀─ legato-ray-callbacks thread ◀─ status ref resolved

Each work item runs as a Ray task with two returns: the *value* and a tiny
*status* (None; or the task's exception with its remote traceback text; or,
for a batch of map elements, how each element ended). Ray stores them in
that order, so the status is never ready before the value is stored, and if
Ray fails to serialize the value, the status carries that error too.
The runner learns how a task ended from the status alone, so the value stays
in Ray's object store: a downstream task is submitted with its upstream's
value ``ObjectRef`` as a top-level argument, and Ray hands the value to the
worker that needs it. The flow process fetches a value only when someone
asks for it (``future.result()``). (Ray keeps values under 100 KB in the
memory of the process that owns the ref, here the flow process, as bytes; it
never unpickles them there unless asked.)

Ray delivers completions on threads of its own core worker; the runner moves
them to one thread of its own (``legato-ray-callbacks``) before running the
engine's callbacks, which may submit more Ray tasks.

Failures:

* a task that raises fails with its own exception, its remote traceback
  text attached as ``__cause__`` (as loky and ``concurrent.futures`` do);
  legato's ``retries`` count these (Ray's ``retry_exceptions`` stays off);
* a task whose result cannot be serialized (into Ray's object store) fails
  with :class:`~legato.core.errors.SerializationError` naming the run; in a
  batch, only the elements whose values do not serialize fail (see
  :func:`~legato.runners._remote.checked_result`). A result that passes that
  check but that Ray still fails to store (a serializer registered with Ray
  that raises) fails the run with the serializer's exception. The check
  walks the value once, as pickling it would; ``check_results=False`` skips
  it, and then Ray's own store fails such a run with Ray's error;
* a worker process that dies under a task is handled by Ray, which reruns
  the task up to ``max_retries`` times (default 3; set it per task in
  ``runner_options``). These reruns are invisible to legato and not counted
  as retries. If the task still cannot finish, the run fails with
  :class:`~legato.core.errors.WorkerCrashedError` naming it. A batch of map
  elements gets ``max_retries=0`` (unless the task sets it): its loss is
  logged and the engine reruns its elements one by one, an attempt each;
* ``timeout_seconds``: the Ray task is force-cancelled, which kills the
  worker process running it.

Per-task Ray options (``num_cpus``, ``num_gpus``, ``memory``, ``resources``,
``max_retries``, ...) come from ``@task(runner_options=...)`` (everything
under a ``"ray"`` key too), and from :func:`remote_options` around
``submit``/``map``; keys meant for other runners are ignored.

Tasks that submit tasks: on a worker, each task runs with a small engine of
its own (see :mod:`legato.runners._remote`), so ``other.submit(x)``
inside a task becomes a Ray task too. A task waiting on such runs blocks in
``ray.wait``, so Ray lends its CPU to other tasks meanwhile and waiting
parents cannot starve their children.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError, Future, InvalidStateError, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager

from legato.core.context import runner_options
from typing import TYPE_CHECKING, Any

from legato.core.errors import (
    EagerAttemptNotRun, MissingDependencyError, RunnerError, SerializationError, WorkerCrashedError,
)
from legato.runners._process_worker import RemoteTraceback, pack_error, unpack_error
from legato.runners._worker_logs import collected, reemit, start_collecting
from legato.runners._remote import (
    Summary,
    TaskPickles,
    checked_result,
    install_print_redirect_if_asked,
    innermost_cause as _root,
    is_batch,
    item_names,
    run_name as _run_name,
    run_with_engine,
    summarize_batch,
    unpack_summary,
)
from legato.runners.base import RunnerFuture, TaskRunner, WorkItem

if TYPE_CHECKING:
    from ray import ObjectRef

logger = logging.getLogger("legato.runners.ray")

#: options a task's ``runner_options`` may give Ray directly
RAY_OPTIONS = frozenset({
    "num_cpus", "num_gpus", "memory", "resources", "accelerator_type", "max_retries",
    "scheduling_strategy", "runtime_env", "label_selector", "placement_group",
})

@contextmanager
def remote_options(**options: Any) -> Iterator[dict[str, Any]]:
    """Ray options for the tasks submitted inside the block (prefect-ray's ``remote_options``).

    ::

        with remote_options(num_cpus=2, memory=2**30):
            big.submit(x)

    The options are captured when each task run is created (through
    :func:`legato.core.context.runner_options`), so they also hold for a
    task that waits for upstream futures and reaches Ray later.
    """
    with runner_options(**options) as merged:
        yield merged


def _require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError(
            "the 'ray' task runner needs the 'ray' package: pip install \"legato[ray]\""
        ) from error


class RayTaskRunner(TaskRunner):
    """Run tasks on Ray: a local Ray started for the flow, or an existing cluster.

    ``address`` is passed to ``ray.init`` (``"auto"``, ``"ray://host:10001"``);
    ``init_kwargs`` add to it. If Ray is already initialized in this process
    the runner uses it as it is, and leaves it running; it shuts down only a
    Ray it started.
    """

    name = "ray"
    shares_memory = False
    submits_eagerly = True

    def __init__(self, address: str | None = None, init_kwargs: dict[str, Any] | None = None,
                 check_results: bool = True) -> None:
        _require_ray()
        self.address = address
        self.init_kwargs = dict(init_kwargs or {})
        #: check on the worker that each result can be serialized (see the module docs)
        self.check_results = check_results
        self._reset()

    def _reset(self) -> None:
        self._owns_ray = False
        self._nested = False  # a runner inside a Ray task, for the tasks that task submits
        self._in_flight: set[RayTaskFuture] = set()
        self._in_flight_lock = threading.Lock()
        self._flow_tasks = _FlowTasks()  # in the flow process: how many Ray tasks are out, and the last one
        self._task_pickles = TaskPickles()  # each task pickled once per flow run or process (see legato.runners._remote)

    @classmethod
    def _inside_task(cls, check_results: bool) -> RayTaskRunner:
        runner = cls(check_results=check_results)
        runner._nested = True
        runner._started = True
        return runner

    def start(self) -> None:
        import ray

        _plain_worker_output()
        if ray.is_initialized():
            logger.debug("using the Ray already initialized in this process")
        else:
            kwargs = {**_init_defaults(self.address), **self.init_kwargs}
            if self.address is not None:
                kwargs["address"] = self.address
            ray.init(**kwargs)
            self._owns_ray = True
        super().start()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._owns_ray:
            import ray

            ray.shutdown()
        self._reset()
        super().shutdown(wait, cancel_futures=cancel_futures)

    def _adopters(self) -> dict[str, Any]:
        """Ray refs stay in Ray: each becomes an upstream of its runs (see :mod:`legato.partitioning`)."""
        return {"ray": self._adopt_refs}

    def _adopt_refs(self, refs: list[Any], names: list[str]) -> list[Any]:
        from legato.core.adoption import AdoptedInput

        adopted = []
        for ref, name in zip(refs, names):
            future = RayTaskFuture(ref, name)
            future.is_input = True
            Future.set_result(future, None)  # done as far as the engine cares; result() fetches the ref
            adopted.append(AdoptedInput(self, future, name))
        return adopted

    def submit(self, work: WorkItem, upstream: Sequence[RunnerFuture] = ()) -> RunnerFuture:
        args = [u.object_ref if isinstance(u, RayTaskFuture) else u.result() for u in upstream]
        inputs = [u.name for u in upstream if isinstance(u, RayTaskFuture) and u.is_input] if upstream else None
        try:
            sent = self._task_pickles.sendable(work)
            value_ref, status_ref = _handle(work, False).remote((self.check_results, sent), *args)
        except TypeError as error:  # Ray could not serialize the work item
            raise SerializationError(f"task run {_run_name(work)!r} cannot be sent to Ray: {_root(error)}") from error
        future = RayTaskFuture(value_ref, _run_name(work), item_names(work) if is_batch(work) else None)
        future._status_ref = future.status_ref = status_ref  # kept alive until it resolves (and for dependents)
        future.inputs = inputs or None
        self._watch(future, status_ref)
        return future

    def submit_eager(self, work: WorkItem, upstream: Sequence[RunnerFuture]) -> RunnerFuture:
        """Submit ``work`` with its upstreams' value refs and status refs (see :mod:`legato.core.eager`).

        Ray starts it once all of them exist. On the worker
        (:func:`_execute_eager`) it first reads the upstreams' statuses: one
        that failed means the task does not run and reports "not run"; an
        upstream lost at Ray's level (a dead worker, a cancellation) fails
        it without running, which :meth:`RayTaskFuture._outcome` tells apart
        from a failure of its own.
        """
        values: list[Any] = []
        statuses: list[Any] = []  # only of the upstreams not known to have succeeded: each is an argument Ray pays for
        for u in upstream:
            if isinstance(u, RayTaskFuture):
                values.append(u.object_ref)
                settled_ok = u.done() and not u.cancelled() and u.exception() is None
                if not settled_ok:
                    statuses.append(u.status_ref)
            else:
                values.append(u.result())
        try:
            sent = self._task_pickles.sendable(work)
            value_ref, status_ref = _handle(work, True).remote(
                (self.check_results, len(values), sent), *values, *statuses)
        except TypeError as error:  # Ray could not serialize the work item
            raise SerializationError(f"task run {_run_name(work)!r} cannot be sent to Ray: {_root(error)}") from error
        future = RayTaskFuture(value_ref, _run_name(work))
        future._status_ref = future.status_ref = status_ref
        future.eager_upstream = statuses
        self._watch(future, status_ref)
        return future

    def batch_outcomes(self, future: RayTaskFuture) -> Summary:
        """How each element of a batch ended, without fetching the values (see :mod:`legato.runners._remote`)."""
        if future.summary is None:
            return future.result()
        Future.result(future)  # raises if the call failed as a whole
        return unpack_summary(future.summary, future.names or [])

    @property
    def concurrency(self) -> int:
        """CPUs in the Ray cluster (the engine sizes map batches by it)."""
        if self._nested:  # inside a task: no GCS round trip per task
            return os.cpu_count() or 1
        import ray

        try:
            return max(1, int(ray.cluster_resources().get("CPU", 1)))
        except Exception:  # not initialized
            return 1

    def abort(self, future: RunnerFuture) -> None:
        """Force-cancel the Ray task: the worker process running it is killed."""
        ref = getattr(future, "object_ref", None)
        if ref is None:
            future.cancel()
            return
        import ray

        try:
            ray.cancel(ref, force=True)
        except Exception as error:  # already finished, or a Ray that refuses
            logger.debug("ray.cancel(force=True) of %r failed: %r", future, error)

    def _watch(self, future: RayTaskFuture, status_ref: Any) -> None:
        """Settle ``future`` when its status ref resolves (and count it, for :meth:`wait`)."""
        status_future = future._status_future = status_ref.future()  # before a waiting thread can see it
        if self._nested:
            with self._in_flight_lock:
                self._in_flight.add(future)
        else:
            self._flow_tasks.add(future)
        status_future.add_done_callback(future._status_arrived)

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Wait for ``event``: in the flow process, taking a lone task's completion from Ray directly.

        Ray reports a task's end on its own thread, which hands it to
        ``legato-ray-callbacks``, which settles the run and so sets the
        event the flow thread waits on: two thread hops, each a wake-up
        (about 0.1-0.5 ms on a busy machine). When exactly one Ray task of
        this flow run is out (a one-task flow, the last link of a chain
        whose other links have settled), the waiting thread waits for that
        task's status itself and settles it here; whichever of the two
        threads comes first settles it, once. Inside a Ray task, it waits in
        ``ray.wait`` so Ray lends this task's CPU to others meanwhile.
        """
        if event.is_set():
            return True
        if self._nested:
            return self._wait_in_ray(event, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            lone = self._flow_tasks.lone()
            if lone is None:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                return event.wait(remaining)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return event.is_set()
            status_future = lone._status_future
            step = _WAIT_STEP if remaining is None else min(_WAIT_STEP, remaining)
            lone._awaited = True  # Ray's thread leaves it to this one (no hop to legato-ray-callbacks)
            try:
                wait_futures([status_future], step)
            finally:
                lone._awaited = False
            if status_future.done():  # checked after the flag is down: one of the two threads settles it
                lone._settle(status_future)  # does nothing if the callback thread was first
            if event.is_set():
                return True

    def _wait_in_ray(self, event: threading.Event, timeout: float | None) -> bool:
        import ray

        deadline = None if timeout is None else time.monotonic() + timeout
        reported: set[Any] = set()
        while not event.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            step = _WAIT_STEP if remaining is None else min(_WAIT_STEP, remaining)
            refs = [ref for ref in self._pending_refs() if ref not in reported]
            if refs:
                ready, _ = ray.wait(refs, num_returns=1, timeout=step, fetch_local=False)
                reported.update(ready)
            else:
                event.wait(step)
        return True

    def _pending_refs(self) -> list[Any]:
        with self._in_flight_lock:
            self._in_flight = {f for f in self._in_flight if f._status_ref is not None}
            return [f._status_ref for f in self._in_flight]

    def __repr__(self) -> str:
        return f"RayTaskRunner(address={self.address!r}, init_kwargs={self.init_kwargs!r})"


class RayTaskFuture(Future):  # type: ignore[type-arg]
    """Settles when the Ray task ends; ``result()`` fetches the value from Ray.

    ``object_ref`` is the value's ``ObjectRef``, what downstream tasks receive.
    """

    def __init__(self, object_ref: ObjectRef, name: str, names: list[str] | None = None) -> None:
        super().__init__()
        self.object_ref = object_ref
        self.name = name
        #: for a batch: its elements' run names, and how each ended (set when it finishes)
        self.names = names
        self.summary: Summary | None = None
        self._status_ref: ObjectRef | None = None
        #: the status ref, kept for eager dependents (which check it on their worker before running)
        self.status_ref: ObjectRef | None = None
        #: of an eager submission: the status refs of the upstreams it was given still running, else None
        self.eager_upstream: list[ObjectRef] | None = None
        #: of an eager submission that ran: when it started on its worker (``time.time()`` there)
        self.started_at: float | None = None
        self._value: Any = _UNSET
        #: the concurrent future of the status ref, and the runner's count of this flow run's tasks
        self._status_future: Future | None = None  # type: ignore[type-arg]
        self._tasks: _FlowTasks | None = None
        self._unsettled = [True]  # popped by whoever settles this future
        self._awaited = False
        #: a Ray object adopted as a task's input (legato.partitioning), not a task run's future
        self.is_input = False
        #: the names of the adopted inputs the task takes, to name them when one fails
        self.inputs: list[str] | None = None

    def result(self, timeout: float | None = None) -> Any:
        super().result(timeout)  # raises the task's error, CancelledError or TimeoutError
        if self._value is not _UNSET:
            return self._value
        import ray

        try:
            value = ray.get(self.object_ref, timeout=timeout)
        except Exception as error:
            raise _translate(error, self.name) from None
        if self.names is not None:  # a batch: its elements' values are asked for one by one
            self._value = value
        return value

    def cancel(self) -> bool:
        if self.cancelled():
            return True
        if not super().cancel():
            return False
        try:
            import ray

            ray.cancel(self.object_ref)
        except Exception as error:  # already finished
            logger.debug("ray.cancel of %r failed: %r", self, error)
        return True

    # -- called by the runner only

    def _status_arrived(self, status_future: Future) -> None:  # type: ignore[type-arg]
        if self._awaited:  # a flow thread waits for this very future, and settles it (see RayTaskRunner.wait)
            return
        try:
            _callback_executor().submit(self._settle, status_future)
        except RuntimeError:  # the interpreter is exiting: no new threads
            self._settle(status_future)

    def _settle(self, status_future: Future) -> None:  # type: ignore[type-arg]
        try:
            self._unsettled.pop()  # atomic: the callback thread and a waiting flow thread may both get here
        except IndexError:
            return
        self._status_ref = None
        if self._tasks is not None:
            self._tasks.settled(self)
        try:
            outcome = self._outcome(status_future)
        except Exception as error:  # runs on the callback thread: the future must settle whatever happens
            outcome = RunnerError(f"task run {self.name!r}: cannot tell how its Ray task ended: {error!r}")
        try:
            if isinstance(outcome, CancelledError):
                super().cancel()
            elif outcome is None:
                self.set_result(None)
            else:
                self.set_exception(outcome)
        except InvalidStateError:  # cancelled meanwhile
            pass

    def _outcome(self, status_future: Future) -> BaseException | None:  # type: ignore[type-arg]
        """The error the status reports (None: done); a batch's summary is kept."""
        try:
            status = status_future.result()
        except BaseException as error:
            if self.eager_upstream and not _upstreams_succeeded(self.eager_upstream):
                return EagerAttemptNotRun(f"task run {self.name!r} did not run: an upstream's Ray task was lost")
            translated = _translate(error, self.name)
            if self.inputs and not isinstance(translated, (WorkerCrashedError, CancelledError)):
                return _input_failed(self.name, self.inputs, translated)  # _execute never raises: an input did
            if self.names is not None and isinstance(translated, WorkerCrashedError):  # the crash path only
                logger.warning("ray runner: the Ray worker running a batch of %d map elements (task run %r and "
                               "the %d after it) died; all %d run again, one at a time (any it had finished "
                               "inside the batch run twice)", len(self.names), self.name, len(self.names) - 1,
                               len(self.names))
            return translated
        if status is None:
            return None
        if len(status) > 2:
            for event in status[2]:
                reemit(event)
        if status[0] == _FAILED:
            return unpack_error(status[1], _serializer(), self.name)
        if status[0] == _NOT_RUN:
            return EagerAttemptNotRun(f"task run {self.name!r} did not run: an upstream failed")
        if status[0] == _DONE:
            self.started_at = status[1]
        if status[0] == _BATCH:
            self.summary = status[1]
        return None

    def __repr__(self) -> str:
        return f"RayTaskFuture({self.name!r}, state={self._state})"


class _FlowTasks:
    """The Ray tasks a runner has out in the flow process: their number, and the last one submitted."""

    __slots__ = ("count", "last", "lock")

    def __init__(self) -> None:
        self.count = 0
        self.last: RayTaskFuture | None = None
        self.lock = threading.Lock()

    def add(self, future: RayTaskFuture) -> None:
        future._tasks = self
        with self.lock:
            self.count += 1
            self.last = future

    def settled(self, future: RayTaskFuture) -> None:
        with self.lock:
            self.count -= 1
            if self.last is future:
                self.last = None

    def lone(self) -> RayTaskFuture | None:
        """The one task out, if exactly one is (and it is the last submitted)."""
        with self.lock:
            return self.last if self.count == 1 else None


# ---------------------------------------------------------------------- on the worker


_DONE, _FAILED, _BATCH, _NOT_RUN = "done", "failed", "batch", "not run"
#: statuses whose value is not the task's: its dependents must not run on it
_UNSUCCESSFUL = frozenset({_FAILED, _NOT_RUN})


def _execute(header: tuple[bool, Any], *upstream_values: Any) -> tuple[Any, tuple[str, Any] | None]:
    """Run one work item (``header`` is ``(check_results, work)``); returns ``(value, status)``.

    The plain arguments travel as one ``header`` because Ray serializes and
    stores each top-level argument on its own (tens of microseconds each, on
    both sides); the upstream value refs must stay top-level for Ray to
    resolve them. The status is small enough to fetch always.

    The status is None (done), ``(_FAILED, packed error)`` (the task raised,
    or its result cannot be serialized: a status, not a Ray error, so Ray
    does not retry it) or ``(_BATCH, summary)`` (how each element of a batch
    ended); ``(_DONE, None)`` is done too. When the task logged, the status
    carries the records as a third element.
    """
    check_results, work = header
    token = start_collecting()
    try:
        install_print_redirect_if_asked(work)
        value, status = _execute_collecting(check_results, work, upstream_values)
    finally:
        logs = collected(token)
    if logs:  # the run logs the task made ride back with its status (see legato.runners._worker_logs)
        status = (_DONE, None, logs) if status is None else (*status, logs)
    return value, status


def _execute_eager(header: tuple[bool, int, Any], *args: Any) -> tuple[Any, tuple[Any, ...] | None]:
    """:func:`_execute` for an eager submission: ``header`` is ``(check_results, count, work)``, ``args``
    the ``count`` upstream values, then the statuses of the upstreams that were still running.

    An upstream whose status says it failed means the task must not run:
    the status is ``(_NOT_RUN, None)``. Otherwise the status of a task that
    did not fail carries its start time here: ``(_DONE, started[, logs])``.
    """
    check_results, count, work = header
    for status in args[count:]:
        if status is not None and status[0] in _UNSUCCESSFUL:  # failed, or an eager task that did not run
            return None, (_NOT_RUN, None)
    started = time.time()
    value, status = _execute((check_results, work), *args[:count])
    if status is None:
        return value, (_DONE, started)
    if status[0] == _DONE:
        return value, (_DONE, started, *status[2:])
    return value, status


def _upstreams_succeeded(status_refs: list[Any]) -> bool:
    """Whether every upstream status ref resolves to a status that is not a failure (they are ready by now)."""
    import ray

    try:
        statuses = ray.get(status_refs, timeout=_UPSTREAM_CHECK_SECONDS)
    except Exception:  # lost, cancelled, or not there in time: not a success
        return False
    return all(status is None or status[0] not in _UNSUCCESSFUL for status in statuses)


def _execute_collecting(check_results: bool, work: Any,
                        upstream_values: tuple[Any, ...]) -> tuple[Any, tuple[str, Any] | None]:
    try:
        value = run_with_engine(work, upstream_values, RayTaskRunner._inside_task(check_results))
        if check_results:
            value = checked_result(work, value, "Ray", _ray_dumps)
    except Exception as error:
        return None, (_FAILED, pack_error(error, _serializer()))
    if is_batch(work):
        return value, (_BATCH, summarize_batch(value))
    return value, None


def _ray_dumps(value: Any) -> object:
    """Ray's own serialization of ``value``, with the serializers users registered in this worker."""
    from ray._private.worker import global_worker

    return global_worker.get_serialization_context().serialize(value)


# ---------------------------------------------------------------------- helpers

_UNSET: Any = object()
_WAIT_STEP = 0.1
_remote: Any = None
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


_remote_eager: Any = None
#: how long the callback thread waits for an eager task's upstream statuses (already stored when it asks)
_UPSTREAM_CHECK_SECONDS = 10.0


def _remote_eager_function() -> Any:
    global _remote_eager
    if _remote_eager is None:
        import ray

        _remote_eager = ray.remote(num_returns=2, max_retries=3, retry_exceptions=False)(_execute_eager)
    return _remote_eager


def _remote_function() -> Any:
    global _remote
    if _remote is None:
        import ray

        _remote = ray.remote(num_returns=2, max_retries=3, retry_exceptions=False)(_execute)
    return _remote


def _serializer() -> Any:
    from legato.serializers import task_serializer

    return task_serializer()


def _callback_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(1, thread_name_prefix="legato-ray-callbacks")
    return _executor


def _plain_worker_output() -> None:
    """No colour codes around the worker output Ray prints here when stderr is a pipe or a file.

    Ray's driver wraps each forwarded line's ``(task pid=...)`` prefix in ANSI
    colours unless ``RAY_COLOR_PREFIX=0``, which it reads as it prints; a
    value the user set is left alone.
    """
    stream = sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")


def _init_defaults(address: str | None) -> dict[str, Any]:
    """``ray.init`` defaults: no dashboard for a Ray we start, worker output shown here."""
    if address is None:
        return {"include_dashboard": False, "log_to_driver": True}
    if address.startswith("ray://"):  # Ray Client would forward these to the server's ray.init
        return {}
    return {"log_to_driver": True}


#: ``.options(...)`` handles by (eager, task name): a run with no Ray options of its own reuses its task's
_handles: dict[tuple[bool, str], Any] = {}
_HANDLES_MAX = 1024


def _handle(work: Any, eager: bool) -> Any:
    """The remote function to call for ``work``, with its Ray options.

    ``.options(...)`` builds a new Ray wrapper (about 0.1-0.2 ms), and a
    name unique to each run makes every ``.remote()`` dearer still; so a run
    without options of its own (most runs) goes to Ray under its *task's*
    name, through a handle made once per task. Ray's dashboard and
    ``ray list tasks`` show ``inc``, not ``inc-3``; a batch and a run with
    Ray options keep the run's own name and handle.
    """
    remote = _remote_eager_function() if eager else _remote_function()
    if is_batch(work) or work.options:
        return remote.options(**_task_options(work))
    key = (eager, work.task_name)
    handle = _handles.get(key)
    if handle is None:
        if len(_handles) >= _HANDLES_MAX:
            _handles.clear()
        handle = _handles[key] = remote.options(name=work.task_name)
    return handle


def _task_options(work: WorkItem) -> dict[str, Any]:
    options: dict[str, Any] = {"name": work.key}
    if is_batch(work):
        # A batch lost with its worker is not retried by Ray, behind legato's back: it fails, and the
        # engine runs its elements again one by one, logged and counted (an attempt each).
        options["max_retries"] = 0
    declared = work.options
    if declared:
        options.update({k: v for k, v in declared.items() if k in RAY_OPTIONS})
        options.update(declared.get("ray") or {})
    return options


def _input_failed(name: str, inputs: list[str], error: BaseException) -> BaseException:
    from legato.core.errors import PartitionError

    which = inputs[0] if len(inputs) == 1 else "one of " + ", ".join(inputs)
    named = PartitionError(f"task run {name!r} did not run: its input {which} could not be computed on Ray: "
                           f"{type(error).__name__}: {error}")
    named.__cause__ = error
    return named


def _translate(error: BaseException, name: str) -> BaseException:
    """A Ray error as the exception legato users expect."""
    import ray.exceptions as rex

    if isinstance(error, rex.RayTaskError):
        cause = error.cause
        if isinstance(cause, BaseException) and not isinstance(cause, rex.RayError):
            # what ray.get raises is a copy whose traceback_str is its str()
            cause.__cause__ = RemoteTraceback(getattr(error, "traceback_str", None) or str(error))
            return cause
        return RunnerError(f"task run {name!r} failed on Ray: {error}")
    if isinstance(error, rex.TaskCancelledError):
        return CancelledError(f"the Ray task of task run {name!r} was cancelled")
    if isinstance(error, (rex.WorkerCrashedError, rex.OutOfMemoryError, rex.NodeDiedError, rex.LocalRayletDiedError)):
        crashed = WorkerCrashedError(f"task run {name!r}: the Ray worker running it died, and Ray's retries "
                                     f"(max_retries) are used up: {type(error).__name__}")
        crashed.__cause__ = error
        return crashed
    if isinstance(error, rex.GetTimeoutError):
        return TimeoutError(str(error))
    if isinstance(error, rex.RayError):
        runner_error = RunnerError(f"task run {name!r}: {type(error).__name__}: {error}")
        runner_error.__cause__ = error
        return runner_error
    return error


__all__ = ["RAY_OPTIONS", "RayTaskFuture", "RayTaskRunner", "remote_options"]
