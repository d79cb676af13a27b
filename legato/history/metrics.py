"""Pipeline metrics: the numbers a data team puts on its wall.

Per flow: finished runs, success rate, P50/P95/max duration, time since the
last success (over all history, whatever the window: that is freshness),
and failures grouped by error type. Per task name: runs, failure rate,
P50/P95 duration.

Flow runs are read with one SQL query. Task runs are read from their
msgpack chunks column by column: a chunk's durations are one
``map(operator.sub, ...)`` over two columns and its task names often one
constant, so no record is built per task run.

Percentiles use the nearest-rank definition: P(p) of n sorted values is
the value at rank ``ceil(p / 100 * n)`` (1-based), so it is always one of
the measured durations (P50 of 1..10 is 5, P95 is 10).
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


from legato.history.chunks import ROW_FIELDS, load
from legato.history.query import FINAL_STATE_TYPES, open_for_reading, settle_crashes

_COLUMN = {name: ROW_FIELDS.index(name) for name in ("task_name", "state_type", "started_at", "ended_at")}
_FAILED = ("FAILED", "CRASHED")
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass
class FlowStats:
    flow_name: str
    runs: int
    completed: int
    success_rate: float | None
    p50: float | None
    p95: float | None
    max: float | None
    last_success_at: float | None
    since_last_success: float | None
    failures_by_error: dict[str, int] = field(default_factory=dict)


@dataclass
class TaskStats:
    task_name: str
    runs: int
    failed: int
    failure_rate: float | None
    p50: float | None
    p95: float | None


@dataclass
class Stats:
    since: float | None  # the window's start (epoch seconds), None for all history
    now: float
    flows: list[FlowStats]
    tasks: list[TaskStats]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of ``values`` (sorted here); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def parse_since(text: str) -> float:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"2w"`` as seconds; ValueError otherwise."""
    match = _SPAN.match(text)
    if not match:
        raise ValueError(f"not a time span: {text!r} (use e.g. 90s, 30m, 12h, 7d, 2w)")
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


def stats(
    flow: str | None = None,
    since: str | float | None = None,
    *,
    now: float | None = None,
    db: Path | str | None = None,
) -> Stats:
    """Metrics of the flow runs started in the last ``since`` (``"7d"`` or seconds; None: all)."""
    now = time.time() if now is None else now
    window = parse_since(since) if isinstance(since, str) else since
    start = None if window is None else now - window
    with open_for_reading(db) as conn:
        if conn is None:
            return Stats(start, now, [], [])
        settle_crashes(conn)
        where, args = ["state_type IN (%s)" % ",".join("?" * len(FINAL_STATE_TYPES))], list(FINAL_STATE_TYPES)
        if start is not None:
            where.append("started_at >= ?")
            args.append(start)
        if flow is not None:
            where.append("flow_name = ?")
            args.append(flow)
        condition = " AND ".join(where)
        flows = _flow_stats(conn, condition, args, now)
        tasks = _task_stats(conn, condition, args)
    return Stats(start, now, flows, tasks)


def _flow_stats(conn: Any, condition: str, args: list[Any], now: float) -> list[FlowStats]:
    durations: dict[str, list[float]] = {}
    completed: Counter[str] = Counter()
    runs: Counter[str] = Counter()
    failures: dict[str, Counter[str]] = {}
    rows = conn.execute(
        f"SELECT flow_name, state_type, state_name, started_at, ended_at, error FROM flow_runs WHERE {condition}", args
    )
    for flow_name, state_type, state_name, started_at, ended_at, error in rows:
        runs[flow_name] += 1
        if ended_at is not None:
            durations.setdefault(flow_name, []).append(ended_at - started_at)
        if state_type == "COMPLETED":
            completed[flow_name] += 1
        elif state_type in _FAILED:
            failures.setdefault(flow_name, Counter())[error_type(error, state_name)] += 1
    last = dict(conn.execute(
        "SELECT flow_name, MAX(ended_at) FROM flow_runs WHERE state_type = 'COMPLETED' GROUP BY flow_name"
    ).fetchall())  # fmt: skip
    result = []
    for name in sorted(runs):
        times = durations.get(name, [])
        last_success = last.get(name)
        result.append(FlowStats(
            flow_name=name, runs=runs[name], completed=completed[name],
            success_rate=completed[name] / runs[name],
            p50=percentile(times, 50), p95=percentile(times, 95), max=max(times) if times else None,
            last_success_at=last_success, since_last_success=None if last_success is None else now - last_success,
            failures_by_error=dict(failures.get(name, Counter()).most_common()),
        ))  # fmt: skip
    return result


def _task_stats(conn: Any, condition: str, args: list[Any]) -> list[TaskStats]:
    durations: dict[str, list[float]] = {}
    runs: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    rows = conn.execute(
        "SELECT data FROM task_run_chunks WHERE flow_run_id IN "
        f"(SELECT id FROM flow_runs WHERE {condition})", args
    )
    for (blob,) in rows:
        data = load(blob)
        count, columns = data.get("n", 0), data["columns"]
        names, types = columns[_COLUMN["task_name"]], columns[_COLUMN["state_type"]]
        spans = list(map(_span, columns[_COLUMN["ended_at"]], columns[_COLUMN["started_at"]]))
        if isinstance(names, dict):  # one task name for the whole chunk: no per-run step at all
            name = names["all"]
            runs[name] += count
            failed[name] += _failed_count(types, count)
            durations.setdefault(name, []).extend(filter(_is_number, spans))
            continue
        types = [types["all"]] * count if isinstance(types, dict) else types
        for name, state_type, span in zip(names, types, spans):
            runs[name] += 1
            if state_type in _FAILED:
                failed[name] += 1
            if span is not None:
                durations.setdefault(name, []).append(span)
    return [
        TaskStats(name, runs[name], failed[name], failed[name] / runs[name] if runs[name] else None,
                  percentile(durations.get(name, []), 50), percentile(durations.get(name, []), 95))
        for name in sorted(runs)
    ]  # fmt: skip


def _failed_count(types: Any, count: int) -> int:
    if isinstance(types, dict):
        return count if types["all"] in _FAILED else 0
    return sum(map(types.count, _FAILED))


def _span(ended: Any, started: Any) -> float | None:
    try:
        return ended - started
    except TypeError:  # never started (NotReady), or not a number
        return None


def _is_number(value: Any) -> bool:
    return value is not None


def error_type(error: str | None, state_name: str) -> str:
    """The exception class of a recorded error (``ValueError``), else the state's name."""
    if error:
        lines = [line for line in error.strip().splitlines() if line.strip()]
        if lines:
            last = lines[-1].strip()
            head = last.split(":", 1)[0].strip()
            if head and re.fullmatch(r"[A-Za-z_][\w.]*", head):
                return head.rsplit(".", 1)[-1]
    return state_name or "Unknown"


__all__ = ["FlowStats", "Stats", "TaskStats", "error_type", "parse_since", "percentile", "stats"]
