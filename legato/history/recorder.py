"""The recorder: what the engine calls to write run history, off its hot path.

::

    engine threads                          writer thread (daemon, one per recorder)
    ──────────────                          ─────────────────────────────────────────
    sink.runs.extend(runs) ──► per-flow ──► every ~150 ms: take everything from
                                deque       the sinks and the queue, build task
    task_run_finished ─┐                    rows in bulk, pack them per flow run
    log               ─┼─► deque.append ──► into chunks (legato.history.chunks),
    flow_run_started ──┤   (no lock,        write all in one
    flow_run_finished ─┘    no I/O)         BEGIN IMMEDIATE … COMMIT
          │
          └─ these two also flush synchronously, in the caller's thread

The engine's cost is one ``deque.extend`` per batch of settled runs into
its flow run's :class:`TaskRunSink`; turning runs into rows happens on
the writer thread, for thousands at once, with the engine's own builder.
Packing and SQL happen in the writer too. The two per-flow calls write
before they return: ``flow_run_started`` so that a process killed right after
starting still leaves a row (read back later as CRASHED), and
``flow_run_finished`` so that the run is complete on disk when the flow
returns (for a big flow, moments after: see ``flow_run_finished``). Writing is serialized by one lock, whichever thread does it.

Recording never raises into the engine: a database that cannot be written is
reported once as a warning on the ``legato.history`` logger and the rows are
dropped. A damaged one (SQLite's "not a database", "malformed") is moved
aside and the rows go to a new one (:mod:`legato.history.healing`). A forked child gets a fresh, empty recorder state (the parent writes
its own queued rows) and opens its own connection when it first writes.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import logging
import numbers
import os
import sqlite3
import threading
import weakref
from collections import deque
from pathlib import Path
from collections.abc import Callable
from typing import Any

from legato import config
from legato.config import CLI_PARAMETERS_ENV, ENTRYPOINT_ENV
from legato.history import schema
from legato.history.chunks import Chunk
from legato.history.healing import heal, is_corruption
from legato.history.summary import parameters_json, safe_repr, tags_json, this_host

FLUSH_INTERVAL = 0.15
BATCH_ROWS = 5000

logger = logging.getLogger("legato.history")

# Operation kinds in the queue. In one write, flow starts go first, then task
# runs (in chunks), logs, and flow ends last (see _write).
_FLOW_START, _TASK, _SINK_RUNS, _LOG, _FLOW_END = "flow_start", "task", "sink_runs", "log", "flow_end"
#: a flow's end writes before it returns when at most this many task runs wait;
#: a bigger backlog is left to the writer thread (see ``flow_run_finished``)
SYNC_FLUSH_LIMIT = 500

_INSERT_FLOW = """INSERT OR REPLACE INTO flow_runs
    (id, name, flow_name, parameters, run_key, runner, tags, state_type, state_name,
     pid, hostname, started_at, entrypoint, cli_parameters)
    VALUES (?, ?, ?, ?, ?, ?, ?, 'RUNNING', 'Running', ?, ?, ?, ?, ?)"""
_INSERT_CHUNK = "INSERT INTO task_run_chunks (flow_run_id, task_count, failed_count, data) VALUES (?, ?, ?, ?)"
_INSERT_LOG = """INSERT INTO logs (flow_run_id, task_run_id, ts, level, logger, message)
    VALUES (?, ?, ?, ?, ?, ?)"""
_FINISH_FLOW = "UPDATE flow_runs SET state_type = ?, state_name = ?, ended_at = ?, error = ? WHERE id = ?"


class HistoryRecorder:
    """Records flow runs, task runs, task dependencies and logs to SQLite.

    ``path`` defaults to :func:`legato.config.database_path` (read now).
    Call :meth:`close` when done (or use the recorder as a context manager);
    recorders still open at interpreter exit are closed then.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.path = Path(path) if path is not None else config.database_path()
        self._flush_interval = flush_interval
        self._batch_rows = batch_rows
        self._closed = False
        self._stopping = False
        self._warned = False
        self._reset_runtime_state()
        _live_recorders.add(self)

    # -- called by the engine -------------------------------------------------

    def flow_run_started(
        self,
        *,
        id: str,
        name: str,
        flow_name: str,
        parameters: dict[str, Any],
        run_key: str | None,
        runner: str,
        tags: list[str],
        started_at: float,
        entrypoint: str | None = None,
        cli_parameters: dict[str, Any] | None = None,
    ) -> None:
        """Record a flow run as RUNNING in this process; written before returning."""
        if entrypoint is None:
            entrypoint, cli_parameters = _claim_cli_entrypoint(cli_parameters)
        row = (
            id, name, flow_name, parameters_json(parameters), run_key, runner, tags_json(tags),
            os.getpid(), this_host(), started_at, entrypoint,
            None if cli_parameters is None else json.dumps(cli_parameters, default=str),
        )  # fmt: skip
        self._put((_FLOW_START, row))
        self.flush()

    def task_run_finished(
        self,
        *,
        id: str,
        flow_run_id: str,
        name: str,
        task_name: str,
        map_index: int | None,
        state_type: str,
        state_name: str,
        attempts: int,
        started_at: float | None,
        ended_at: float,
        error: str | None,
        upstream_ids: list[str],
        tags: list[str],
    ) -> None:
        """Queue a finished task run and its upstream edges (no I/O here)."""
        row = (id, name, task_name, map_index, str(state_type), state_name, attempts, started_at, ended_at)
        self._put((_TASK, flow_run_id, row, error, tuple(tags), tuple(upstream_ids)))

    def task_run_sink(self, flow_run_id: str, build_rows: BuildRows) -> TaskRunSink:
        """A sink for the settled task runs of one flow run, emptied by the writer.

        The engine appends run objects to ``sink.runs`` and ``(run_id,
        upstream_ids)`` to ``sink.edges``: the cheapest thing it can do per
        task. The writer calls ``build_rows(runs)`` for everything it takes
        at once; see :data:`BuildRows`. :meth:`flow_run_finished` for the
        same id writes what is left.
        """
        sink = TaskRunSink(flow_run_id, build_rows)
        if not self._closed:
            with self._start_lock:
                self._sinks[flow_run_id] = sink
            if self._writer is None:
                self._start_writer()
        return sink

    def log(
        self,
        *,
        flow_run_id: str,
        task_run_id: str | None,
        ts: float,
        level: str,
        logger: str,
        message: str,
    ) -> None:
        """Queue one log line of a run (no I/O here)."""
        self._put((_LOG, (flow_run_id, task_run_id, ts, level, logger, message)))

    def flow_run_finished(
        self, *, id: str, state_type: str, state_name: str, ended_at: float, error: str | None
    ) -> None:
        """Record the final state of a flow run, after every row queued before it.

        A small backlog (at most :data:`SYNC_FLUSH_LIMIT` task runs) is
        written before this returns. A bigger one, the last moments of a big
        map, is left to the writer thread, which starts on it at once: the
        flow returns without waiting ~10 ms per 5,000 rows, the history is
        on disk moments later, the process waits for it at exit, and
        :mod:`legato.history.query` flushes this process's recorders before
        it reads, so the same process never reads a stale run. Rows keep
        their order, so a run never reads as finished before its tasks are in.
        """
        backlog = len(self._queue)
        sink = self._sinks.get(id)
        if sink is not None:
            sink.closed = True  # the writer forgets it once it is empty
            leftover = sink.take()
            backlog += len(leftover[2])
            self._put(leftover)
        self._put((_FLOW_END, (str(state_type), state_name, ended_at, error, id)))
        if backlog <= SYNC_FLUSH_LIMIT:
            self.flush()
        else:
            self._wake.set()

    def close(self) -> None:
        """Flush, stop the writer thread and close the database; idempotent.

        Calls made after ``close`` are ignored.
        """
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            self._stopping = True
            writer = self._writer
        self._wake.set()
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout=schema.LOCKED_RETRY_SECONDS + 5)
        self.flush()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        _live_recorders.discard(self)

    # -- for everyone -----------------------------------------------------------

    def flush(self) -> None:
        """Write everything queued so far before returning; never raises."""
        try:
            with self._lock:
                batch = self._take_sinks()
                while batch or self._queue:
                    batch.extend(_take(self._queue, self._batch_rows * 4))
                    try:
                        self._write(batch)
                    except (sqlite3.InterfaceError, sqlite3.ProgrammingError):
                        # A value SQLite cannot store (say a numpy integer) must
                        # not cost the whole batch: convert, then write again.
                        self._write([_sanitized(op) for op in batch])
                    batch = []
        except Exception as exc:  # a HistoryError, sqlite3.Error, OSError... must never kill the writer
            self._warn(exc)

    def __enter__(self) -> HistoryRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._queue)} queued"
        return f"<HistoryRecorder {str(self.path)!r} {state}>"

    # -- internals ----------------------------------------------------------------

    def _reset_runtime_state(self) -> None:
        """(Re)create everything that must not be shared with a forked parent."""
        self._queue: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # held while writing; guards _conn
        self._start_lock = threading.Lock()  # guards _writer and _closed
        self._conn: sqlite3.Connection | None = None
        self._writer: threading.Thread | None = None
        self._sinks: dict[str, TaskRunSink] = {}  # guarded by _start_lock

    def _take_sinks(self) -> list[tuple[Any, ...]]:
        """Everything the sinks hold now, as queue operations; closed, empty sinks are dropped."""
        with self._start_lock:
            sinks = list(self._sinks.values())
        ops = []
        for sink in sinks:
            closed = sink.closed  # read first: an append after it is still taken below
            if sink.runs or sink.edges:
                ops.append(sink.take())
            elif closed:
                with self._start_lock:
                    if self._sinks.get(sink.flow_run_id) is sink:
                        del self._sinks[sink.flow_run_id]
        return ops

    def _put(self, op: tuple[Any, ...]) -> None:
        if self._closed:
            return
        self._queue.append(op)
        if self._writer is None:
            self._start_writer()
        elif len(self._queue) >= self._batch_rows:
            self._wake.set()

    def _start_writer(self) -> None:
        with self._start_lock:
            if self._writer is not None or self._closed:
                return
            self._writer = threading.Thread(
                target=self._write_periodically, name="legato-history-writer", daemon=True
            )
            self._writer.start()

    def _write_periodically(self) -> None:
        while not self._stopping:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            self.flush()

    def _write(self, ops: list[tuple[Any, ...]]) -> None:
        starts, logs, ends = [], [], []
        chunks: dict[str, Chunk] = {}
        for op in ops:
            kind = op[0]
            if kind is _SINK_RUNS:
                _add_sink_runs(chunks, *op[1:])
            elif kind is _TASK:
                flow_run_id, row, error, tags, upstream_ids = op[1:]
                _chunk_of(chunks, flow_run_id).add(row, error, tags, upstream_ids)
            elif kind is _LOG:
                logs.append(op[1])
            elif kind is _FLOW_START:
                starts.append(op[1])
            else:
                ends.append(op[1])
        packed = [(flow_run_id, len(c), c.failed_count, c.pack()) for flow_run_id, c in chunks.items()
                  if len(c) or c.edges]  # fmt: skip

        def work(conn: sqlite3.Connection) -> None:
            # Starts before everything else and ends after: a flow's end
            # never overtakes its start even when both are in one batch.
            for statement, rows in ((_INSERT_FLOW, starts), (_INSERT_CHUNK, packed), (_INSERT_LOG, logs),
                                    (_FINISH_FLOW, ends)):  # fmt: skip
                if rows:
                    conn.executemany(statement, rows)

        try:
            if self._conn is None:
                self._conn = schema.connect(self.path)
            schema.write_transaction(self._conn, work)
        except Exception as exc:
            if not is_corruption(exc):
                raise
            self._heal(exc)  # then the same rows, into the new database: none is lost
            self._conn = schema.connect(self.path)
            schema.write_transaction(self._conn, work)

    def _heal(self, exc: BaseException) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        outcome = heal(self.path, str(exc.__cause__ or exc))
        if outcome.moved_to is not None:
            logger.warning("run history: %s", outcome)

    def _warn(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("run history could not be written to %s (rows dropped): %s", self.path, exc)
        else:
            logger.debug("run history write failed again: %s", exc)


#: ``build_rows(runs) -> (columns, errors, tags)``: one column per field of
#: :data:`legato.history.chunks.ROW_FIELDS`, each with a value per run;
#: ``errors`` and ``tags`` hold what only some runs have, keyed by index into ``runs``.
BuildRows = Callable[[list[Any]], tuple[list[Any], dict[int, str], dict[int, list[str]]]]


class TaskRunSink:
    """Where the engine drops the settled task runs of one flow run (see :meth:`HistoryRecorder.task_run_sink`)."""

    __slots__ = ("flow_run_id", "build_rows", "runs", "edges", "closed", "_taking")

    def __init__(self, flow_run_id: str, build_rows: BuildRows) -> None:
        self.flow_run_id = flow_run_id
        self.build_rows = build_rows
        self.runs: deque[Any] = deque()
        self.edges: deque[tuple[str, Any]] = deque()  # (run id, its upstream ids)
        self.closed = False
        self._taking = threading.Lock()  # the writer and the flow's end both take; appenders never wait

    def take(self) -> tuple[Any, ...]:
        """Everything in the sink now, as one queue operation (safe with concurrent appends)."""
        with self._taking:
            return (_SINK_RUNS, self, _take(self.runs, len(self.runs)), _take(self.edges, len(self.edges)))


def _chunk_of(chunks: dict[str, Chunk], flow_run_id: str) -> Chunk:
    chunk = chunks.get(flow_run_id)
    if chunk is None:
        chunk = chunks[flow_run_id] = Chunk()
    return chunk


def _add_sink_runs(chunks: dict[str, Chunk], sink: TaskRunSink, runs: list[Any], edges: list[tuple[str, Any]]) -> None:
    chunk = _chunk_of(chunks, sink.flow_run_id)
    if runs:
        try:
            chunk.extend(*sink.build_rows(runs))
        except Exception as exc:  # rows that cannot be built are dropped, not the batch
            logger.debug("could not build task run rows: %s", exc)
    chunk.edges.extend((str(upstream), run_id) for run_id, upstream_ids in edges for upstream in upstream_ids)


def _take(queue: deque[Any], limit: int) -> list[Any]:
    """Pop up to ``limit`` items from the left of ``queue``.

    Safe with concurrent appends, but not with another popper: callers
    that may race take a lock (see :meth:`TaskRunSink.take`).

    The pops run in C (``starmap`` over ``popleft``): a Python loop cost
    about 0.15 µs per item, a sizeable part of the writer's work for a big map.
    """
    return list(itertools.starmap(queue.popleft, itertools.repeat((), min(limit, len(queue)))))


def _sanitized(op: tuple[Any, ...]) -> tuple[Any, ...]:
    """The operation with every value of its row turned into one SQLite can store."""
    if op[0] is _SINK_RUNS or op[0] is _TASK:
        return op  # packed with msgpack, which converts values itself
    kind, row, *rest = op
    return (kind, tuple(_storable(value) for value in row), *rest)


def _storable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bytes)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return safe_repr(value, limit=10_000)


def _claim_cli_entrypoint(
    cli_parameters: dict[str, Any] | None,
) -> tuple[str | None, dict[str, Any] | None]:
    """Take the entrypoint ``legato run`` left in the environment, if any.

    The variables are removed so that only the first flow run started after
    ``legato run`` set them (the one it called) claims them, not its subflows
    nor the worker processes started later.
    """
    entrypoint = os.environ.pop(ENTRYPOINT_ENV, None) or None
    raw = os.environ.pop(CLI_PARAMETERS_ENV, None)
    if entrypoint is not None and cli_parameters is None and raw:
        try:
            cli_parameters = json.loads(raw)
        except ValueError:
            cli_parameters = None
    return entrypoint, cli_parameters


# -- process lifecycle: flush at exit, start clean after fork ----------------------

_live_recorders: weakref.WeakSet[HistoryRecorder] = weakref.WeakSet()
_abandoned_connections: list[sqlite3.Connection] = []


def flush_recorders(path: Path | str | None = None) -> None:
    """Write what this process's open recorders (of the database at ``path``, or all) still hold."""
    wanted = None if path is None else Path(path).resolve()
    for recorder in list(_live_recorders):
        if wanted is None or recorder.path.resolve() == wanted:
            recorder.flush()


def _close_all_at_exit() -> None:
    for recorder in list(_live_recorders):
        recorder.close()


def _reset_after_fork() -> None:
    for recorder in list(_live_recorders):
        if recorder._conn is not None:
            # Never use or close a SQLite connection inherited across fork:
            # closing it could disturb the parent's locks. Keep it referenced.
            _abandoned_connections.append(recorder._conn)
        recorder._reset_runtime_state()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


__all__ = ["HistoryRecorder", "TaskRunSink", "flush_recorders"]
