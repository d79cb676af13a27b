"""The history database: its tables, how to open it, how to write to it safely.

One SQLite file is shared by every legato process on the machine, so this
module settles the three things that make that safe:

* WAL journal mode, so readers never block the writer and vice versa;
* ``busy_timeout``, so a writer waits for another process's transaction
  instead of failing at once;
* write transactions start with ``BEGIN IMMEDIATE`` and are retried on
  "database is locked": in WAL mode a *deferred* transaction that upgrades
  from reading to writing can get ``SQLITE_BUSY`` without the busy handler
  ever being called, so the write lock is taken up front.

The schema version lives in ``PRAGMA user_version``; tables are created when
missing, a file of an older version is upgraded in place (version 1 kept one
row per task run; version 2 keeps them in chunks; version 3 adds the
``artifacts`` table), and a file written by a
newer legato is refused rather than misread.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from legato.history.errors import HistoryDatabaseError

SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 30_000
#: How long a write keeps retrying "database is locked" before giving up.
LOCKED_RETRY_SECONDS = 60.0

_T = TypeVar("_T")

_TABLES = """
CREATE TABLE IF NOT EXISTS flow_runs (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    flow_name      TEXT NOT NULL,
    parameters     TEXT NOT NULL DEFAULT '{}',
    run_key        TEXT,
    runner         TEXT,
    tags           TEXT NOT NULL DEFAULT '[]',
    state_type     TEXT NOT NULL,
    state_name     TEXT NOT NULL,
    pid            INTEGER,
    hostname       TEXT,
    started_at     REAL NOT NULL,
    ended_at       REAL,
    error          TEXT,
    entrypoint     TEXT,
    cli_parameters TEXT
);
CREATE INDEX IF NOT EXISTS flow_runs_started_at ON flow_runs (started_at);
CREATE INDEX IF NOT EXISTS flow_runs_state_type ON flow_runs (state_type);

-- Task runs, in chunks of one flow run packed with msgpack (legato.history.chunks).
CREATE TABLE IF NOT EXISTS task_run_chunks (
    flow_run_id  TEXT NOT NULL,
    task_count   INTEGER NOT NULL,
    failed_count INTEGER NOT NULL,
    data         BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS task_run_chunks_flow_run_id ON task_run_chunks (flow_run_id);

CREATE TABLE IF NOT EXISTS logs (
    flow_run_id TEXT NOT NULL,
    task_run_id TEXT,
    ts          REAL NOT NULL,
    level       TEXT NOT NULL,
    logger      TEXT NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_flow_run_id ON logs (flow_run_id, ts);

-- Artifacts (legato.artifacts): one row per artifact, a progress artifact updated in place (no semicolons in comments: statements are split on them).
CREATE TABLE IF NOT EXISTS artifacts (
    id          TEXT PRIMARY KEY,
    key         TEXT,
    type        TEXT NOT NULL,
    description TEXT,
    data        TEXT NOT NULL,
    flow_run_id TEXT,
    task_run_id TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_key ON artifacts (key, created_at);
CREATE INDEX IF NOT EXISTS artifacts_flow_run_id ON artifacts (flow_run_id);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the history database at ``path``.

    The connection is in autocommit mode (``isolation_level=None``): writes
    go through :func:`write_transaction`, reads need no transaction. It may
    be shared between threads as long as the caller serializes its use.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise HistoryDatabaseError(f"cannot open history database {path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        _ensure_schema(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise HistoryDatabaseError(f"cannot use history database {path}: {exc}") from exc
    except HistoryDatabaseError:
        conn.close()
        raise
    return conn


def write_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]) -> _T:
    """Run ``work(conn)`` in one write transaction, retrying while the file is locked."""

    def attempt() -> _T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    return retry_locked(attempt)


def is_locked_error(exc: BaseException) -> bool:
    """Whether ``exc`` means another connection holds the lock (worth retrying)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def retry_locked(attempt: Callable[[], _T], budget: float = LOCKED_RETRY_SECONDS) -> _T:
    deadline = time.monotonic() + budget
    delay = 0.005
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not is_locked_error(exc) or time.monotonic() >= deadline:
                raise
        # Jitter keeps several processes from retrying in lockstep.
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 0.25)


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise HistoryDatabaseError(
            f"history database {path} has schema version {version}, newer than this "
            f"legato understands ({SCHEMA_VERSION}); upgrade legato or set LEGATO_DATABASE"
        )

    def create(c: sqlite3.Connection) -> None:
        # Read again under the write lock: another process may have upgraded meanwhile.
        current = c.execute("PRAGMA user_version").fetchone()[0]
        if current == SCHEMA_VERSION:
            return
        for statement in _TABLES.split(";"):
            if statement.strip():
                c.execute(statement)
        if current == 1:
            _chunk_version_1_task_runs(c)
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    write_transaction(conn, create)


def _chunk_version_1_task_runs(conn: sqlite3.Connection) -> None:
    """Move version 1's one-row-per-task-run tables into chunks, one per flow run."""
    from legato.history.chunks import Chunk

    chunks: dict[str, Chunk] = {}
    rows = conn.execute(
        "SELECT flow_run_id, id, name, task_name, map_index, state_type, state_name, attempts, started_at, "
        "ended_at, error, tags FROM task_runs ORDER BY rowid"
    )
    for flow_run_id, *row, error, tags in rows:
        chunks.setdefault(flow_run_id, Chunk()).add(row, error, _json_list(tags), ())
    for flow_run_id, upstream, downstream in conn.execute(
        "SELECT flow_run_id, upstream_id, downstream_id FROM task_edges ORDER BY rowid"
    ):
        chunks.setdefault(flow_run_id, Chunk()).edges.append((upstream, downstream))
    conn.executemany(
        "INSERT INTO task_run_chunks (flow_run_id, task_count, failed_count, data) VALUES (?, ?, ?, ?)",
        [(flow_run_id, len(c), c.failed_count, c.pack()) for flow_run_id, c in chunks.items()],
    )
    conn.execute("DROP TABLE task_runs")
    conn.execute("DROP TABLE task_edges")


def _json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


__all__ = ["SCHEMA_VERSION", "connect", "is_locked_error", "write_transaction"]
