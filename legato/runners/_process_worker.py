"""The worker side of :mod:`legato.runners.processes`, and what both sides share.

A worker process runs :func:`main`: it reads one job at a time from its
connection, runs it, and writes back the outcome, plus any log records the
job emitted (before its outcome, on the same connection, so they arrive in
order). It never starts anything itself and holds no state but a small cache
of the tasks it has been sent (:class:`TaskCache`), so it can be killed at
any moment and replaced.

Messages are small tuples pickled with the standard library (they only hold
ints, strings, log records and the bytes the runner's serializer produced)::

    flow process ─▶ worker:  (job_id, name, task_key, task_bytes | None, item_bytes, spans,
                              upstream_payloads, upstream_positions)
                             None: stop
    worker ─▶ flow process:  (READY, 0, None): first, once it is set up
                             (DONE, job_id, result_bytes)
                             (BATCH_DONE, job_id, (result_bytes, (seconds, [(ok, packed error | None)])))
                             (FAILED, job_id, (error_bytes | None, type name, message, traceback text))
                             (LOG, 0, logging.LogRecord)

``item_bytes`` holds ``(args, kwargs, info, slots)`` of one work item, a list
of them for a batch of map elements (``spans`` is then the batch's), or the
whole work item when it is not a :class:`~legato.core.work.WorkItem`
(``task_key`` is then None). Each distinct upstream value is sent once;
``upstream_positions`` says which one goes where in the call. ``READY`` tells
the pool that the worker got past its start-up (importing the flow process's
main module, see :mod:`legato.core.mainguard`): a worker that dies before
that did not fail a task, it could not start.

This module is preloaded into the forkserver, so it imports only what every
worker needs anyway.
"""

from __future__ import annotations

import logging
import logging.handlers
import pickle
import signal
import threading
import traceback
from collections import OrderedDict
from typing import Any

from legato.core.tracebacks import trim as trim_traceback
from legato.core.errors import RunnerError, SerializationError
from legato.core.batching import BatchWork
from legato.core.work import StateReturned, WorkItem
from legato.serializers import Serializer

DONE, FAILED, LOG, BATCH_DONE, READY = 1, 2, 3, 4, 5
PROTOCOL = 5

#: how many distinct tasks a worker keeps deserialized (both sides apply the same rule)
TASK_CACHE_SIZE = 256


class TaskCache:
    """A least-recently-used map from task key to task, of bounded size.

    The flow process keeps one per worker holding only the keys, and applies
    exactly the operations the worker applies to its own, in the same order
    (a worker handles its jobs in the order they were sent). So the flow
    process knows, without asking, whether a worker still holds a task or
    must be sent it again.
    """

    def __init__(self, size: int = TASK_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[int, Any] = OrderedDict()

    def get(self, key: int) -> Any:
        """The entry for ``key`` (marking it recently used); KeyError if absent."""
        self._entries.move_to_end(key)
        return self._entries[key]

    def __contains__(self, key: int) -> bool:
        return key in self._entries

    def put(self, key: int, value: Any) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process, as text.

    Set as the ``__cause__`` of the exception the flow process re-raises, so
    the remote frames show up in every printed traceback (as in
    :mod:`concurrent.futures`).
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


# ---------------------------------------------------------------------- worker


class _Sender:
    """Writes messages to the flow process; log records may come from any thread."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def __call__(self, kind: int, job_id: int, body: Any) -> None:
        data = pickle.dumps((kind, job_id, body), PROTOCOL)
        with self.lock:
            self.conn.send_bytes(data)


class _LogQueue:
    """The "queue" of the worker's :class:`~logging.handlers.QueueHandler`: the connection."""

    def __init__(self, send: _Sender) -> None:
        self.send = send

    def put_nowait(self, record: logging.LogRecord) -> None:
        try:
            self.send(LOG, 0, record)
        except (pickle.PicklingError, TypeError, AttributeError):  # an extra field that does not pickle
            record.__dict__.update({k: repr(v) for k, v in record.__dict__.items() if not _plain(v)})
            self.send(LOG, 0, record)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, tuple))


def forward_logs(send: _Sender, levels: dict[str, int]) -> None:
    """Send every log record of this process to the flow process, at the flow process's levels."""
    handler = logging.handlers.QueueHandler(_LogQueue(send))  # type: ignore[arg-type]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    for name, level in levels.items():
        logger = logging.getLogger(name or None)
        logger.setLevel(level)
        if name:
            logger.handlers[:] = []
            logger.propagate = True


def main(conn: Any, serializer: Serializer, levels: dict[str, int]) -> None:
    """A worker process: run jobs from ``conn`` until told to stop or the flow process goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the flow process's to handle
    send = _Sender(conn)
    forward_logs(send, levels)
    try:
        send(READY, 0, None)
    except OSError:  # the flow process is gone
        return
    tasks = TaskCache()
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        message = pickle.loads(data)
        if message is None:
            return
        try:
            run_job(message, tasks, serializer, send)
        except OSError:  # the flow process is gone (run_job itself lets nothing else out)
            return
        del message, data


def run_job(message: tuple[Any, ...], tasks: TaskCache, serializer: Serializer, send: _Sender) -> None:
    """Run one job and send back its outcome; nothing it does escapes as an exception."""
    job_id, name = message[0], message[1]
    try:
        work, values = _load(message, tasks, serializer)
    except Exception as error:
        failure: Exception = (
            SerializationError(f"task run {name!r} cannot be loaded in the worker process: {error}")
            if isinstance(error, SerializationError)
            else RunnerError(f"task run {name!r} could not be set up in the worker process: {error!r}")
        )
        send(FAILED, job_id, pack_error(failure, serializer))
        return
    items = work.items if isinstance(work, BatchWork) else [work]
    if getattr(getattr(items[0], "info", None), "log_prints", False):
        from legato.core.logs import install_print_redirect

        install_print_redirect()
    engines = [NestedEngine.give(item) for item in items]
    try:
        result = work(*values)
        _finish(engines, failed=False)
    except BaseException as error:
        _finish(engines, failed=not isinstance(error, StateReturned))  # a returned state is no failure
        send(FAILED, job_id, pack_error(error, serializer))
        return
    del values
    if isinstance(work, BatchWork):
        send(BATCH_DONE, job_id, _batch_outcome(result, [_name(item) for item in items], serializer))
        return
    try:
        payload = serializer.dumps(result)
    except SerializationError as error:
        send(FAILED, job_id, pack_error(_unsendable_result(name, error), serializer))
        return
    send(DONE, job_id, payload)


def _batch_outcome(result: tuple[float, list[tuple[bool, Any]]], names: list[str], serializer: Serializer
                   ) -> tuple[bytes, tuple[float, list[tuple[bool, Any]]]]:
    """A batch's values as one payload, and beside it a summary: durations and (packed) errors."""
    seconds, outcomes = result
    values: list[tuple[bool, Any]] = [(True, v) if ok else (False, None) for ok, v in outcomes]
    summary: list[tuple[bool, Any]] = [(True, None) if ok else (False, pack_error(v, serializer)) for ok, v in outcomes]
    try:
        payload = serializer.dumps((seconds, values))
    except SerializationError:  # find the elements whose values do not serialize, fail only those
        for index, (ok, value) in enumerate(values):
            if not ok:
                continue
            try:
                serializer.dumps(value)
            except SerializationError as error:
                summary[index] = (False, pack_error(_unsendable_result(names[index], error), serializer))
                values[index] = (False, None)
        payload = serializer.dumps((seconds, values))
    return payload, (seconds, summary)


def _unsendable_result(name: str, error: SerializationError) -> SerializationError:
    return SerializationError(f"the result of task run {name!r} cannot be sent back to the flow process: {error}")


def _name(item: Any) -> str:
    return str(getattr(getattr(item, "info", None), "name", None) or getattr(item, "key", "?"))


def _load(message: tuple[Any, ...], tasks: TaskCache, serializer: Serializer) -> tuple[Any, list[Any]]:
    _, _, key, task_bytes, item_bytes, spans, payloads, positions = message
    if key is None:
        work = serializer.loads(item_bytes)
    else:
        task = _task(key, task_bytes, tasks, serializer)
        fields = serializer.loads(item_bytes)
        if spans is None:
            work = WorkItem(task, *fields, None)  # type: ignore[misc]
        else:
            work = BatchWork([_item(task, entry) for entry in fields], spans)  # type: ignore[union-attr]
    loaded = [serializer.loads(payload) for payload in payloads]
    return work, [loaded[position] for position in positions]


def _item(task: Any, entry: Any) -> Any:
    return WorkItem(task, *entry, None) if type(entry) is tuple else entry


class NestedEngine:
    """The engine for the tasks a task submits in a worker, started on first use.

    As in Prefect, a task's own ``submit``/``map`` calls run on a thread
    pool in the task's process: the first one builds a
    :class:`~legato.core.engine.FlowEngine` over a
    :class:`~legato.runners.threads.ThreadPoolTaskRunner`, belonging to the
    same flow run id. The task does not return before the runs it submitted
    are final (they are cancelled if it raises). A task that submits nothing
    costs one small object.
    """

    def __init__(self, info: Any) -> None:
        self._info = info
        self._engine: Any = None
        self._runner: Any = None

    @classmethod
    def give(cls, item: Any) -> NestedEngine | None:
        """Give ``item`` (a work item without an engine) a nested engine."""
        if not isinstance(item, WorkItem) or item.engine is not None:
            return None
        engine = item.engine = cls(item.info)  # type: ignore[assignment]
        return engine

    def __getattr__(self, name: str) -> Any:  # what the engine has and this stand-in does not
        return getattr(self._start(), name)

    def _start(self) -> Any:
        if self._engine is None:
            from legato.core.nested import worker_engine
            from legato.runners.threads import ThreadPoolTaskRunner

            self._runner = ThreadPoolTaskRunner()
            self._runner.start()
            self._engine = worker_engine(self._info, self._runner)
        return self._engine

    def finish(self, failed: bool) -> None:
        """Wait for the runs the task submitted (cancel them if it failed), then stop the threads."""
        if self._engine is None:
            return
        try:
            if failed:
                self._engine.cancel_pending("the task that submitted this task failed")
            self._engine.wait_all()
        finally:
            self._runner.shutdown(wait=True)


def _finish(engines: list[NestedEngine | None], failed: bool) -> None:
    for engine in engines:
        if engine is None:
            continue
        if not failed:
            engine.finish(failed)
            continue
        try:
            engine.finish(failed)
        except BaseException:  # already failing: the task's own error is the one to report
            pass


class BrokenItem:
    """Stands in a batch for an element whose arguments did not serialize: running it raises why."""

    options: dict[str, Any] = {}

    def __init__(self, info: Any, task_name: str, message: str) -> None:
        self.info = info
        self.task_name = task_name
        self.message = message

    def __call__(self, *upstream_values: Any) -> Any:
        raise SerializationError(self.message)


def _task(key: int, task_bytes: bytes | None, tasks: TaskCache, serializer: Serializer) -> Any:
    if task_bytes is None:
        task = tasks.get(key)
    else:
        try:
            task = serializer.loads(task_bytes)
        except SerializationError as error:
            task = error  # cached too, so this cache stays in step with the flow process's copy
        tasks.put(key, task)
    if isinstance(task, SerializationError):
        raise task
    return task


def pack_error(error: BaseException, serializer: Serializer) -> tuple[bytes | None, str, str, str]:
    """An exception as it travels: serialized if it can be, and always as text."""
    trim_traceback(error)
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    error.__traceback__ = None  # frames hold locals that need not, and may not, be pickled
    try:
        blob: bytes | None = serializer.dumps(error)
    except SerializationError:
        blob = None
    return blob, f"{type(error).__module__}.{type(error).__qualname__}", str(error), text


def unpack_error(packed: tuple[bytes | None, str, str, str], serializer: Serializer, run_name: str) -> BaseException:
    """The exception a job raised, with its remote traceback as ``__cause__``."""
    blob, type_name, message, text = packed
    error: BaseException | None = None
    if blob is not None:
        try:
            loaded = serializer.loads(blob)
            error = loaded if isinstance(loaded, BaseException) else None
        except SerializationError:
            error = None
    if error is None:
        what = "serialized" if blob is None else "deserialized in the flow process"
        error = SerializationError(f"task run {run_name!r} raised {type_name}: {message} (the exception itself could not be {what})")
    error.__cause__ = RemoteTraceback(text)
    return error


__all__ = ["BATCH_DONE", "DONE", "FAILED", "LOG", "READY", "BrokenItem", "NestedEngine", "RemoteTraceback", "TaskCache", "main", "pack_error", "run_job", "unpack_error"]
