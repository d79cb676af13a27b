"""Reading the task runs of a big flow run chunk by chunk, without holding them all.

:func:`legato.history.task_runs` builds one record per task run and sorts
them all, which is right for a program and wrong for a terminal that wants
its first lines of a 200,000-task run now. Here the chunks are read from
SQLite one at a time and only their columns are decoded (no object per run
until a row is asked for):

* :func:`scan` makes one pass from the newest chunk to the oldest. Going
  backwards, the first record seen of a task run is its last one (a run
  recorded twice reads as its last record), so the pass finds the records
  later ones replace and counts the rest into a :class:`TaskRunsSummary`
  (runs per state and P50/P95 durations, by task name).
* :func:`iter_task_runs` then yields :class:`TaskRunRecord` objects chunk by
  chunk, oldest chunk first, each chunk in start order, skipping the
  replaced records; a caller that stops after 50 rows decodes one chunk.

Both take the same filters: ``state`` (a state type such as ``failed``, or
a state name such as ``cached``; any case) and ``task`` (a task name, or
one task run's name such as ``extract-3``).
"""

from __future__ import annotations

import itertools
import math
import operator
from collections import Counter
import sqlite3
from collections.abc import Iterator, Sequence, Set
from dataclasses import dataclass, field
from typing import Any


from legato.history import chunks, query

_ID, _NAME, _TASK, _MAP_INDEX, _TYPE, _STATE, _ATTEMPTS, _START, _END = range(len(chunks.ROW_FIELDS))


@dataclass(frozen=True)
class TaskFilter:
    """Which task runs to read: by state (type or name) and by task or task run name."""

    state: str | None = None
    task: str | None = None

    def __post_init__(self) -> None:
        if self.state is not None:
            object.__setattr__(self, "state", self.state.strip().lower())

    @property
    def is_open(self) -> bool:
        return self.state is None and self.task is None

    def matches(self, columns: Sequence[Sequence[Any]], index: int) -> bool:
        if self.state is not None and self.state not in (
            str(columns[_TYPE][index]).lower(), str(columns[_STATE][index]).lower()
        ):
            return False
        return self.task is None or self.task in (columns[_TASK][index], columns[_NAME][index])


@dataclass
class TaskStats:
    """The task runs of one task name: how many ended in each state, how long they took."""

    task_name: str
    runs: int = 0
    states: dict[str, int] = field(default_factory=dict)
    durations: list[float] = field(default_factory=list)
    #: when its first run started (summaries list task names in this order: the flow's order)
    first_started: float = math.inf

    def percentile(self, fraction: float) -> float | None:
        """The duration ``fraction`` of the runs took at most (nearest rank), or None."""
        if not self.durations:
            return None
        ordered = sorted(self.durations)
        rank = min(max(math.ceil(fraction * len(ordered)), 1), len(ordered))
        return ordered[rank - 1]


@dataclass
class TaskRunsSummary:
    """What :func:`scan` learned about the task runs of one flow run."""

    by_task: dict[str, TaskStats] = field(default_factory=dict)  # in the order their first runs started
    total: int = 0
    name_width: int = 0
    #: (chunk rowid, index in chunk) of records a later record of the same task run replaces
    replaced: set[tuple[int, int]] = field(default_factory=set)


def summarize(run_id: str, where: TaskFilter = TaskFilter(), *, db: query.PathLike | None = None) -> TaskRunsSummary:
    """:func:`scan` of the flow run ``run_id`` (any unique prefix)."""
    with query.open_for_reading(db) as conn:
        return scan(conn, query.resolve_run_id(conn, run_id), where)


def stream(
    run_id: str, where: TaskFilter = TaskFilter(), replaced: Set[tuple[int, int]] = frozenset(),
    *, db: query.PathLike | None = None,
) -> Iterator[query.TaskRunRecord]:  # fmt: skip
    """:func:`iter_task_runs` of the flow run ``run_id``; the file is open while it is iterated."""
    with query.open_for_reading(db) as conn:
        yield from iter_task_runs(conn, query.resolve_run_id(conn, run_id), where, replaced)


def scan(conn: sqlite3.Connection, flow_run_id: str, where: TaskFilter = TaskFilter()) -> TaskRunsSummary:
    """One pass over a flow run's chunks, newest first: the summary and the replaced records."""
    summary = TaskRunsSummary()
    seen: set[str] = set()
    rows = conn.execute(
        "SELECT rowid, data FROM task_run_chunks WHERE flow_run_id = ? ORDER BY rowid DESC", (flow_run_id,)
    )
    for rowid, blob in rows:
        columns, _, _ = decode(blob)
        ids = columns[_ID]
        if seen.isdisjoint(ids) and len(set(ids)) == len(ids):  # the usual case: nothing replaced
            kept: Sequence[int] = range(len(ids))
        else:
            kept = []
            for index in range(len(ids) - 1, -1, -1):
                if ids[index] in seen:
                    summary.replaced.add((rowid, index))
                else:
                    seen.add(ids[index])
                    kept.append(index)
        if not where.is_open:
            kept = [index for index in kept if where.matches(columns, index)]
        _count(summary, columns, kept)
        seen.update(ids)
    summary.by_task = dict(sorted(summary.by_task.items(), key=lambda item: (item[1].first_started, item[0])))
    return summary


def iter_task_runs(
    conn: sqlite3.Connection, flow_run_id: str, where: TaskFilter = TaskFilter(),
    replaced: Set[tuple[int, int]] = frozenset(),
) -> Iterator[query.TaskRunRecord]:  # fmt: skip
    """The task runs that match, oldest chunk first, each chunk in start order."""
    rows = conn.execute(
        "SELECT rowid, data FROM task_run_chunks WHERE flow_run_id = ? ORDER BY rowid", (flow_run_id,)
    )
    for rowid, blob in rows:
        columns, errors, tags = decode(blob)
        picked = [
            index for index in range(len(columns[_ID]))
            if (rowid, index) not in replaced and (where.is_open or where.matches(columns, index))
        ]  # fmt: skip
        picked.sort(key=lambda index: _start_key(columns, index))
        for index in picked:
            yield query.TaskRunRecord(
                flow_run_id=flow_run_id,
                **{name: column[index] for name, column in zip(chunks.ROW_FIELDS, columns)},
                error=errors.get(index),
                tags=list(tags.get(index, ())),
            )


def task_names(conn: sqlite3.Connection, flow_run_id: str) -> dict[str, str]:
    """Task run id -> task run name, for every task run of a flow run."""
    names: dict[str, str] = {}
    for (blob,) in conn.execute(
        "SELECT data FROM task_run_chunks WHERE flow_run_id = ? ORDER BY rowid", (flow_run_id,)
    ):
        columns, _, _ = decode(blob)
        names.update(zip(columns[_ID], columns[_NAME]))
    return names


def decode(blob: bytes) -> tuple[list[Sequence[Any]], dict[int, str], dict[int, list[str]]]:
    """A packed chunk's columns (indexable: constant columns expanded), errors and tags by index."""
    data = chunks.load(blob)
    count = data.get("n", 0)
    columns = [list(itertools.repeat(c["all"], count)) if isinstance(c, dict) else c for c in data["columns"]]
    return columns, data.get("errors", {}), data.get("tags", {})


def _count(summary: TaskRunsSummary, columns: Sequence[Sequence[Any]], kept: Sequence[int]) -> None:
    """Count the runs at ``kept`` in, grouped by task name (in bulk: a chunk is often one map)."""
    if not kept:
        return
    tasks = columns[_TASK]
    groups: dict[str, list[int]] = {}
    if tasks[kept[0]] == tasks[kept[-1]] and tasks.count(tasks[kept[0]]) == len(tasks):
        groups[str(tasks[kept[0]])] = list(kept)
    else:
        for index in kept:
            groups.setdefault(str(tasks[index]), []).append(index)
    names, states, types_ = columns[_NAME], columns[_STATE], columns[_TYPE]
    starts, ends = columns[_START], columns[_END]
    whole = len(groups) == 1 and len(kept) == len(names)  # the usual chunk: all of it, one task
    for task_name, indexes in groups.items():
        stats = summary.by_task.get(task_name)
        if stats is None:
            stats = summary.by_task[task_name] = TaskStats(task_name)
        stats.runs += len(indexes)
        picked_states = states if whole else [states[i] for i in indexes]
        for state, count in Counter(picked_states).items():
            label = state or str(types_[indexes[picked_states.index(state)]]).capitalize()
            stats.states[label] = stats.states.get(label, 0) + count
        picked_starts = starts if whole else [starts[i] for i in indexes]
        stats.durations.extend(_durations(picked_starts, ends if whole else [ends[i] for i in indexes]))
        stats.first_started = min(stats.first_started, _earliest(picked_starts))
    summary.total += len(kept)
    width = max(map(len, names)) if whole else max(len(str(names[i])) for i in kept)
    summary.name_width = max(summary.name_width, width)


def _earliest(starts: Sequence[Any]) -> float:
    try:
        return min(starts, default=math.inf)
    except TypeError:  # some never started
        return min((start for start in starts if isinstance(start, (int, float))), default=math.inf)


def _durations(starts: Sequence[Any], ends: Sequence[Any]) -> list[float]:
    try:
        durations = list(map(operator.sub, ends, starts))
    except TypeError:  # a run that never started or ended: no duration
        return [
            max(end - start, 0.0) for start, end in zip(starts, ends)
            if isinstance(start, (int, float)) and isinstance(end, (int, float))
        ]  # fmt: skip
    if durations and min(durations) < 0:  # a clock that stepped back
        durations = [max(duration, 0.0) for duration in durations]
    return durations


def _start_key(columns: Sequence[Sequence[Any]], index: int) -> float:
    for value in (columns[_START][index], columns[_END][index]):
        if isinstance(value, (int, float)):
            return value
    return float("inf")


__all__ = [
    "TaskFilter",
    "TaskRunsSummary",
    "TaskStats",
    "decode",
    "iter_task_runs",
    "scan",
    "stream",
    "summarize",
    "task_names",
]
