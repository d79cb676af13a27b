"""Reading run history: plain functions returning plain records.

Every function takes an optional ``db`` (a path; default
:func:`legato.config.database_path`) and opens the file only for the call,
so readers never hold locks a running flow would wait on. A missing file is
an empty history, not an error. Wherever a run id is expected, any unique
prefix of it is accepted (``legato runs show 3f2a`` works).

A process that records history (runs flows) writes what its recorders
still hold before it reads, so it always reads its own runs complete.
Reading the flow runs first settles crashed runs (see
:mod:`legato.history.crashes`), persisting the fix when the file is writable.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from legato import config
from legato.history import chunks, crashes, schema
from legato.history.errors import AmbiguousRunId, HistoryDatabaseError, RunNotFound
from legato.history.healing import heal, is_corruption

STATE_TYPES = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CRASHED", "CANCELLED")
FINAL_STATE_TYPES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})

PathLike = Path | str


@dataclass(frozen=True)
class FlowRunRecord:
    """One recorded flow run. ``parameters`` maps names to bounded reprs."""

    id: str
    name: str
    flow_name: str
    parameters: dict[str, str]
    run_key: str | None
    runner: str | None
    tags: list[str]
    state_type: str
    state_name: str
    pid: int | None
    hostname: str | None
    started_at: float
    ended_at: float | None
    error: str | None
    entrypoint: str | None = None
    cli_parameters: dict[str, Any] | None = None
    task_count: int = 0
    failed_task_count: int = 0

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True)
class TaskRunRecord:
    """One recorded task run (recorded when it reached its final state)."""

    id: str
    flow_run_id: str
    name: str
    task_name: str
    map_index: int | None
    state_type: str
    state_name: str
    attempts: int
    started_at: float | None
    ended_at: float | None
    error: str | None
    tags: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


@dataclass(frozen=True)
class RunLogLine:
    """One log line recorded for a flow run (``task_run_id`` set inside a task)."""

    flow_run_id: str
    task_run_id: str | None
    ts: float
    level: str
    logger: str
    message: str


def list_runs(
    status: str | None = None,
    flow: str | None = None,
    limit: int | None = 20,
    *,
    db: PathLike | None = None,
) -> list[FlowRunRecord]:
    """The most recent flow runs first, optionally only those in state type
    ``status`` (any case, e.g. ``"failed"``) or of flow ``flow``."""
    where, args = [], []
    if status is not None:
        where.append("f.state_type = ?")
        args.append(_state_type(status))
    if flow is not None:
        where.append("f.flow_name = ?")
        args.append(flow)
    sql = _FLOW_SELECT + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY f.started_at DESC, f.rowid DESC"
    if limit is not None and limit > 0:
        sql += f" LIMIT {int(limit)}"
    with _reading(db) as conn:
        if conn is None:
            return []
        crashed = _settle_crashes(conn)
        return [_patched(_flow_run(row), crashed) for row in conn.execute(sql, args)]


def get_run(run_id: str, *, db: PathLike | None = None) -> FlowRunRecord:
    """The flow run whose id is ``run_id`` or starts with it.

    Raises :class:`RunNotFound` or :class:`AmbiguousRunId`.
    """
    with _reading(db) as conn:
        if conn is None:
            raise RunNotFound(f"no run matches {run_id!r} (no history recorded yet)")
        full_id = _resolve(conn, run_id)
        crashed = _settle_crashes(conn)
        row = conn.execute(_FLOW_SELECT + " WHERE f.id = ?", (full_id,)).fetchone()
        return _patched(_flow_run(row), crashed)


def task_runs(run_id: str, *, db: PathLike | None = None) -> list[TaskRunRecord]:
    """The task runs of a flow run, in the order they started."""
    with _reading(db) as conn:
        full_id = _resolve_or_raise(conn, run_id)
        by_id: dict[str, TaskRunRecord] = {}
        for blob in _chunk_blobs(conn, full_id):
            runs, _ = chunks.unpack(blob)
            for fields in runs:
                by_id[fields["id"]] = TaskRunRecord(flow_run_id=full_id, **fields)  # a later record wins
        order = {task_id: position for position, task_id in enumerate(by_id)}
        return sorted(by_id.values(), key=lambda t: (
            _start_key(t), t.task_name, -1 if t.map_index is None else t.map_index, order[t.id]
        ))  # fmt: skip


def run_logs(run_id: str, *, db: PathLike | None = None) -> list[RunLogLine]:
    """The log lines of a flow run, oldest first."""
    with _reading(db) as conn:
        full_id = _resolve_or_raise(conn, run_id)
        rows = conn.execute(
            "SELECT flow_run_id, task_run_id, ts, level, logger, message FROM logs "
            "WHERE flow_run_id = ? ORDER BY ts, rowid",
            (full_id,),
        )
        return [RunLogLine(*row) for row in rows]


def edges(run_id: str, *, db: PathLike | None = None) -> list[tuple[str, str]]:
    """The ``(upstream_id, downstream_id)`` task dependencies of a flow run, deduplicated."""
    with _reading(db) as conn:
        full_id = _resolve_or_raise(conn, run_id)
        found: dict[tuple[str, str], None] = {}
        for blob in _chunk_blobs(conn, full_id):
            found.update(dict.fromkeys(chunks.unpack(blob)[1]))
        return list(found)


# -- internals ------------------------------------------------------------------

_FLOW_SELECT = """SELECT f.*,
    (SELECT COALESCE(SUM(c.task_count), 0) FROM task_run_chunks c WHERE c.flow_run_id = f.id) AS task_count,
    (SELECT COALESCE(SUM(c.failed_count), 0) FROM task_run_chunks c WHERE c.flow_run_id = f.id)
        AS failed_task_count
    FROM flow_runs f"""


def _chunk_blobs(conn: sqlite3.Connection, flow_run_id: str) -> list[bytes]:
    rows = conn.execute("SELECT data FROM task_run_chunks WHERE flow_run_id = ? ORDER BY rowid", (flow_run_id,))
    return [row[0] for row in rows]


def _start_key(task: TaskRunRecord) -> float:
    """When a task run started, or ended if it never started (for sorting: never None)."""
    for value in (task.started_at, task.ended_at):
        if isinstance(value, (int, float)):
            return value
    return float("inf")


@contextmanager
def _reading(db: PathLike | None) -> Iterator[sqlite3.Connection | None]:
    path = Path(db) if db is not None else config.database_path()
    recorder = sys.modules.get("legato.history.recorder")
    if recorder is not None:  # this process records too: read what it has not written yet as well
        recorder.flush_recorders(path)
    if not path.exists():
        yield None
        return
    try:
        conn = schema.connect(path)
    except HistoryDatabaseError as exc:
        if not is_corruption(exc):
            raise
        outcome = heal(path, str(exc.__cause__ or exc))
        if outcome.moved_to is not None:
            raise outcome from exc
        conn = schema.connect(path)  # another process had replaced it already: read the new one
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    except sqlite3.Error as exc:
        if is_corruption(exc):
            conn.close()
            raise heal(path, str(exc)) from exc
        raise HistoryDatabaseError(f"cannot read history database {path}: {exc}") from exc
    finally:
        conn.close()


def _resolve(conn: sqlite3.Connection, run_id: str) -> str:
    prefix = run_id.strip()
    if not prefix:
        raise RunNotFound("no run id given")
    if conn.execute("SELECT 1 FROM flow_runs WHERE id = ?", (prefix,)).fetchone():
        return prefix
    matches = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM flow_runs WHERE substr(id, 1, ?) = ? ORDER BY started_at DESC LIMIT 6",
            (len(prefix), prefix),
        )
    ]
    if not matches:
        raise RunNotFound(f"no run matches {run_id!r}")
    if len(matches) > 1:
        shown = ", ".join(m[: len(prefix) + 4] for m in matches[:5])
        more = " ..." if len(matches) > 5 else ""
        raise AmbiguousRunId(f"{run_id!r} matches several runs ({shown}{more}); give more characters")
    return matches[0]


def _resolve_or_raise(conn: sqlite3.Connection | None, run_id: str) -> str:
    if conn is None:
        raise RunNotFound(f"no run matches {run_id!r} (no history recorded yet)")
    return _resolve(conn, run_id)


def _settle_crashes(conn: sqlite3.Connection) -> dict[str, str]:
    crashed = crashes.find_crashed(conn)
    crashes.mark_crashed(conn, crashed)
    return crashed


def _patched(record: FlowRunRecord, crashed: dict[str, str]) -> FlowRunRecord:
    """Apply a crash fix in memory too, for files we could not write."""
    if record.id not in crashed or record.state_type != "RUNNING":
        return record
    return dataclasses.replace(
        record, state_type="CRASHED", state_name="Crashed", error=record.error or crashed[record.id]
    )


def _state_type(status: str) -> str:
    upper = status.strip().upper()
    if upper not in STATE_TYPES:
        choices = ", ".join(s.lower() for s in STATE_TYPES)
        raise ValueError(f"unknown status {status!r}; choose from {choices}")
    return upper


def _flow_run(row: sqlite3.Row) -> FlowRunRecord:
    return FlowRunRecord(
        id=row["id"],
        name=row["name"],
        flow_name=row["flow_name"],
        parameters=_json(row["parameters"], {}),
        run_key=row["run_key"],
        runner=row["runner"],
        tags=_json(row["tags"], []),
        state_type=row["state_type"],
        state_name=row["state_name"],
        pid=row["pid"],
        hostname=row["hostname"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        error=row["error"],
        entrypoint=row["entrypoint"],
        cli_parameters=_json(row["cli_parameters"], None),
        task_count=row["task_count"],
        failed_task_count=row["failed_task_count"],
    )


def _json(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


__all__ = [
    "FINAL_STATE_TYPES",
    "STATE_TYPES",
    "FlowRunRecord",
    "RunLogLine",
    "TaskRunRecord",
    "edges",
    "get_run",
    "list_runs",
    "run_logs",
    "task_runs",
]
