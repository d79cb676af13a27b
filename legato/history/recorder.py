"""The recorder: what the engine calls to write run history, off its hot path.

::

    engine threads                         writer thread (daemon, one per recorder)
    ──────────────                         ─────────────────────────────────────────
    task_run_finished ─┐                   every ~150 ms, or sooner when the
    log               ─┼─► deque.append ──► queue holds a few thousand rows:
    flow_run_started ──┤   (no lock,        pop everything, write it in one
    flow_run_finished ─┘    no I/O)         BEGIN IMMEDIATE … COMMIT (executemany)
          │
          └─ these two also flush synchronously, in the caller's thread

Per-task calls only append a tuple to a ``collections.deque`` (thread-safe,
no lock taken); JSON encoding and SQL happen in the writer. The two per-flow
calls write before they return: ``flow_run_started`` so that a process killed
right after starting still leaves a row (read back later as CRASHED), and
``flow_run_finished`` so that the run is complete on disk when the flow
returns. Writing is serialized by one lock, whichever thread does it.

Recording never raises into the engine: a database that cannot be written is
reported once as a warning on the ``legato.history`` logger and the rows are
dropped. A forked child gets a fresh, empty recorder state (the parent writes
its own queued rows) and opens its own connection when it first writes.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import numbers
import os
import socket
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
from legato.history.errors import HistoryError
from legato.history.summary import parameters_json, safe_repr, tags_json

FLUSH_INTERVAL = 0.15
BATCH_ROWS = 5000

logger = logging.getLogger("legato.history")

# Operation kinds in the queue; the writer applies them in this order.
_FLOW_START, _TASK, _LOG, _FLOW_END = "flow_start", "task", "log", "flow_end"
_TASK_DEFERRED = "task_deferred"
_LOG_DROPPED = "dropped"
#: a flow's end flushes synchronously only when at most this many rows are queued
SYNC_FLUSH_LIMIT = 200

_INSERT_FLOW = """INSERT OR REPLACE INTO flow_runs
    (id, name, flow_name, parameters, run_key, runner, tags, state_type, state_name,
     pid, hostname, started_at, entrypoint, cli_parameters)
    VALUES (?, ?, ?, ?, ?, ?, ?, 'RUNNING', 'Running', ?, ?, ?, ?, ?)"""
_INSERT_TASK = """INSERT OR REPLACE INTO task_runs
    (id, flow_run_id, name, task_name, map_index, state_type, state_name, attempts,
     started_at, ended_at, error, tags)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
# The same inserts for a whole batch in one statement: SQLite walks a JSON array
# of rows itself, so the GIL is released once per batch instead of once per
# row (per-row steps convoy with the flow's worker threads for the GIL).
_INSERT_TASKS_JSON = """INSERT OR REPLACE INTO task_runs
    (id, flow_run_id, name, task_name, map_index, state_type, state_name, attempts,
     started_at, ended_at, error, tags)
    SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7,
           value->>8, value->>9, value->>10, value->>11
    FROM json_each(?)"""
_INSERT_EDGES_JSON = """INSERT INTO task_edges (flow_run_id, upstream_id, downstream_id)
    SELECT value->>0, value->>1, value->>2 FROM json_each(?)"""
_INSERT_EDGE = "INSERT INTO task_edges (flow_run_id, upstream_id, downstream_id) VALUES (?, ?, ?)"
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
            os.getpid(), socket.gethostname(), started_at, entrypoint,
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
        row = (
            id, flow_run_id, name, task_name, map_index, str(state_type), state_name,
            attempts, started_at, ended_at, error,
        )  # fmt: skip
        self._put((_TASK, row, tuple(tags), tuple(upstream_ids)))

    def task_run_finished_deferred(self, build_rows: Callable[[list[Any]], list[tuple[Any, ...]]], item: Any) -> None:
        """Queue a finished task run whose row is built later, on the writer thread.

        ``build_rows(items)`` is called once per write with every item queued
        for it, and returns ``(row, tags, upstream_ids)`` per item, ``row`` in
        the column order of :meth:`task_run_finished`. The engine uses this so
        its per-task cost is one small append, and rows are built in bulk.
        """
        self._put((_TASK_DEFERRED, build_rows, item))

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

        A small backlog is written before this returns. A large one (a flow
        of many thousands of tasks) is left to the writer thread, so the flow
        returns at full speed; the process waits for it at exit. Rows keep
        their order, so a run never reads as finished before its tasks are in.
        """
        self._put((_FLOW_END, (str(state_type), state_name, ended_at, error, id)))
        if len(self._queue) <= SYNC_FLUSH_LIMIT:
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
                while self._queue:
                    batch = _take(self._queue, self._batch_rows * 4)
                    try:
                        self._write(batch)
                    except (sqlite3.InterfaceError, sqlite3.ProgrammingError):
                        # A value SQLite cannot store (say a numpy integer) must
                        # not cost the whole batch: convert, then write again.
                        self._write([_sanitized(op) for op in batch])
        except (HistoryError, sqlite3.Error, OSError) as exc:
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
        starts, tasks, edges, logs, ends = [], [], [], [], []
        ops = _built(ops)
        for op in ops:
            kind = op[0]
            if kind is _TASK:
                row, tags, upstream_ids = op[1], op[2], op[3]
                tasks.append((*row, _tags_column(tags)))
                if upstream_ids:
                    edges.extend((row[1], upstream, row[0]) for upstream in upstream_ids)
            elif kind is _LOG:
                logs.append(op[1])
            elif kind is _FLOW_START:
                starts.append(op[1])
            else:
                ends.append(op[1])

        def work(conn: sqlite3.Connection) -> None:
            # Starts before everything else and ends after: a flow's end
            # never overtakes its start even when both are in one batch.
            if starts:
                conn.executemany(_INSERT_FLOW, starts)
            _insert_many(conn, _INSERT_TASKS_JSON, _INSERT_TASK, tasks)
            _insert_many(conn, _INSERT_EDGES_JSON, _INSERT_EDGE, edges)
            for statement, rows in ((_INSERT_LOG, logs), (_FINISH_FLOW, ends)):
                if rows:
                    conn.executemany(statement, rows)

        if self._conn is None:
            self._conn = schema.connect(self.path)
        schema.write_transaction(self._conn, work)

    def _warn(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("run history could not be written to %s (rows dropped): %s", self.path, exc)
        else:
            logger.debug("run history write failed again: %s", exc)


def _insert_many(conn: sqlite3.Connection, json_statement: str, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows in one statement over a JSON array; row by row if they are not plain JSON values."""
    if not rows:
        return
    try:
        payload = json.dumps(rows, allow_nan=False)
    except (TypeError, ValueError):
        conn.executemany(statement, rows)
        return
    conn.execute(json_statement, (payload,))


@functools.lru_cache(maxsize=512)
def _tags_column(tags: tuple[str, ...]) -> str:
    """Tags as JSON, cached: the same few tag sets repeat across thousands of runs."""
    return tags_json(tags)


def _built(ops: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``ops`` with every deferred task row built, in bulk per builder, in place."""
    deferred: dict[Any, list[int]] = {}
    for index, op in enumerate(ops):
        if op[0] is _TASK_DEFERRED:
            deferred.setdefault(op[1], []).append(index)
    if not deferred:
        return ops
    ops = list(ops)
    for build_rows, indexes in deferred.items():
        try:
            rows = build_rows([ops[i][2] for i in indexes])
        except Exception as exc:  # rows that cannot be built are dropped, not the batch
            logger.debug("could not build task run rows: %s", exc)
            rows = [None] * len(indexes)
        for i, built in zip(indexes, rows):
            ops[i] = (_TASK, *built) if built is not None else (_LOG_DROPPED,)
    return [op for op in ops if op[0] is not _LOG_DROPPED]


def _take(queue: deque[tuple[Any, ...]], limit: int) -> list[tuple[Any, ...]]:
    """Pop up to ``limit`` items from the left of ``queue`` (safe with concurrent appends)."""
    items = []
    popleft = queue.popleft
    try:
        for _ in range(limit):
            items.append(popleft())
    except IndexError:
        pass
    return items


def _sanitized(op: tuple[Any, ...]) -> tuple[Any, ...]:
    """The operation with every value turned into one SQLite can store."""
    kind, row, *rest = op
    clean = tuple(_storable(value) for value in row)
    if kind is _TASK:
        tags, upstream_ids = rest
        return (kind, clean, tags, tuple(str(upstream) for upstream in upstream_ids))
    return (kind, clean, *rest)


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


__all__ = ["HistoryRecorder"]
