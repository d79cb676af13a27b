"""The failed task runs of one flow run, read from the chunks without building records.

A notification names the failed tasks of a run; the run may have thousands
of task runs, nearly all Completed. SQL skips chunks whose ``failed_count``
is zero, and in the others only the rows with an error are looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from legato.history.chunks import ROW_FIELDS, load
from legato.history.query import open_for_reading, resolve_run_id

_FAILED = frozenset({"FAILED", "CRASHED"})


@dataclass(frozen=True)
class FailedTask:
    """A failed task run: its name and the first line of its error."""

    name: str
    state_name: str
    error: str | None


def failed_tasks(run_id: str, limit: int = 5, *, db: Path | str | None = None) -> tuple[list[FailedTask], int]:
    """Up to ``limit`` failed task runs of a flow run, and how many failed in all."""
    found: dict[str, FailedTask] = {}
    with open_for_reading(db) as conn:
        full_id = resolve_run_id(conn, run_id)
        rows = conn.execute(
            "SELECT data FROM task_run_chunks WHERE flow_run_id = ? AND failed_count > 0 ORDER BY rowid", (full_id,)
        )
        for (blob,) in rows:
            _collect(load(blob), found)
    failures = list(found.values())
    return failures[:limit], len(failures)


def _collect(data: dict, found: dict[str, FailedTask]) -> None:
    """Add the failed runs of one unpacked chunk (only rows with an error are looked at)."""
    columns = data["columns"]
    ids, names, types, states = (columns[ROW_FIELDS.index(n)] for n in ("id", "name", "state_type", "state_name"))
    errors = data.get("errors", {})
    for index in sorted(errors):
        state_type = types["all"] if isinstance(types, dict) else types[index]
        if state_type not in _FAILED:
            continue
        state_name = states["all"] if isinstance(states, dict) else states[index]
        found[ids[index]] = FailedTask(str(names[index]), str(state_name), first_line(errors[index]))


def first_line(error: str | None) -> str | None:
    """The line of a formatted traceback that says what went wrong (its last non-empty one)."""
    if not error:
        return None
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return None
    if lines[0].startswith("Traceback"):
        return lines[-1]
    return lines[0]


__all__ = ["FailedTask", "failed_tasks", "first_line"]
