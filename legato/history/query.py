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
from collections.abc import Iterable, Iterator
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
    ``status`` (any case, e.g. ``"failed"``) or of flow ``flow``.

    ``flow`` matches a run's flow name or the function name its
    ``legato run`` entrypoint names, ignoring case and treating ``_`` and
    ``-`` alike: ``sales_etl`` finds the runs of flow ``sales-etl``.
    """
    where, args = [], []
    if status is not None:
        where.append("f.state_type = ?")
        args.append(_state_type(status))
    if flow is not None:
        where.append(_FLOW_MATCH)
        wanted = flow_name_key(flow)
        args.extend([wanted, -(len(wanted) + 1), ":" + wanted])
    sql = _FLOW_SELECT + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY f.started_at DESC, f.rowid DESC"
    if limit is not None and limit > 0:
        sql += f" LIMIT {int(limit)}"
    with open_for_reading(db) as conn:
        if conn is None:
            return []
        crashed = settle_crashes(conn)
        return [_patched(_flow_run(row), crashed) for row in conn.execute(sql, args)]


def get_run(run_id: str, *, db: PathLike | None = None) -> FlowRunRecord:
    """The flow run whose id is ``run_id`` or starts with it.

    Raises :class:`RunNotFound` or :class:`AmbiguousRunId`.
    """
    with open_for_reading(db) as conn:
        if conn is None:
            raise RunNotFound(f"no run matches {run_id!r} (no history recorded yet)")
        full_id = _resolve(conn, run_id)
        crashed = settle_crashes(conn)
        row = conn.execute(_FLOW_SELECT + " WHERE f.id = ?", (full_id,)).fetchone()
        return _patched(_flow_run(row), crashed)


def task_runs(run_id: str, *, db: PathLike | None = None) -> list[TaskRunRecord]:
    """The task runs of a flow run, in the order they started."""
    with open_for_reading(db) as conn:
        full_id = resolve_run_id(conn, run_id)
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
    with open_for_reading(db) as conn:
        full_id = resolve_run_id(conn, run_id)
        rows = conn.execute(
            "SELECT flow_run_id, task_run_id, ts, level, logger, message FROM logs "
            "WHERE flow_run_id = ? ORDER BY ts, rowid",
            (full_id,),
        )
        return [RunLogLine(*row) for row in rows]


def edges(run_id: str, *, db: PathLike | None = None) -> list[tuple[str, str]]:
    """The ``(upstream_id, downstream_id)`` task dependencies of a flow run, deduplicated."""
    with open_for_reading(db) as conn:
        full_id = resolve_run_id(conn, run_id)
        found: dict[tuple[str, str], None] = {}
        for blob in _chunk_blobs(conn, full_id):
            found.update(dict.fromkeys(chunks.unpack(blob)[1]))
        return list(found)


# -- reading for big runs and pages (the web view) ----------------------------------


@dataclass
class TaskRunColumns:
    """The task runs of one flow run as columns (``columns[name][i]`` for :data:`chunks.ROW_FIELDS`).

    What a page over a 200,000-task run needs: no object per task run.
    ``last_rowid`` is the last chunk read, so a reader of a running flow can
    ask for what came after it (:func:`task_run_columns` with ``after``) and
    :meth:`extend` its copy. A task run recorded twice keeps its later record.
    """

    flow_run_id: str
    columns: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in chunks.ROW_FIELDS})
    errors: dict[int, str] = field(default_factory=dict)
    tags: dict[int, list[str]] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    last_rowid: int = 0
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.columns["id"])

    def position(self, task_run_id: str) -> int | None:
        """Where a task run is in the columns, or None."""
        return self._index.get(task_run_id)

    def record(self, i: int) -> TaskRunRecord:
        """Task run ``i`` as a record."""
        fields = {name: self.columns[name][i] for name in chunks.ROW_FIELDS}
        return TaskRunRecord(
            flow_run_id=self.flow_run_id, error=self.errors.get(i), tags=list(self.tags.get(i, ())), **fields
        )

    def extend(self, other: TaskRunColumns) -> None:
        """Add the runs of ``other`` (read after this one); a run seen again is replaced."""
        offset = len(self)
        if len(self._index) != offset:
            self._index = dict(zip(self.columns["id"], range(offset)))
        for name, column in self.columns.items():
            column.extend(other.columns[name])
        self.errors.update((offset + i, text) for i, text in other.errors.items())
        self.tags.update((offset + i, value) for i, value in other.tags.items())
        self.edges.extend(other.edges)
        self.last_rowid = max(self.last_rowid, other.last_rowid)
        self._index.update(zip(other.columns["id"], range(offset, len(self))))  # a later position wins
        if len(self._index) < len(self):
            self._drop_replaced()

    def _drop_replaced(self) -> None:
        keep = sorted(self._index.values())
        renumber = {old: new for new, old in enumerate(keep)}
        for name in self.columns:
            column = self.columns[name]
            self.columns[name] = [column[i] for i in keep]
        self.errors = {renumber[i]: text for i, text in self.errors.items() if i in renumber}
        self.tags = {renumber[i]: value for i, value in self.tags.items() if i in renumber}
        self._index = dict(zip(self.columns["id"], range(len(keep))))


def task_run_columns(run_id: str, *, after: int = 0, db: PathLike | None = None) -> TaskRunColumns:
    """The task runs of a flow run as columns, from the chunks written after rowid ``after``."""
    with open_for_reading(db) as conn:
        full_id = resolve_run_id(conn, run_id)
        result = TaskRunColumns(full_id, last_rowid=after)
        rows = conn.execute(
            "SELECT rowid, data FROM task_run_chunks WHERE flow_run_id = ? AND rowid > ? ORDER BY rowid",
            (full_id, after),
        ).fetchall()
    for rowid, blob in rows:
        columns, errors, tags, links = chunks.unpack_columns(blob)
        offset = len(result)
        for name, column in result.columns.items():
            column.extend(columns[name])
        result.errors.update((offset + i, text) for i, text in errors.items())
        result.tags.update((offset + i, value) for i, value in tags.items())
        result.edges.extend(links)
        result.last_rowid = rowid
    result._index = dict(zip(result.columns["id"], range(len(result))))  # a later position wins
    if len(result._index) < len(result):  # a task run recorded twice: keep its later record
        result._drop_replaced()
    return result


@dataclass(frozen=True)
class RunPage:
    """One page of flow runs and how many match in all."""

    runs: list[FlowRunRecord]
    total: int


def search_runs(
    *,
    status: str | None = None,
    flow: str | None = None,
    since: float | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
    db: PathLike | None = None,
) -> RunPage:
    """Flow runs newest first, filtered; ``text`` matches an id prefix or part of a run's name."""
    where, args = [], []
    if status is not None:
        where.append("f.state_type = ?")
        args.append(_state_type(status))
    if flow is not None:
        where.append("f.flow_name = ?")
        args.append(flow)
    if since is not None:
        where.append("f.started_at >= ?")
        args.append(float(since))
    if text:
        where.append("(substr(f.id, 1, ?) = ? OR instr(lower(f.name), ?) > 0)")
        args += [len(text), text, text.lower()]
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    with open_for_reading(db) as conn:
        if conn is None:
            return RunPage([], 0)
        crashed = settle_crashes(conn)
        total = conn.execute(f"SELECT COUNT(*) FROM flow_runs f{clause}", args).fetchone()[0]
        sql = f"{_FLOW_SELECT}{clause} ORDER BY f.started_at DESC, f.rowid DESC LIMIT ? OFFSET ?"
        rows = conn.execute(sql, [*args, max(int(limit), 1), max(int(offset), 0)])
        return RunPage([_patched(_flow_run(row), crashed) for row in rows], total)


def flow_names(*, db: PathLike | None = None) -> list[str]:
    """The names of every flow with a recorded run, sorted."""
    with open_for_reading(db) as conn:
        if conn is None:
            return []
        return [row[0] for row in conn.execute("SELECT DISTINCT flow_name FROM flow_runs ORDER BY flow_name")]


def recent_runs_by_flow(per_flow: int = 50, *, db: PathLike | None = None) -> dict[str, list[FlowRunRecord]]:
    """Each flow's ``per_flow`` most recent runs, newest first, flows by name."""
    sql = (
        "SELECT * FROM (SELECT f.*, 0 AS task_count, 0 AS failed_task_count, ROW_NUMBER() OVER "
        "(PARTITION BY f.flow_name ORDER BY f.started_at DESC, f.rowid DESC) AS position FROM flow_runs f) "
        "WHERE position <= ? ORDER BY flow_name, position"
    )
    with open_for_reading(db) as conn:
        if conn is None:
            return {}
        crashed = settle_crashes(conn)
        found: dict[str, list[FlowRunRecord]] = {}
        for row in conn.execute(sql, (max(int(per_flow), 1),)):
            found.setdefault(row["flow_name"], []).append(_patched(_flow_run(row), crashed))
        return found


@dataclass(frozen=True)
class LogPage:
    """Log lines of a run (oldest first) with their row ids, and how many match in all."""

    lines: list[tuple[int, RunLogLine]]
    total: int


def log_page(
    run_id: str,
    *,
    levels: Iterable[str] | None = None,
    task_run_id: str | None = None,
    after: int = 0,
    limit: int = 200,
    offset: int = 0,
    db: PathLike | None = None,
) -> LogPage:
    """A page of a run's log lines, optionally only some ``levels`` or one task run's."""
    where, args = ["flow_run_id = ?", "rowid > ?"], [after]
    if levels is not None:
        wanted = [str(level).upper() for level in levels]
        where.append(f"level IN ({', '.join('?' * len(wanted))})" if wanted else "0")
        args += wanted
    if task_run_id is not None:
        where.append("task_run_id = ?")
        args.append(task_run_id)
    with open_for_reading(db) as conn:
        full_id = resolve_run_id(conn, run_id)
        clause = " AND ".join(where)
        total = conn.execute(f"SELECT COUNT(*) FROM logs WHERE {clause}", [full_id, *args]).fetchone()[0]
        rows = conn.execute(
            "SELECT rowid, flow_run_id, task_run_id, ts, level, logger, message FROM logs "
            f"WHERE {clause} ORDER BY ts, rowid LIMIT ? OFFSET ?",
            [full_id, *args, max(int(limit), 1), max(int(offset), 0)],
        )
        return LogPage([(row[0], RunLogLine(*row[1:])) for row in rows], total)


# -- internals ------------------------------------------------------------------

_FLOW_SELECT = """SELECT f.*,
    (SELECT COALESCE(SUM(c.task_count), 0) FROM task_run_chunks c WHERE c.flow_run_id = f.id) AS task_count,
    (SELECT COALESCE(SUM(c.failed_count), 0) FROM task_run_chunks c WHERE c.flow_run_id = f.id)
        AS failed_task_count
    FROM flow_runs f"""


#: a flow run's name, or its entrypoint's attribute, compared by flow_name_key
_FLOW_MATCH = (
    "(replace(lower(f.flow_name), '_', '-') = ?"
    " OR substr(replace(lower(f.entrypoint), '_', '-'), ?) = ?)"
)


def flow_name_key(name: str) -> str:
    """How flow names compare: any case, ``_`` and ``-`` alike."""
    return name.strip().lower().replace("_", "-")


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
def open_for_reading(db: PathLike | None) -> Iterator[sqlite3.Connection | None]:
    path = Path(db) if db is not None else config.database_path()
    # this process records too: read what it has not written yet as well. The module may be half
    # imported by another thread (its first flow starting): then no recorder of it exists yet.
    flush_recorders = getattr(sys.modules.get("legato.history.recorder"), "flush_recorders", None)
    if flush_recorders is not None:
        flush_recorders(path)
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


def resolve_run_id(conn: sqlite3.Connection | None, run_id: str) -> str:
    if conn is None:
        raise RunNotFound(f"no run matches {run_id!r} (no history recorded yet)")
    return _resolve(conn, run_id)


def settle_crashes(conn: sqlite3.Connection) -> dict[str, str]:
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
    "LogPage",
    "RunLogLine",
    "RunPage",
    "TaskRunColumns",
    "TaskRunRecord",
    "edges",
    "flow_names",
    "get_run",
    "list_runs",
    "log_page",
    "recent_runs_by_flow",
    "run_logs",
    "search_runs",
    "task_run_columns",
    "task_runs",
]
