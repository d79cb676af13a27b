"""The pool behind :class:`~legato.runners.processes.ProcessPoolTaskRunner`.

Worker processes, and the one dispatcher thread that owns them: it alone
starts, feeds, reads and kills workers, and knows which jobs each one holds,
in order. Other threads only :meth:`Pool.put` jobs and send commands
(:meth:`Pool.abort`, :meth:`Pool.stop`), through a queue and a wake-up pipe.
The module docstring of :mod:`legato.runners.processes` has the picture.

Per worker the dispatcher keeps a deque of the jobs sent to it: a worker
runs its jobs in the order they came, so the first job of the deque is the
one running, the next ones are waiting in its pipe. When a worker dies, the
first one is the job that killed it (a crash retry) and the others have not
started (they are simply sent elsewhere). A worker killed from outside
between two jobs gets the next one blamed; crash retries are bounded, so
that costs at most one of them.

A worker that dies before it said it was ready did not fail a task, it could
not start. When that is because the flow process's script starts its flow at
top level, without ``if __name__ == "__main__":`` (the worker says so with its
exit code, see :mod:`legato.core.mainguard`), every new worker would do the
same: the pool breaks at once, failing every job, and every job put after,
with a :class:`~legato.core.errors.WorkerStartupError` saying what to fix.

Map of this module (top to bottom): :class:`Job` (a work item on its way
through the pool) and :class:`Worker` (a process as the dispatcher sees it);
:func:`frame` and :class:`Frames` (the wire format of messages);
:class:`Pool` (starting workers on demand, the dispatcher thread, crash
handling and retries, shutdown); then the helpers for worker logging
(``_log_levels``, ``_emit``, ``_run_logger``) and for explaining how a worker
died (``_exit_description``, ``_unguarded_main``).
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import queue
import selectors
import signal
import struct
import threading
from collections import deque
from typing import Any

from legato.core.errors import CancelledRun, RunnerError, WorkerCrashedError, WorkerStartupError
from legato.core.mainguard import UNGUARDED_MAIN_EXIT, WORKER_NAME_PREFIX, main_module_name
from legato.runners import _process_worker as remote
from legato.serializers import Serializer

#: jobs sent to one worker before it reports back (one running, one waiting in its pipe)
PREFETCH = 2
#: a job message larger than this is only sent to an idle worker
PIPELINE_BYTES = 16 * 1024

logger = logging.getLogger("legato.runners.processes")


class Job:
    """One work item (or batch of map elements) on its way through the pool."""

    __slots__ = ("id", "name", "future", "key", "task_bytes", "item", "spans", "payloads", "positions",
                 "exclusive", "batch", "crashes", "worker", "started", "aborted")
    _ids = itertools.count(1)

    def __init__(self, name: str, future: Any, key: int | None, task_bytes: bytes | None, item: bytes,
                 spans: list[tuple[int, int]] | None, payloads: list[bytes], positions: list[int]) -> None:
        self.id = next(self._ids)
        self.name = name
        self.future = future
        self.key = key
        self.task_bytes = task_bytes
        self.item = item
        self.spans = spans
        self.payloads = payloads
        self.positions = positions
        #: runs alone on a worker (a large message, or a task with a timeout)
        self.exclusive = False
        #: several map elements: a crash fails it at once, and the engine reruns them one by one
        self.batch = spans is not None and len(spans) > 1
        self.crashes = 0
        self.worker: Worker | None = None
        self.started = False
        self.aborted = False

    def size(self) -> int:
        return len(self.item) + len(self.task_bytes or b"") + sum(len(p) for p in self.payloads)

    def message(self, with_task: bool) -> bytes:
        task_bytes = self.task_bytes if with_task else None
        fields = (self.id, self.name, self.key, task_bytes, self.item, self.spans, self.payloads, self.positions)
        return pickle.dumps(fields, remote.PROTOCOL)

    def release(self) -> None:
        """Drop what was only needed to send it (it may be large); the future lives on."""
        self.item, self.payloads, self.task_bytes = b"", [], None
        self.future.job = None


class Worker:
    """A worker process as the dispatcher sees it."""

    __slots__ = ("process", "pid", "exitcode", "conn", "jobs", "tasks", "inbox", "ready")

    def __init__(self, process: Any, conn: Any) -> None:
        self.process = process
        self.pid: int = process.pid
        self.exitcode: int | None = None  # known once it is retired
        self.conn = conn
        self.jobs: deque[Job] = deque()
        #: the keys of the tasks the worker holds, kept in step with its own cache
        self.tasks = remote.TaskCache()
        self.inbox = Frames()
        #: it has said it is set up (it got past importing the flow process's main module)
        self.ready = False

    def can_take(self, job: Job) -> bool:
        if not self.jobs:
            return True
        return len(self.jobs) < PREFETCH and not job.exclusive and not self.jobs[-1].exclusive

    def take(self, job: Job) -> bytes:
        """Record ``job`` as sent to this worker; return its message (with its task, if the worker lacks it)."""
        key = job.key
        with_task = key is not None and key not in self.tasks
        if key is not None:
            if with_task:
                self.tasks.put(key, None)
            else:
                self.tasks.get(key)
        job.worker = self
        self.jobs.append(job)
        return frame(job.message(with_task))

    def write(self, data: bytes) -> None:
        """Write framed messages; OSError if the worker is gone."""
        view = memoryview(data)
        fd = self.conn.fileno()
        while view:
            view = view[os.write(fd, view):]

    def read(self) -> list[bytes]:
        """The complete messages that have arrived (call when the connection is readable); EOFError at the end."""
        data = os.read(self.conn.fileno(), 1 << 20)
        if not data:
            raise EOFError
        return self.inbox.add(data)


def frame(message: bytes) -> bytes:
    """``message`` framed as :meth:`multiprocessing.connection.Connection.send_bytes` frames it."""
    size = len(message)
    header = struct.pack("!i", size) if size <= 0x7FFFFFFF else struct.pack("!iQ", -1, size)
    return header + message


class Frames:
    """Cuts a byte stream written with ``Connection.send_bytes`` into messages.

    Reading the stream ourselves, a megabyte at a time, takes one system
    call for all the messages a worker has sent since the last look, where
    ``Connection.poll`` and ``recv_bytes`` take three per message.
    """

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = bytearray()

    def add(self, data: bytes) -> list[bytes]:
        buffer = self.buffer
        buffer += data
        messages: list[bytes] = []
        start = 0
        while len(buffer) - start >= 4:
            (size,) = struct.unpack_from("!i", buffer, start)
            begin = start + 4
            if size == -1:
                if len(buffer) - start < 12:
                    break
                (size,) = struct.unpack_from("!Q", buffer, begin)
                begin += 8
            if len(buffer) < begin + size:
                break
            messages.append(bytes(buffer[begin:begin + size]))
            start = begin + size
        del buffer[:start]
        return messages


class Pool:
    """``size`` worker processes, started on demand, and their dispatcher thread."""

    def __init__(self, size: int, context: Any, serializer: Serializer, crash_retries: int) -> None:
        self.size = size
        self.context = context
        self.serializer = serializer
        self.crash_retries = crash_retries
        self.levels = _log_levels()
        self._pending: deque[Job] = deque()  # appended by any thread, taken by the dispatcher
        self._commands: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._workers: list[Worker] = []
        self._closing = False  # no new jobs: finishing the ones there are
        self._closed = False  # the dispatcher is gone (set under _put_lock)
        self._broken: str | None = None  # why workers cannot start: every job fails (set under _put_lock)
        self._put_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._poked = False
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="legato-process-dispatcher", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ any thread

    def put(self, job: Job) -> None:
        with self._put_lock:
            if self._broken is not None:
                raise WorkerStartupError(self._broken)
            if self._closing or self._closed:
                raise RuntimeError("the process pool is shut down")
            self._pending.append(job)
        self._poke()

    def abort(self, future: Any) -> None:
        self._command("abort", future)

    def stop(self, wait: bool, cancel_futures: bool) -> None:
        """Stop once the jobs are done (or cancelled); ``wait`` joins the dispatcher."""
        self._command("stop", wait, cancel_futures)
        if not wait or threading.current_thread() is self._thread:
            return
        try:
            self._thread.join()
        except BaseException:  # interrupted while waiting: stop now rather than leave workers behind
            self._command("stop", False, True)
            self._thread.join(5)
            raise

    def _command(self, *command: Any) -> None:
        self._commands.put(command)
        self._poke()

    def _poke(self) -> None:
        # One byte per wake-up, not per job. The dispatcher drains the pipe,
        # *then* clears the flag, then reads the queues: whatever was put
        # before a poke that found the flag set is read after that. The
        # dispatcher itself (an engine callback submitting a downstream task)
        # needs no poke: it reads the queues before it next waits.
        if not self._poked and threading.get_ident() != self._thread.ident:
            self._poked = True
            try:
                os.write(self._wake_w, b"\0")
            except OSError:  # full (it is awake anyway) or closed (it has stopped)
                pass

    # ------------------------------------------------------------------ the dispatcher thread

    def _run(self) -> None:
        try:
            while self._step():
                pass
        except BaseException as error:
            logger.exception("the process pool's dispatcher failed")
            self._fail_everything(RunnerError(f"the process pool failed: {error!r}"))
        finally:
            self._stop_workers()
            with self._put_lock:
                self._closed = True
            while self._pending:  # only if the dispatcher failed: nothing is left unsettled
                self._cancel(self._pending.popleft())
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _step(self) -> bool:
        """Handle commands, hand out jobs, wait for something to happen; False when done."""
        self._handle_commands()
        self._assign()
        if self._closing and not self._pending and not any(w.jobs for w in self._workers):
            return False
        events = [key.data for key, _ in self._selector.select()]
        for event in events:  # results first: a worker may have answered before it died
            if event is not None and event[0] == "conn" and event[1] in self._workers:
                self._read(event[1])
        for event in events:
            if event is not None and event[0] == "exit" and event[1] in self._workers:
                self._on_death(event[1])
        if None in events:
            os.read(self._wake_r, 4096)
            self._poked = False
        return True

    def _handle_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if command[0] == "abort":
                self._abort(command[1])
            else:
                self._stop(wait=command[1], cancel_futures=command[2])

    # -- handing out jobs

    def _assign(self) -> None:
        """Send pending jobs to workers that can take them; one write per worker."""
        outbox: dict[Worker, list[bytes]] = {}
        while self._pending:
            job = self._pending[0]
            if job.aborted or (not job.started and job.future.cancelled()):
                self._pending.popleft()
                continue
            worker = self._worker_for(job)
            if worker is None:
                break
            self._pending.popleft()
            if not job.started:
                if not job.future.set_running_or_notify_cancel():
                    continue
                job.started = True
                job.future.notify_started()
            outbox.setdefault(worker, []).append(worker.take(job))
        for worker, frames in outbox.items():
            if worker not in self._workers:
                continue
            try:
                worker.write(b"".join(frames))
                dead = False
            except OSError:
                dead = True
            if dead:  # its jobs go back (the first one counts as crashed); out of the except block, see _read
                self._on_death(worker)

    def _worker_for(self, job: Job) -> Worker | None:
        idle = next((w for w in self._workers if not w.jobs), None)
        if idle is not None:
            return idle
        if len(self._workers) < self.size:
            return self._spawn()
        busy = [w for w in self._workers if w.can_take(job)]
        return min(busy, key=lambda w: len(w.jobs)) if busy else None

    def _spawn(self) -> Worker | None:
        ours, theirs = self.context.Pipe(duplex=True)
        process = self.context.Process(
            target=remote.main, args=(theirs, self.serializer, self.levels),
            name=f"{WORKER_NAME_PREFIX}{len(self._workers)}", daemon=True,
        )
        try:
            process.start()
        except Exception as error:
            ours.close()
            if not self._workers:
                raise
            logger.warning("could not start a worker process (%r); carrying on with %d", error, len(self._workers))
            return None
        finally:
            theirs.close()
        worker = Worker(process, ours)
        self._workers.append(worker)
        self._selector.register(ours, selectors.EVENT_READ, ("conn", worker))
        self._selector.register(process.sentinel, selectors.EVENT_READ, ("exit", worker))
        return worker

    # -- what comes back

    def _read(self, worker: Worker) -> None:
        """Handle what ``worker`` sent; the end of its stream means it died."""
        messages: list[bytes] | None
        try:
            messages = worker.read()
        except (EOFError, OSError):
            messages = None
        if messages is None:
            # Out of the except block: the engine's callbacks run on this thread when a
            # future fails, and whatever they raise would show the EOFError as its context.
            self._on_death(worker)
            return
        self._handle(worker, messages)

    def _handle(self, worker: Worker, messages: list[bytes]) -> None:
        for message in messages:
            if worker not in self._workers:  # killed meanwhile (the job it had started was aborted)
                return
            kind, job_id, body = pickle.loads(message)
            if kind == remote.LOG:
                _emit(body)
            elif kind == remote.READY:
                worker.ready = True
            else:
                self._on_outcome(worker, kind, job_id, body)

    def _read_remaining(self, worker: Worker) -> None:
        """Handle what a dead worker sent before it died."""
        while worker in self._workers and worker.conn.poll(0):
            try:
                messages = worker.read()
            except (EOFError, OSError):
                return
            self._handle(worker, messages)

    def _on_outcome(self, worker: Worker, kind: int, job_id: int, body: Any) -> None:
        job = worker.jobs.popleft()
        if job.id != job_id:
            raise RuntimeError(f"worker {worker.pid} answered job {job_id}, expected job {job.id}")
        if not job.aborted:
            if kind == remote.DONE:
                self._settle(job, result=body)
            elif kind == remote.BATCH_DONE:
                payload, job.future.summary = body
                self._settle(job, result=payload)
            else:
                self._settle(job, error=remote.unpack_error(body, self.serializer, job.name))
        if worker.jobs and worker.jobs[0].aborted:  # it has started a job whose time is up
            self._kill(worker)

    def _settle(self, job: Job, result: Any = None, error: BaseException | None = None) -> None:
        future = job.future
        job.release()
        if future.done():
            return
        if error is None:
            future.set_result(result)
        elif job.started or not future.cancel():
            future.set_exception(error)

    # -- deaths, timeouts, stopping

    def _on_death(self, worker: Worker) -> None:
        """A worker died: run its job again (bounded), send the jobs behind it elsewhere."""
        self._read_remaining(worker)
        if worker not in self._workers:  # what it sent made us kill it (an aborted job)
            return
        jobs = self._retire(worker)
        if not worker.ready and worker.exitcode == UNGUARDED_MAIN_EXIT:
            self._break(_unguarded_main(self.context), jobs)
            return
        if not jobs:
            return
        head, rest = jobs[0], jobs[1:]
        if not head.aborted and self._crash_retry(head, worker):
            rest.insert(0, head)
        self._requeue(rest)

    def _crash_retry(self, job: Job, worker: Worker) -> bool:
        """Count one crash of ``job``; True if it may run again, else its future fails."""
        job.crashes += 1
        how = _exit_description(worker.exitcode)
        if job.batch:  # the engine reruns the elements one by one, so only the culprit fails
            # The crash path only: the elements it had finished inside the batch lived in the
            # dead worker's memory, so they run twice. Say so (the engine counts an attempt each).
            count = len(job.spans or ())
            logger.warning(
                "processes runner: worker process %s %s with a batch of %d map elements in flight "
                "(task run %r and the %d after it); all %d run again, one at a time "
                "(any it had finished inside the batch run twice)",
                worker.pid, how, count, job.name, count - 1, count,
            )
            self._settle(job, error=WorkerCrashedError(
                f"the worker process (pid {worker.pid}) running a batch of {len(job.spans or ())} "
                f"elements starting with task run {job.name!r} {how}"
            ))
            return False
        if job.crashes > self.crash_retries:
            self._settle(job, error=WorkerCrashedError(
                f"task run {job.name!r} killed its worker process {job.crashes} times "
                f"(the last one, pid {worker.pid}, {how}); gave up after {self.crash_retries} crash retries"
            ))
            return False
        _run_logger(job).warning(
            "Worker process %s %s while running this task; running it again on a fresh worker (crash retry %d of %d)",
            worker.pid, how, job.crashes, self.crash_retries,
        )
        return True

    def _break(self, message: str, jobs: list[Job]) -> None:
        """No worker can start: fail ``jobs`` and every other job, now and from now on; stop the workers.

        The dispatcher keeps running until the runner is shut down, as usual;
        it just has nothing left to do.
        """
        with self._put_lock:  # after this no job is put: the pending ones are all there
            self._broken = message
        jobs.extend(self._pending)
        self._pending.clear()
        for worker in list(self._workers):  # starting too, and would die the same way
            worker.process.kill()
            jobs.extend(self._retire(worker))
        for job in jobs:
            if not job.aborted:
                self._fail(job, WorkerStartupError(message))

    def _fail(self, job: Job, error: BaseException) -> None:
        """Fail ``job`` with ``error``, even one that has not started (which :meth:`_settle` would cancel)."""
        future = job.future
        if not job.started:
            if not future.set_running_or_notify_cancel():  # cancelled meanwhile
                job.release()
                return
            job.started = True
        self._settle(job, error=error)

    def _abort(self, future: Any) -> None:
        job = future.job
        if job is None or job.aborted:
            return
        job.aborted = True
        worker = job.worker
        self._settle(job, error=CancelledRun(f"task run {job.name!r} was aborted"))
        if worker is not None and worker in self._workers and worker.jobs and worker.jobs[0] is job:
            self._kill(worker)

    def _kill(self, worker: Worker) -> None:
        """Kill a worker whose running job was aborted; the jobs behind it had not started."""
        worker.process.kill()
        self._requeue(self._retire(worker)[1:])

    def _retire(self, worker: Worker) -> list[Job]:
        """Forget a worker (dead, or killed) and return the jobs it held, in order."""
        self._workers.remove(worker)
        self._selector.unregister(worker.conn)
        self._selector.unregister(worker.process.sentinel)
        worker.process.join(1)
        if worker.process.exitcode is None:
            worker.process.kill()
            worker.process.join(1)
        worker.conn.close()
        worker.exitcode = worker.process.exitcode
        try:
            worker.process.close()  # its sentinel's file descriptor, now rather than at garbage collection
        except ValueError:  # still running (could not be reaped within the second): leave it to the GC
            pass
        jobs = list(worker.jobs)
        worker.jobs.clear()
        return jobs

    def _requeue(self, jobs: list[Job]) -> None:
        for job in jobs:
            job.worker = None
        self._pending.extendleft(reversed([j for j in jobs if not j.aborted]))

    def _stop(self, wait: bool, cancel_futures: bool) -> None:
        self._closing = True
        if cancel_futures:
            while self._pending:
                self._cancel(self._pending.popleft())
        if not wait and cancel_futures:  # now: stop the running jobs too
            for worker in list(self._workers):
                worker.process.kill()
                for job in self._retire(worker):
                    self._cancel(job)

    def _cancel(self, job: Job) -> None:
        self._settle(job, error=CancelledRun(f"task run {job.name!r} was cancelled: the task runner shut down"))

    def _stop_workers(self) -> None:
        for worker in self._workers:
            try:
                worker.write(frame(pickle.dumps(None)))
            except OSError:
                pass
        for worker in list(self._workers):
            self._retire(worker)

    def _fail_everything(self, error: BaseException) -> None:
        self._closing = True
        jobs = list(self._pending) + [j for w in self._workers for j in w.jobs]
        self._pending.clear()
        for worker in list(self._workers):
            worker.process.kill()
            self._retire(worker)
        for job in jobs:
            self._settle(job, error=error)


def _log_levels() -> dict[str, int]:
    """The flow process's levels, so workers send only records that would be handled here."""
    names = ["", "legato", "legato.task_runs", "legato.flow_runs"]
    return {name: logging.getLogger(name or None).getEffectiveLevel() for name in names}


def _emit(record: logging.LogRecord) -> None:
    target = logging.getLogger(record.name if record.name != "root" else None)
    if target.isEnabledFor(record.levelno):
        target.handle(record)


def _run_logger(job: Job) -> logging.LoggerAdapter:
    return logging.LoggerAdapter(logging.getLogger("legato.task_runs"), {"task_run_name": job.name})


def _exit_description(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _unguarded_main(context: Any) -> str:
    """Why workers cannot start when the flow process's main module starts a flow on import."""
    method = context.get_start_method()
    return (
        f"the worker processes cannot start: with the {method!r} start method, each one imports the "
        f"flow process's {main_module_name()} again (as '__mp_main__'), and importing it starts a flow "
        f"(or a process pool) at top level. "
        f'Protect the flow call with `if __name__ == "__main__":`, as multiprocessing requires '
        f"(see 'Safe importing of main module' in its documentation)"
    )


__all__ = ["PIPELINE_BYTES", "PREFETCH", "Job", "Pool", "Worker"]
