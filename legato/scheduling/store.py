"""Deployments, their windows and limits in ``$LEGATO_HOME/schedules.db``.

A file of its own rather than tables in ``history.db``: the history has its
own schema version and writer thread, and the history can be switched off
(``LEGATO_HISTORY=0``) while schedules must still run exactly once. Served
runs are linked to the history by their run key (``deployment@start``).

Every decision is one ``BEGIN IMMEDIATE`` transaction (the write lock taken
up front, see :mod:`legato.history.schema`), so several serving processes on
one home never decide or claim the same window twice. A window's row is
created once (primary key ``deployment, start``) and only moves forward:

    PENDING -> RUNNING -> COMPLETED | FAILED
    (decided)  (claimed)  and SKIPPED (late, overlap) / CANCELLED (overlap) at decision time

A RUNNING window whose holder died (or whose lease expired) goes back to
PENDING and is run again under the same run key, so only its unfinished
tasks run.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from legato.history.schema import BUSY_TIMEOUT_MS, retry_locked, write_transaction
from legato.scheduling.errors import DeploymentNotFound, SchedulingError
from legato.scheduling.holders import holder_alive

_T = TypeVar("_T")

_TABLES = """
CREATE TABLE IF NOT EXISTS deployments (
    name        TEXT PRIMARY KEY,
    flow_name   TEXT NOT NULL,
    entrypoint  TEXT,
    kind        TEXT NOT NULL,
    expression  TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    anchor      REAL,
    parameters  TEXT NOT NULL DEFAULT '{}',
    catchup     TEXT NOT NULL,
    max_catchup INTEGER NOT NULL,
    overlap     TEXT NOT NULL,
    paused      INTEGER NOT NULL DEFAULT 0,
    cursor      REAL,
    unrecorded_skips INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS windows (
    deployment  TEXT NOT NULL,
    start       REAL NOT NULL,
    end         REAL NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT,
    origin      TEXT NOT NULL DEFAULT 'schedule',
    run_key     TEXT NOT NULL,
    parameters  TEXT,
    holder      TEXT,
    lease_until REAL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    decided_at  REAL NOT NULL,
    started_at  REAL,
    ended_at    REAL,
    error       TEXT,
    PRIMARY KEY (deployment, start)
);
CREATE INDEX IF NOT EXISTS windows_state ON windows (deployment, state);
CREATE TABLE IF NOT EXISTS limits (
    name       TEXT PRIMARY KEY,
    slots      INTEGER,
    per_second REAL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    occupy      INTEGER NOT NULL,
    holder      TEXT NOT NULL,
    acquired_at REAL NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_name ON leases (name);
CREATE TABLE IF NOT EXISTS rate_state (
    name      TEXT PRIMARY KEY,
    next_free REAL NOT NULL
);
"""

#: States of a window that still needs a run.
OPEN_STATES = ("PENDING", "RUNNING")
FINAL_STATES = ("COMPLETED", "FAILED", "SKIPPED", "CANCELLED")


def store_path() -> Path:
    from legato.config import legato_home

    return legato_home() / "schedules.db"


@dataclass
class DeploymentRow:
    name: str
    flow_name: str
    entrypoint: str | None
    kind: str
    expression: str
    timezone: str
    anchor: float | None
    parameters: dict[str, Any]
    catchup: str
    max_catchup: int
    overlap: str
    paused: bool = False
    cursor: float | None = None
    unrecorded_skips: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0

    def schedule(self) -> Any:
        from legato.scheduling.kinds import schedule_from_row

        return schedule_from_row(self.kind, self.expression, self.timezone, self.anchor)


@dataclass
class WindowRow:
    deployment: str
    start: float
    end: float
    state: str
    reason: str | None
    origin: str
    run_key: str
    parameters: str | None
    holder: str | None
    lease_until: float | None
    attempts: int
    decided_at: float
    started_at: float | None
    ended_at: float | None
    error: str | None

    @property
    def start_dt(self) -> datetime:
        return datetime.fromtimestamp(self.start, timezone.utc)

    @property
    def end_dt(self) -> datetime:
        return datetime.fromtimestamp(self.end, timezone.utc)

    @property
    def label(self) -> str:
        """``Completed``, ``Skipped (late)``...: what ``legato schedules ls`` shows."""
        text = self.state.capitalize()
        return f"{text} ({self.reason})" if self.reason else text


_DEPLOYMENT_COLUMNS = ", ".join(DeploymentRow.__dataclass_fields__)
_WINDOW_COLUMNS = ", ".join(WindowRow.__dataclass_fields__)


class Store:
    """One connection to ``schedules.db``, shared by the threads of a process under a lock."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or store_path()
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            retry_locked(lambda: self.conn.execute("PRAGMA journal_mode = WAL"))
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.write(self._create)
        except (OSError, sqlite3.Error) as exc:
            raise SchedulingError(f"cannot use schedules database {self.path}: {exc}") from exc

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        for statement in _TABLES.split(";"):
            if statement.strip():
                conn.execute(statement)

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work(conn)`` in one ``BEGIN IMMEDIATE`` transaction."""
        with self._lock:
            return write_transaction(self.conn, work)

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.conn.execute(sql, args).fetchall()

    # -- deployments -----------------------------------------------------------------

    def upsert_deployment(self, row: DeploymentRow, now: float, pause: bool = False) -> DeploymentRow:
        """Create or update a deployment; its cursor, and a pause, survive (``pause`` only pauses)."""

        def work(conn: sqlite3.Connection) -> DeploymentRow:
            existing = _deployment(conn, row.name)
            if existing is None:
                row.created_at = row.updated_at = now
                row.cursor = now  # windows start after the first serve, never before it
                row.paused = pause
                conn.execute(
                    f"INSERT INTO deployments ({_DEPLOYMENT_COLUMNS}) VALUES ({_marks(DeploymentRow)})",
                    _deployment_values(row),
                )
                return row
            conn.execute(
                "UPDATE deployments SET flow_name=?, entrypoint=?, kind=?, expression=?, timezone=?, anchor=?, "
                "parameters=?, catchup=?, max_catchup=?, overlap=?, paused=MAX(paused, ?), updated_at=? WHERE name=?",
                (row.flow_name, row.entrypoint, row.kind, row.expression, row.timezone, row.anchor,
                 json.dumps(row.parameters, default=str), row.catchup, row.max_catchup, row.overlap,
                 int(pause), now, row.name),
            )  # fmt: skip
            found = _deployment(conn, row.name)
            assert found is not None
            return found

        return self.write(work)

    def deployment(self, name: str) -> DeploymentRow:
        with self._lock:
            found = _deployment(self.conn, name)
        if found is None:
            raise DeploymentNotFound(f"no deployment named {name!r} (see 'legato schedules ls')")
        return found

    def deployments(self) -> list[DeploymentRow]:
        rows = self.read(f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments ORDER BY name")
        return [_deployment_from(r) for r in rows]

    def set_paused(self, name: str, paused: bool, now: float) -> None:
        """Pause or resume. Resuming moves the cursor to now: the paused span is not caught up."""

        def work(conn: sqlite3.Connection) -> None:
            if _deployment(conn, name) is None:
                raise DeploymentNotFound(f"no deployment named {name!r} (see 'legato schedules ls')")
            if paused:
                conn.execute("UPDATE deployments SET paused=1, updated_at=? WHERE name=?", (now, name))
            else:
                conn.execute(
                    "UPDATE deployments SET paused=0, cursor=MAX(COALESCE(cursor, 0), ?), updated_at=? "
                    "WHERE name=? AND paused=1",
                    (now, now, name),
                )

        self.write(work)

    def delete_deployment(self, name: str) -> None:
        """Forget a deployment and its windows."""

        def work(conn: sqlite3.Connection) -> None:
            found = conn.execute("DELETE FROM deployments WHERE name=?", (name,)).rowcount
            found += conn.execute("DELETE FROM windows WHERE deployment=?", (name,)).rowcount
            if not found:
                raise DeploymentNotFound(f"no deployment named {name!r} (see 'legato schedules ls')")

        self.write(work)

    # -- windows ---------------------------------------------------------------------

    def windows(self, deployment: str, limit: int = 50, states: tuple[str, ...] = ()) -> list[WindowRow]:
        where = "deployment=?"
        args: list[Any] = [deployment]
        if states:
            where += f" AND state IN ({', '.join('?' * len(states))})"
            args += states
        rows = self.read(
            f"SELECT {_WINDOW_COLUMNS} FROM windows WHERE {where} ORDER BY start DESC LIMIT ?", (*args, limit)
        )
        return [WindowRow(*r) for r in rows]

    def window(self, deployment: str, start: float) -> WindowRow | None:
        rows = self.read(f"SELECT {_WINDOW_COLUMNS} FROM windows WHERE deployment=? AND start=?", (deployment, start))
        return WindowRow(*rows[0]) if rows else None

    def counts(self, deployment: str) -> dict[str, int]:
        rows = self.read(
            "SELECT state || COALESCE(' (' || reason || ')', ''), COUNT(*) FROM windows WHERE deployment=? GROUP BY 1",
            (deployment,),
        )
        return {label: count for label, count in rows}

    def finish(self, window: WindowRow, holder: str, state: str, now: float, error: str | None = None) -> bool:
        """Record how a claimed window ended; False if another holder took it over meanwhile."""

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE windows SET state=?, ended_at=?, error=?, lease_until=NULL WHERE deployment=? AND start=? "
                "AND holder=? AND state='RUNNING'",
                (state, now, error, window.deployment, window.start, holder),
            )
            return cursor.rowcount == 1

        return self.write(work)

    def renew(self, holder: str, lease_until: float) -> None:
        """Extend every window and slot lease ``holder`` has (the heartbeat of a live holder)."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE windows SET lease_until=? WHERE holder=? AND state='RUNNING'", (lease_until, holder))
            conn.execute("UPDATE leases SET expires_at=? WHERE holder=?", (lease_until, holder))

        self.write(work)


def reclaim_dead(conn: sqlite3.Connection, deployment: str, now: float, alive: Callable[[str], bool] = holder_alive) -> int:
    """Put RUNNING windows whose holder died or whose lease ran out back to PENDING."""
    rows = conn.execute(
        "SELECT start, holder, lease_until FROM windows WHERE deployment=? AND state='RUNNING'", (deployment,)
    ).fetchall()
    dead = [start for start, holder, lease in rows if (lease is not None and lease < now) or not alive(holder or "")]
    conn.executemany(
        "UPDATE windows SET state='PENDING', reason='resumed', holder=NULL, lease_until=NULL "
        "WHERE deployment=? AND start=?",
        [(deployment, start) for start in dead],
    )
    return len(dead)


def iter_windows(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> Iterator[WindowRow]:
    for row in conn.execute(f"SELECT {_WINDOW_COLUMNS} FROM windows WHERE {sql}", args):
        yield WindowRow(*row)


def _deployment(conn: sqlite3.Connection, name: str) -> DeploymentRow | None:
    row = conn.execute(f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE name=?", (name,)).fetchone()
    return _deployment_from(row) if row else None


def _deployment_from(row: tuple[Any, ...]) -> DeploymentRow:
    found = DeploymentRow(*row)
    try:
        found.parameters = json.loads(found.parameters) if isinstance(found.parameters, str) else {}
    except ValueError:
        found.parameters = {}
    if not isinstance(found.parameters, dict):
        found.parameters = {}
    found.paused = bool(found.paused)
    return found


def _deployment_values(row: DeploymentRow) -> tuple[Any, ...]:
    values = []
    for name in DeploymentRow.__dataclass_fields__:
        value = getattr(row, name)
        if name == "parameters":
            value = json.dumps(value, default=str)
        elif name == "paused":
            value = int(value)
        values.append(value)
    return tuple(values)


def _marks(cls: Any) -> str:
    return ", ".join("?" * len(cls.__dataclass_fields__))


__all__ = ["DeploymentRow", "FINAL_STATES", "OPEN_STATES", "Store", "WindowRow", "reclaim_dead", "store_path"]
