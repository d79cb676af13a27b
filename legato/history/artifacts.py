"""Artifacts in the history database: written one at a time, read by key or by run.

Artifacts are few (a handful per run, not one per task run), so each is
written at once in its own short transaction, by whichever process made it:
the flow's process for flows and tasks on threads, and for process-pool
tasks, whose artifacts travel back as log records (see
:mod:`legato.artifacts`); a Dask or Ray worker writes to the database its
own ``LEGATO_HOME``/``LEGATO_DATABASE`` names. One connection per process
and database path is kept, and dropped in a forked child.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from legato.history import schema

logger = logging.getLogger("legato.history")

#: the logger artifact records travel on (a record has a ``legato_artifact`` payload)
ARTIFACT_LOGGER = "legato.artifacts"

_lock = threading.Lock()
_connections: dict[str, sqlite3.Connection] = {}
_abandoned: list[sqlite3.Connection] = []  # inherited across fork: never used, never closed
_warned = False


@dataclass(frozen=True)
class ArtifactRecord:
    id: str
    key: str | None
    type: str
    description: str | None
    data: Any
    flow_run_id: str | None
    task_run_id: str | None
    created_at: float
    updated_at: float


def store(payload: dict[str, Any], path: Path | str | None = None) -> None:
    """Write one artifact payload (a new artifact, or an update of a progress artifact); never raises."""
    from legato import config

    global _warned
    try:
        if path is None:
            if not config.history_enabled():
                return
            path = config.database_path()
        with _lock:
            conn = _connection(Path(path))
            schema.write_transaction(conn, lambda c: _apply(c, payload))
    except Exception as exc:  # an artifact must never fail the task that made it
        if not _warned:
            _warned = True
            logger.warning("artifact could not be written to the run history: %s", exc)


def _apply(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    data = json.dumps(payload["data"], default=str)
    if payload.get("op") == "update":
        description = payload.get("description")
        conn.execute(
            "UPDATE artifacts SET data = ?, updated_at = ?, description = COALESCE(?, description) WHERE id = ?",
            (data, payload["ts"], description, payload["id"]),
        )
        return
    conn.execute(
        "INSERT OR REPLACE INTO artifacts (id, key, type, description, data, flow_run_id, task_run_id, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (payload["id"], payload.get("key"), payload["type"], payload.get("description"), data,
         payload.get("flow_run_id"), payload.get("task_run_id"), payload["ts"], payload["ts"]),
    )  # fmt: skip


def _connection(path: Path) -> sqlite3.Connection:
    key = f"{os.getpid()}:{path}"
    conn = _connections.get(key)
    if conn is None:
        conn = _connections[key] = schema.connect(path)
    return conn


class ArtifactHandler(logging.Handler):
    """Stores the artifact payloads of records on :data:`ARTIFACT_LOGGER` (ignores other records)."""

    def emit(self, record: logging.LogRecord) -> None:
        payload = getattr(record, "legato_artifact", None)
        if isinstance(payload, dict):
            store(payload)


def install_handler() -> None:
    """Make this process store the artifacts that reach its artifact logger (idempotent)."""
    target = logging.getLogger(ARTIFACT_LOGGER)
    with _lock:
        if not any(isinstance(handler, ArtifactHandler) for handler in target.handlers):
            target.addHandler(ArtifactHandler())
        target.propagate = False  # an artifact is not a log line


# -- reading -----------------------------------------------------------------------

_SELECT = "SELECT id, key, type, description, data, flow_run_id, task_run_id, created_at, updated_at FROM artifacts"


def list_artifacts(key: str | None = None, *, flow_run_id: str | None = None, latest_only: bool = False,
                   limit: int | None = 100, db: Path | str | None = None) -> list[ArtifactRecord]:
    """Artifacts, newest first: of one key, of one flow run, or all (``latest_only``: one per key)."""
    from legato.history.query import open_for_reading

    where, args = [], []
    if key is not None:
        where.append("key = ?")
        args.append(key)
    if flow_run_id is not None:
        where.append("flow_run_id = ?")
        args.append(flow_run_id)
    sql = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY created_at DESC, rowid DESC"
    with open_for_reading(db) as conn:
        if conn is None:
            return []
        records = [_record(row) for row in conn.execute(sql, args)]
    if latest_only:
        seen: set[str | None] = set()
        records = [r for r in records if r.key is None or not (r.key in seen or seen.add(r.key))]
    return records[:limit] if limit else records


def _record(row: Any) -> ArtifactRecord:
    try:
        data = json.loads(row[4])
    except ValueError:
        data = row[4]
    return ArtifactRecord(row[0], row[1], row[2], row[3], data, row[5], row[6], row[7], row[8])


def _forget_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _abandoned.extend(_connections.values())  # a parent's connection: neither used nor closed here
    _connections.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


__all__ = ["ARTIFACT_LOGGER", "ArtifactHandler", "ArtifactRecord", "install_handler", "list_artifacts", "store"]
