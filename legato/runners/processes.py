"""``ProcessPoolTaskRunner``: tasks run in a pool of worker processes.

Data flow::

    flow process                                               worker process k
    ──────────────────────────────────────────────────────     ─────────────────────
    submit(work, upstream)  (any thread)
      │ serialize the task (once) and the arguments;
      │ a failure is a SerializationError raised right here
      ▼
    pending jobs ──▶ dispatcher thread ── job ──▶ socket k ──▶ load, run, serialize
      ▲                │ │  knows the jobs each worker holds         │ result
      │                │ └◀── result, log records ◀────────────────┘
      │                │        ├─▶ future.set_result(bytes)  (deserialized when asked for)
      │                │        └─▶ logging.getLogger(record.name).handle(record)
      │                └◀── sentinel k: worker k died ─▶ its jobs go back to pending
    abort(future)  ──▶ (timeout) kill the worker running it; its other jobs go back

The pool itself (:mod:`legato.runners._process_pool`) is owned by one
dispatcher thread: only it starts, feeds, reads and kills workers, and it
knows which jobs each worker holds, in order. That is what makes the two
hard cases precise:

* **Timeouts.** The engine calls :meth:`ProcessPoolTaskRunner.abort` when a
  task runs past ``timeout_seconds``: the worker running it is killed (and
  replaced when there is work), and the jobs queued behind it go back to
  pending. They had not started, so nothing is lost or counted.
* **Crashes.** A worker that dies (SIGKILL, segfault, ``os._exit``) is
  replaced; the job it was running is run again on a fresh worker, at most
  ``crash_retries`` times (counted apart from the task's ``retries``, which
  the engine handles), after which its future fails with
  :class:`~legato.core.errors.WorkerCrashedError` naming the task run. The
  other jobs finish. A batch of map elements
  (:class:`~legato.core.batching.BatchWork`) fails at its first crash
  instead: the engine then runs its elements one by one, so only the element
  that kills its worker ends up failing.
  (``concurrent.futures.ProcessPoolExecutor`` can do neither: it marks the
  whole pool broken when one worker dies.)

**Start method: forkserver** (spawn where there is none). ``fork`` copies a
process that has threads (the engine's timer, this dispatcher, a flow's
thread pools), which can deadlock the child on a lock another thread held,
so it is out. ``spawn`` is safe but starts a fresh interpreter and imports
legato in every worker: measured on a 2-core machine, 200-260 ms before a new
worker runs its first task, paid again for every worker replaced after a
crash or a timeout. ``forkserver`` forks workers from a single-threaded
server process that has this runner's worker module preloaded (it is added
to the forkserver's preload list): 25-35 ms to a first result from a new
worker (160 ms without the preload). The server is started once per flow
process (about 0.3 s) and lives as long as that process, as multiprocessing's
forkserver does; the workers are its children.

**The main module.** As with ``spawn``, each worker imports the flow
process's main module again (as ``__mp_main__``), so that the tasks a script
defines can be unpickled there: a script must call its flow under
``if __name__ == "__main__":``, as multiprocessing requires. One that does
not would start its flow again in every worker; the worker notices and gives
up at once (:mod:`legato.core.mainguard`), and the flow's tasks fail with a
:class:`~legato.core.errors.WorkerStartupError` that says so, instead of
being retried as crashes. The forkserver does not preload the main module
(Python 3.13 made its ``"__main__"`` preload work): an unguarded script would
then run in the server itself, where nothing can report it.

**Throughput.** A task object is serialized once and sent once to each
worker, which caches it; a job then carries only its arguments. Each
distinct upstream value is sent once per job, as the bytes its worker
produced (results stay serialized in the flow process until asked for). Up
to two jobs are queued per worker, so a worker does not wait for the
dispatcher between two short tasks, and the dispatcher reads everything a
worker has sent in one system call. A job whose message is large, or whose
task has a timeout, only goes to an idle worker: a large message is never
written to a busy worker (both could block writing to each other), and a
task with a timeout never waits behind another one.

**Logs.** Workers send their log records (``get_run_logger()``,
``log_prints``, any logger at the levels the flow process has for the root
and ``legato`` loggers) on the same socket, through a
:class:`logging.handlers.QueueHandler`; the dispatcher re-emits each into the
logger of the same name, extra fields (``task_run_name``...) included.

**Tasks that submit tasks.** As in Prefect, ``submit``/``map`` inside a task
run on a thread pool in the worker running that task, with an engine of
their own (same flow run id, retries, timeouts, states), started on first
use; the task does not return before they are final. Calling another task
directly runs it inline. Nothing else is shared with the flow process.

POSIX only (the dispatcher waits on pipes and sockets with ``selectors``).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from legato.core.arguments import fill_slots
from legato.core.batching import BatchWork
from legato.core.errors import SerializationError
from legato.core.mainguard import refuse_in_worker_startup
from legato.core.work import Inline, WorkItem
from legato.runners._process_pool import PIPELINE_BYTES, Job, Pool
from legato.runners._process_worker import TASK_CACHE_SIZE, BrokenItem, unpack_error
from legato.runners.base import RunnerFuture, TaskRunner
from legato.serializers import TASK_SERIALIZER, Serializer, get_serializer

_WORKER_MODULE = "legato.runners._process_worker"
_UNSET: Any = object()


class ProcessPoolTaskRunner(TaskRunner):
    """Runs each task in one of ``max_workers`` worker processes (default: one per CPU).

    ``crash_retries`` bounds how often a task is run again after its worker
    died under it; ``serializer`` (a name or a
    :class:`~legato.serializers.Serializer`) carries tasks, arguments and
    results; ``start_method`` defaults to ``"forkserver"`` (see the module
    docstring).
    """

    name = "processes"
    shares_memory = False
    reports_start = True

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        crash_retries: int = 3,
        serializer: str | Serializer = TASK_SERIALIZER,
        start_method: str | None = None,
    ) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        if crash_retries < 0:
            raise ValueError(f"crash_retries must be >= 0, got {crash_retries}")
        methods = multiprocessing.get_all_start_methods()
        if start_method is not None and start_method not in methods:
            raise ValueError(f"start_method must be one of {methods}, got {start_method!r}")
        self.max_workers = max_workers or os.cpu_count() or 1
        self.crash_retries = crash_retries
        self.serializer = get_serializer(serializer)
        self.start_method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        self._reset()

    def _reset(self) -> None:
        self._pool: Pool | None = None
        self._tasks = _TaskKeys()
        self._lock = threading.Lock()

    # -- lifecycle

    def start(self) -> None:
        refuse_in_worker_startup()  # a pool started at top level of a script a worker is importing
        with self._lock:
            if self._pool is None:
                self._pool = Pool(self.max_workers, _context(self.start_method), self.serializer, self.crash_retries)
        super().start()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop(wait, cancel_futures)
        self._tasks = _TaskKeys()
        super().shutdown(wait, cancel_futures=cancel_futures)

    # -- work

    def submit(self, work: Any, upstream: Sequence[RunnerFuture] = ()) -> RunnerFuture:
        pool = self._pool
        if pool is None:
            raise RuntimeError(f"{self!r} is not started: use it as a context manager or call start() first")
        job = self._job(work, upstream)
        pool.put(job)
        return job.future  # type: ignore[no-any-return]

    def abort(self, future: RunnerFuture) -> None:
        if future.cancel():  # still waiting in the flow process
            return
        pool = self._pool
        if pool is not None and isinstance(future, ProcessFuture):
            pool.abort(future)

    def batch_outcomes(self, future: RunnerFuture) -> tuple[float, list[tuple[bool, Any]]]:
        """How each element of a batch ended, without loading the values (see the engine)."""
        if isinstance(future, ProcessFuture):
            return future.outcomes()
        return future.result()  # type: ignore[no-any-return]

    def _job(self, work: Any, upstream: Sequence[RunnerFuture]) -> Job:
        """Serialize ``work`` for a worker; a SerializationError names what did not serialize."""
        serializer = self.serializer
        payloads, positions = _upstream_payloads(upstream, serializer)
        spans: list[tuple[int, int]] | None = None
        if isinstance(work, WorkItem):
            key, task_bytes = self._tasks.lookup(work.task, serializer)
            item = _dump_item(work, serializer)
            names, timeout = [work.info.name], work.task.timeout_seconds
        elif isinstance(work, BatchWork) and _one_task(work.items):
            key, task_bytes = self._tasks.lookup(work.items[0].task, serializer)
            item = _dump_batch(work.items, serializer)
            names, timeout, spans = [i.info.name for i in work.items], None, list(work.spans)
        else:
            key, task_bytes, timeout = None, None, None
            names = [str(getattr(work, "key", None) or repr(work))]
            try:
                item = serializer.dumps(work)
            except SerializationError as error:
                raise SerializationError(f"{names[0]!r} cannot be sent to a worker process: {error}") from error
        name = names[0] if len(names) == 1 else f"{names[0]} (and {len(names) - 1} more)"
        future = ProcessFuture(serializer, names)
        job = Job(name, future, key, task_bytes, item, spans, payloads, positions)
        job.exclusive = timeout is not None or job.size() > PIPELINE_BYTES
        future.job = job
        return job

    def __repr__(self) -> str:
        return f"ProcessPoolTaskRunner(max_workers={self.max_workers})"


class ProcessFuture(Future):  # type: ignore[type-arg]
    """The future of one job. Its value stays serialized until someone asks for it.

    For a batch of map elements, :meth:`outcomes` tells how each element
    ended without loading any value, and :meth:`result` returns what
    :class:`~legato.core.batching.BatchWork` returns.
    """

    def __init__(self, serializer: Serializer, names: list[str]) -> None:
        super().__init__()
        self.names = names
        #: for a batch: ``(seconds, [(ok, packed error | None)])``, set by the pool
        self.summary: tuple[float, list[tuple[bool, Any]]] | None = None
        #: the job while the pool holds it (cleared when it ends)
        self.job: Job | None = None
        self._serializer = serializer
        self._value = _UNSET
        self._outcomes: tuple[float, list[tuple[bool, Any]]] | None = None
        self._start_callbacks: list[Any] | None = None
        self._has_started = False

    def add_start_callback(self, fn: Any) -> None:
        """Call ``fn(self)`` when the job reaches a worker (at once if it has).

        The moment a task starts running, as opposed to when it was submitted:
        what a timeout should be measured from (a job with a timeout is only
        ever sent to an idle worker, so it starts when it is sent).
        """
        with self._condition:
            if not self._has_started:
                self._start_callbacks = [*(self._start_callbacks or ()), fn]
                return
        fn(self)

    def notify_started(self) -> None:
        """Called by the pool when the job is first sent to a worker."""
        with self._condition:
            self._has_started = True
            callbacks, self._start_callbacks = self._start_callbacks, None
        for fn in callbacks or ():
            fn(self)

    def payload(self) -> bytes:
        """The serialized value, as the worker sent it."""
        return Future.result(self, 0)  # type: ignore[no-any-return]

    def result(self, timeout: float | None = None) -> Any:
        payload = super().result(timeout)
        if self._value is _UNSET:
            value = self._load(payload)
            if self.summary is not None:
                seconds, values = value
                value = (seconds, [v if v[0] else o for v, o in zip(values, self.outcomes()[1])])
            self._value = value
        return self._value

    def outcomes(self) -> tuple[float, list[tuple[bool, Any]]]:
        """A batch's ``(seconds, [(True, None) | (False, exception)])``; raises if it failed as a whole."""
        Future.result(self, 0)
        if self._outcomes is None:
            assert self.summary is not None, "outcomes() is for batches"
            seconds, summary = self.summary
            self._outcomes = (seconds, [
                (True, None) if ok else (False, unpack_error(packed, self._serializer, self.names[index]))
                for index, (ok, packed) in enumerate(summary)
            ])
        return self._outcomes

    def _load(self, payload: bytes) -> Any:
        try:
            return self._serializer.loads(payload)
        except SerializationError as error:
            raise SerializationError(
                f"the result of task run {self.names[0]!r} cannot be loaded in the flow process: {error}"
            ) from error


# ---------------------------------------------------------------------- serializing work


class _TaskKeys:
    """Gives each task object a key and its serialized form, serializing it once.

    Tasks are immutable in practice (``with_options`` makes a new one), so a
    task is known by identity; the entry keeps it alive, so its ``id`` cannot
    be reused by another task while the entry exists. Keys are never reused.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, tuple[Any, int, bytes]] = OrderedDict()
        self._next = 0

    def lookup(self, task: Any, serializer: Serializer) -> tuple[int, bytes]:
        entry = self._entries.get(id(task))
        if entry is not None and entry[0] is task:
            return entry[1], entry[2]
        try:
            blob = serializer.dumps(task)
        except SerializationError as error:
            raise SerializationError(
                f"task {task.name!r} cannot be sent to a worker process (its function, closure or options "
                f"do not serialize): {error}"
            ) from error
        with self._lock:  # the task object is kept alive with its key, so its id is not reused meanwhile
            self._next += 1
            self._entries[id(task)] = (task, self._next, blob)
            if len(self._entries) > TASK_CACHE_SIZE:
                self._entries.popitem(last=False)
            return self._next, blob


def _one_task(items: list[Any]) -> bool:
    first = items[0]
    return all(isinstance(i, WorkItem) and i.task is first.task for i in items)


def _fields(work: WorkItem) -> tuple[Any, ...]:
    return (work.args, work.kwargs, work.info, work.slots)


def _dump_item(work: WorkItem, serializer: Serializer) -> bytes:
    try:
        return serializer.dumps(_fields(work))
    except SerializationError as error:
        raise _argument_error(work, error, serializer) from error


def _dump_batch(items: list[WorkItem], serializer: Serializer) -> bytes:
    """A batch's items; an element whose arguments do not serialize is sent as one that raises why."""
    try:
        return serializer.dumps([_fields(item) for item in items])
    except SerializationError:
        entries: list[Any] = []
        for item in items:
            try:
                serializer.dumps(_fields(item))
                entries.append(_fields(item))
            except SerializationError as error:
                message = str(_argument_error(item, error, serializer))
                entries.append(BrokenItem(item.info, item.task_name, message))
        return serializer.dumps(entries)


def _upstream_payloads(upstream: Sequence[RunnerFuture], serializer: Serializer) -> tuple[list[bytes], list[int]]:
    """Each distinct upstream value once, and for each position of ``upstream`` which one it is."""
    seen: dict[int, int] = {}
    payloads: list[bytes] = []
    positions: list[int] = []
    for future in upstream:
        index = seen.get(id(future))
        if index is None:
            index = seen[id(future)] = len(payloads)
            # this runner's own results are bytes already
            payloads.append(future.payload() if isinstance(future, ProcessFuture) else serializer.dumps(future.result()))
        positions.append(index)
    return payloads, positions


def _argument_error(work: WorkItem, error: SerializationError, serializer: Serializer) -> SerializationError:
    """Name the argument of ``work`` that does not serialize."""
    culprit = _culprit(work, serializer)
    what = f"argument {culprit!r}" if culprit else "its arguments"
    return SerializationError(f"task run {work.info.name!r}: {what} cannot be sent to a worker process: {error}")


def _culprit(work: WorkItem, serializer: Serializer) -> str | None:
    values = [s.value if isinstance(s, Inline) else None for s in work.slots or ()]
    args, kwargs = fill_slots(work.args, values), fill_slots(work.kwargs, values)
    try:
        arguments = work.task.bind(args, kwargs)
    except TypeError:
        arguments = {**{str(i): a for i, a in enumerate(args)}, **kwargs}
    for name, value in arguments.items():
        try:
            serializer.dumps(value)
        except SerializationError:
            return name
    return None


def _context(method: str) -> Any:
    """The multiprocessing context; a forkserver preloads the worker module, not the main one (see above)."""
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        from multiprocessing import forkserver

        preload = list(getattr(forkserver._forkserver, "_preload_modules", ["__main__"]))
        wanted = [name for name in preload if name != "__main__"]
        if _WORKER_MODULE not in wanted:
            wanted.append(_WORKER_MODULE)
        if wanted != preload:
            context.set_forkserver_preload(wanted)
    return context


__all__ = ["ProcessFuture", "ProcessPoolTaskRunner"]
