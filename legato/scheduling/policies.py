"""What to do with the windows that came due: catch-up and overlap policies, and claiming.

Pure decisions over the store, each run inside one write transaction by the
caller, so two processes deciding at once see each other's decisions.

Catch-up (which of the windows that came due since the last decision run):

* ``latest`` (default): only the most recent one; the older ones are
  recorded Skipped (late).
* ``all``: every one, oldest first, at most ``max_catchup`` (the most recent
  ones); older ones are recorded Skipped (late).
* ``skip``: only a window noticed on time (within :data:`LATE_AFTER_SECONDS`
  of its start, or of its own length if shorter); every other is Skipped (late).

Overlap (a window comes due while an earlier one of the same deployment is
running, in any process; a window whose holder died is not running):

* ``skip`` (default): recorded Skipped (overlap);
* ``queue``: runs after the earlier ones, in order;
* ``allow``: runs at once, beside them;
* ``cancel-new``: recorded Cancelled (overlap).

Windows decided together (a catch-up backlog) are one queue: they run one
after another, oldest first (all at once with ``allow``).
"""

from __future__ import annotations

import json
import sqlite3
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from legato.scheduling.errors import ScheduleError
from legato.scheduling.holders import holder_alive
from legato.scheduling.store import DeploymentRow, WindowRow, iter_windows, reclaim_dead
from legato.scheduling.window import window_run_key

CATCHUP_POLICIES = ("latest", "all", "skip")
OVERLAP_POLICIES = ("skip", "queue", "allow", "cancel-new")
DEFAULT_MAX_CATCHUP = 100
LATE_AFTER_SECONDS = 60.0
#: Skipped windows recorded one by one per decision; beyond, they are only counted.
MAX_RECORDED_SKIPS = 1000


def check_policies(catchup: str, overlap: str, max_catchup: int) -> None:
    if catchup not in CATCHUP_POLICIES:
        raise ScheduleError(f"catchup must be one of {', '.join(CATCHUP_POLICIES)}, got {catchup!r}")
    if overlap not in OVERLAP_POLICIES:
        raise ScheduleError(f"overlap must be one of {', '.join(OVERLAP_POLICIES)}, got {overlap!r}")
    if max_catchup < 1:
        raise ScheduleError(f"max_catchup must be at least 1, got {max_catchup}")


def decide(
    conn: sqlite3.Connection,
    deployment: DeploymentRow,
    now: datetime,
    alive: Callable[[str], bool] = holder_alive,
) -> list[tuple[float, str, str | None]]:
    """Record a decision for every window due since the deployment's cursor; return ``(start, state, reason)``s."""
    stamp = now.timestamp()
    reclaim_dead(conn, deployment.name, stamp, alive)
    row = conn.execute("SELECT paused, cursor FROM deployments WHERE name=?", (deployment.name,)).fetchone()
    if row is None or row[0]:
        return []
    schedule = deployment.schedule()
    due, total = _due_windows(schedule, datetime.fromtimestamp(row[1] or stamp, timezone.utc), now, deployment)
    if not due:
        return []
    run, late = _apply_catchup(deployment, due, now)
    busy = conn.execute(
        "SELECT 1 FROM windows WHERE deployment=? AND state='RUNNING' LIMIT 1", (deployment.name,)
    ).fetchone()
    decisions = [(start, end, "SKIPPED", "late") for start, end in late]
    for start, end in run:
        decisions.append((start, end, *_overlap_decision(deployment.overlap, busy is not None)))
    params = json.dumps(deployment.parameters, default=str)
    conn.executemany(
        "INSERT OR IGNORE INTO windows (deployment, start, end, state, reason, origin, run_key, parameters, decided_at) "
        "VALUES (?, ?, ?, ?, ?, 'schedule', ?, ?, ?)",
        [(deployment.name, s.timestamp(), e.timestamp(), state, reason, window_run_key(deployment.name, s), params, stamp)
         for s, e, state, reason in decisions],
    )  # fmt: skip
    conn.execute(
        "UPDATE deployments SET cursor=?, unrecorded_skips=unrecorded_skips+? WHERE name=?",
        (due[-1][0].timestamp(), total - len(due), deployment.name),
    )
    return [(s.timestamp(), state, reason) for s, _, state, reason in decisions]


def claim_next(
    conn: sqlite3.Connection, deployment: DeploymentRow, now: float, holder: str, lease_seconds: float
) -> WindowRow | None:
    """Take the oldest pending window, unless (overlap other than ``allow``) one is already running."""
    if deployment.overlap != "allow":
        running = conn.execute(
            "SELECT 1 FROM windows WHERE deployment=? AND state='RUNNING' LIMIT 1", (deployment.name,)
        ).fetchone()
        if running:
            return None
    found = next(iter_windows(conn, "deployment=? AND state='PENDING' ORDER BY start LIMIT 1", (deployment.name,)), None)
    if found is None:
        return None
    return _mark_running(conn, found, now, holder, lease_seconds)


def claim_window(
    conn: sqlite3.Connection,
    deployment: str,
    start: float,
    end: float,
    parameters: dict[str, Any],
    now: float,
    holder: str,
    lease_seconds: float,
    alive: Callable[[str], bool] = holder_alive,
) -> tuple[str, WindowRow | None]:
    """Claim one given window for a backfill: ``("done", row)``, ``("busy", row)`` or ``("claimed", row)``."""
    found = next(iter_windows(conn, "deployment=? AND start=?", (deployment, start)), None)
    if found is None:
        conn.execute(
            "INSERT INTO windows (deployment, start, end, state, origin, run_key, parameters, decided_at) "
            "VALUES (?, ?, ?, 'PENDING', 'backfill', ?, ?, ?)",
            (deployment, start, end, window_run_key(deployment, datetime.fromtimestamp(start, timezone.utc)),
             json.dumps(parameters, default=str), now),
        )  # fmt: skip
        found = next(iter_windows(conn, "deployment=? AND start=?", (deployment, start)))
    elif found.state == "COMPLETED":
        return "done", found
    elif found.state == "RUNNING" and alive(found.holder or "") and (found.lease_until or 0) >= now:
        return "busy", found
    return "claimed", _mark_running(conn, found, now, holder, lease_seconds)


def _mark_running(conn: sqlite3.Connection, found: WindowRow, now: float, holder: str, lease: float) -> WindowRow:
    conn.execute(
        "UPDATE windows SET state='RUNNING', holder=?, lease_until=?, started_at=?, attempts=attempts+1, "
        "ended_at=NULL, error=NULL WHERE deployment=? AND start=?",
        (holder, now + lease, now, found.deployment, found.start),
    )
    found.state, found.holder, found.lease_until, found.started_at = "RUNNING", holder, now + lease, now
    found.attempts += 1
    return found


def _due_windows(
    schedule: Any, cursor: datetime, now: datetime, deployment: DeploymentRow
) -> tuple[list[tuple[datetime, datetime]], int]:
    keep = max(MAX_RECORDED_SKIPS, deployment.max_catchup) + 1
    due: deque[tuple[datetime, datetime]] = deque(maxlen=keep)
    total = 0
    start = schedule.next_after(cursor)
    while start is not None and start <= now:
        end = schedule.next_after(start)
        due.append((start, end or start))
        total += 1
        start = end
    return list(due), total


def _apply_catchup(
    deployment: DeploymentRow, due: list[tuple[datetime, datetime]], now: datetime
) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]]]:
    if deployment.catchup == "all":
        cap = deployment.max_catchup
        return due[-cap:], due[:-cap]
    if deployment.catchup == "skip":
        start, end = due[-1]
        grace = min(LATE_AFTER_SECONDS, max((end - start).total_seconds(), 0.0) or LATE_AFTER_SECONDS)
        if (now - start).total_seconds() <= grace:
            return due[-1:], due[:-1]
        return [], due
    return due[-1:], due[:-1]


def _overlap_decision(policy: str, busy: bool) -> tuple[str, str | None]:
    if not busy or policy in ("queue", "allow"):
        return "PENDING", None
    if policy == "cancel-new":
        return "CANCELLED", "overlap"
    return "SKIPPED", "overlap"


__all__ = [
    "CATCHUP_POLICIES", "DEFAULT_MAX_CATCHUP", "OVERLAP_POLICIES",
    "check_policies", "claim_next", "claim_window", "decide",
]
