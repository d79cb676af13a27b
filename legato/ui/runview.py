"""One flow run as the web view sees it: its task runs in columns, and what pages need from them.

A run of 200,000 task runs must render in well under two seconds, on every
poll of a live page, so nothing here makes an object per task run:

* the task runs are read as columns (:func:`legato.history.query.task_run_columns`)
  and kept in a small cache per run; a poll of a running flow reads only the
  chunks written since the last one and extends the cached columns;
* every aggregate (counts per state, graph nodes, start order, timeline
  lanes) is computed once per version of the columns and reused;
* the task-run table is paged here, so a page builds 50 records, not 200,000.

The graph groups the runs of a mapped task into one node (as ``legato graph``
does); a run with more than :data:`MAX_NODES` nodes even then groups every
task name into one node, so the drawing stays readable whatever the run.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from legato.history.query import FlowRunRecord, TaskRunColumns, TaskRunRecord, get_run, task_run_columns

#: above this many nodes, the graph groups runs by task name only
MAX_NODES = 120
#: runs at most this many task runs get one timeline lane per task run
LANE_PER_RUN_LIMIT = 40
#: bars drawn in a whole timeline at most (sampled beyond that)
TIMELINE_BARS = 2400
#: stacked rows of bars in one timeline lane at most
LANE_ROWS = 6
FAILED_TYPES = frozenset({"FAILED", "CRASHED"})
STATE_ORDER = ("COMPLETED", "RUNNING", "PENDING", "FAILED", "CRASHED", "CANCELLED")


@dataclass
class GraphNode:
    """A box in the graph: one task run, or every run of a mapped task (or of a task name)."""

    key: str
    id: str
    task_name: str
    label: str
    grouped: bool
    first_start: float
    count: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_name: Counter[str] = field(default_factory=Counter)
    task_run_id: str | None = None  # a node of one task run links to it

    def state_type(self) -> str:
        """The colour of the node: failed beats running beats the rest."""
        for kind in ("FAILED", "CRASHED", "RUNNING", "CANCELLED", "PENDING"):
            if self.by_type.get(kind):
                return kind
        return "COMPLETED"

    def segments(self) -> list[tuple[str, int]]:
        """``(state type, count)`` in a fixed order, for the node's state bar."""
        return [(kind, self.by_type[kind]) for kind in STATE_ORDER if self.by_type.get(kind)]

    def summary(self) -> str:
        """``98 Completed · 2 Failed``: counts per state name, biggest first."""
        ordered = sorted(self.by_name.items(), key=lambda item: (-item[1], item[0]))
        return " · ".join(f"{count:,} {name}" for name, count in ordered)


@dataclass
class Graph:
    nodes: list[GraphNode]
    edges: list[tuple[int, int]]  # indexes into nodes


@dataclass
class Bar:
    """One bar of the timeline: a task run, or the span of a lane."""

    start: float
    end: float
    state_type: str
    title: str
    task_run_id: str | None = None


@dataclass
class Lane:
    label: str
    count: int
    span: Bar | None
    rows: list[list[Bar]]
    sampled: bool = False


@dataclass
class Timeline:
    start: float
    end: float
    lanes: list[Lane]
    drawn: int
    total: int


@dataclass(frozen=True)
class TaskPage:
    records: list[TaskRunRecord]
    total: int


class RunView:
    """A flow run and its task runs, with aggregates computed once per version."""

    def __init__(self, run: FlowRunRecord, tasks: TaskRunColumns) -> None:
        self.run = run
        self.tasks = tasks
        self._derived: dict[str, Any] = {}
        self._version = -1

    @property
    def version(self) -> tuple[int, int, str]:
        """Changes whenever what the page shows could change."""
        return (len(self.tasks), self.tasks.last_rowid, self.run.state_type)

    def update(self, run: FlowRunRecord, more: TaskRunColumns) -> None:
        if (run.state_type, run.ended_at) != (self.run.state_type, self.run.ended_at):
            self._derived.pop("timeline", None)
        self.run = run
        if len(more):
            self.tasks.extend(more)
            self._derived.clear()
        elif self.run.ended_at is None:
            self._derived.pop("timeline", None)  # a running flow's timeline grows with the clock

    def _cached(self, name: str, compute: Callable[[], Any]) -> Any:
        if name not in self._derived:
            self._derived[name] = compute()
        return self._derived[name]

    # -- counts -------------------------------------------------------------------

    def counts_by_type(self) -> Counter[str]:
        return self._cached("by_type", lambda: Counter(self.tasks.columns["state_type"]))

    def counts_by_name(self) -> Counter[str]:
        return self._cached("by_name", lambda: Counter(self.tasks.columns["state_name"]))

    def task_names(self) -> list[str]:
        """Task names in the order they first started."""
        def compute() -> list[str]:
            return list(dict.fromkeys(node.task_name for node in self.graph().nodes))
        return self._cached("task_names", compute)

    def errors(self, limit: int = 5) -> list[TaskRunRecord]:
        """The first failed task runs with an error, in start order."""
        positions = self._cached("errors", lambda: sorted(self.tasks.errors, key=self._start_of))
        return [self.tasks.record(i) for i in positions[:limit]]

    # -- order and paging -----------------------------------------------------------

    def order_by_start(self) -> list[int]:
        def compute() -> list[int]:
            starts = self.tasks.columns["started_at"]
            if None not in starts:  # the usual case: sort on the column itself, in C
                return sorted(range(len(starts)), key=starts.__getitem__)
            return sorted(range(len(self.tasks)), key=self._start_of)
        return self._cached("order", compute)

    def _start_of(self, i: int) -> float:
        for column in ("started_at", "ended_at"):
            value = self.tasks.columns[column][i]
            if isinstance(value, (int, float)):
                return float(value)
        return float("inf")

    def page(
        self, *, state: str | None = None, task: str | None = None, text: str | None = None,
        offset: int = 0, limit: int = 50,
    ) -> TaskPage:
        """Task runs in start order matching every filter given; only one page becomes records."""
        columns = self.tasks.columns
        order = self.order_by_start()
        if state:
            types = columns["state_type"]
            order = [i for i in order if types[i] == state]
        if task:
            names = columns["task_name"]
            order = [i for i in order if names[i] == task]
        if text:
            needle, run_names = text.lower(), columns["name"]
            order = [i for i in order if needle in str(run_names[i]).lower()]
        chosen = order[max(offset, 0) : max(offset, 0) + limit]
        return TaskPage([self.tasks.record(i) for i in chosen], len(order))

    def task_run(self, task_run_id: str) -> TaskRunRecord | None:
        i = self.tasks.position(task_run_id)
        if i is None:
            matches = [j for j, value in enumerate(self.tasks.columns["id"]) if str(value).startswith(task_run_id)]
            if len(matches) != 1:
                return None
            i = matches[0]
        return self.tasks.record(i)

    def task_label(self, task_run_id: str) -> str:
        """A task run's name for a log line (its id when it is not recorded yet)."""
        i = self.tasks.position(task_run_id)
        return str(self.tasks.columns["name"][i]) if i is not None else task_run_id[:8]

    def neighbours(self, task_run_id: str) -> tuple[list[TaskRunRecord], list[TaskRunRecord]]:
        """The upstream and downstream task runs of one task run (at most 50 each)."""
        ups = [u for u, d in self.tasks.edges if d == task_run_id]
        downs = [d for u, d in self.tasks.edges if u == task_run_id]

        def records(ids: list[str]) -> list[TaskRunRecord]:
            found = (self.tasks.position(i) for i in dict.fromkeys(ids))
            return [self.tasks.record(p) for p in found if p is not None][:50]

        return records(ups), records(downs)

    # -- graph ----------------------------------------------------------------------

    def graph(self) -> Graph:
        return self._cached("graph", self._build_graph)

    def _build_graph(self) -> Graph:
        columns = self.tasks.columns
        names, indexes, ids = columns["task_name"], columns["map_index"], columns["id"]
        if None not in indexes:  # every run is mapped: one node per task name (keys are the names)
            keys, prefix = names, "map:"
        else:
            keys = [f"map:{n}" if m is not None else f"run:{i}" for n, m, i in zip(names, indexes, ids)]
            prefix = ""
            if len(set(keys)) > MAX_NODES:
                keys, prefix = names, "task:"
        first: dict[str, int] = {}
        for i in self.order_by_start():  # first run of each node, in start order
            if keys[i] not in first:
                first[keys[i]] = i
        nodes: list[GraphNode] = []
        number: dict[str, int] = {}
        for key, i in first.items():
            single = not prefix and key.startswith("run:")
            number[key] = len(nodes)
            nodes.append(GraphNode(
                key=prefix + str(key), id=f"n{len(nodes)}", task_name=str(names[i]),
                label=str(columns["name"][i]) if single else str(names[i]),
                grouped=not single, first_start=self._start_of(i), task_run_id=str(ids[i]) if single else None,
            ))  # fmt: skip
        per_key = Counter(keys)
        for key, count in per_key.items():
            nodes[number[key]].count = count
        for column, counter in ((columns["state_type"], "by_type"), (columns["state_name"], "by_name")):
            if column and column.count(column[0]) == len(column):  # one state for the whole run (in C)
                for key, count in per_key.items():
                    getattr(nodes[number[key]], counter)[column[0]] += count
                continue
            for (key, value), count in Counter(zip(keys, column)).items():
                getattr(nodes[number[key]], counter)[value] += count
        edges: dict[tuple[int, int], None] = {}
        where = self.tasks.position
        for upstream, downstream in self.tasks.edges:
            a, b = where(upstream), where(downstream)
            if a is not None and b is not None and keys[a] != keys[b]:
                edges[(number[keys[a]], number[keys[b]])] = None
        return Graph(nodes, list(edges))

    # -- timeline -------------------------------------------------------------------

    def timeline(self) -> Timeline:
        return self._cached("timeline", self._build_timeline)

    def _build_timeline(self) -> Timeline:
        columns = self.tasks.columns
        starts, ends = columns["started_at"], columns["ended_at"]
        order = self.order_by_start()
        if None in starts or None in ends:
            order = [i for i in order if _number(starts[i]) and _number(ends[i])]
        begin = self.run.started_at
        finish = self.run.ended_at or time.time()
        if order:
            begin = min(begin, starts[order[0]])
            finish = max(finish, max(ends) if None not in ends else max(ends[i] for i in order))
        if len(order) <= LANE_PER_RUN_LIMIT:
            lanes = [Lane(str(columns["name"][i]), 1, None, [[self._bar(i)]]) for i in order]
            return Timeline(begin, finish, lanes, len(order), len(order))
        names = columns["task_name"]
        by_task: dict[str, list[int]] = {}
        if names.count(names[0]) == len(names):  # one task (one big map): no grouping loop
            by_task[names[0]] = order
        else:
            for i in order:
                by_task.setdefault(names[i], []).append(i)
        per_lane = max(30, TIMELINE_BARS // max(len(by_task), 1))
        types = columns["state_type"]
        any_failed = any(self.counts_by_type().get(kind) for kind in FAILED_TYPES)
        failed = (lambda i: types[i] in FAILED_TYPES) if any_failed else None
        lanes, drawn = [], 0
        for name, members in by_task.items():
            chosen = _sample(members, per_lane, failed)
            drawn += len(chosen)
            span = Bar(starts[members[0]], max(map(ends.__getitem__, members)), "SPAN", "")
            bars = [self._bar(i) for i in chosen]
            lanes.append(Lane(str(name), len(members), span, _pack_rows(bars), sampled=len(chosen) < len(members)))
        return Timeline(begin, finish, lanes, drawn, len(order))

    def _bar(self, i: int) -> Bar:
        columns = self.tasks.columns
        start, end = float(columns["started_at"][i]), float(columns["ended_at"][i])
        title = f"{columns['name'][i]} · {columns['state_name'][i]} · {end - start:.3f}s"
        return Bar(start, end, str(columns["state_type"][i]), title, str(columns["id"][i]))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _sample(members: list[int], limit: int, keep: Callable[[int], bool] | None) -> list[int]:
    """At most ``limit`` of ``members`` spread evenly, failed ones first kept (in order)."""
    if len(members) <= limit:
        return members
    kept = list(itertools.islice(filter(keep, members), limit // 4)) if keep else []
    room = limit - len(kept)
    step = len(members) / room
    chosen = set(kept) | {members[int(k * step)] for k in range(room)}
    return [i for i in members if i in chosen]


def _pack_rows(bars: list[Bar]) -> list[list[Bar]]:
    """Bars (sorted by start) into rows where they do not overlap; the last row takes the rest."""
    rows: list[list[Bar]] = []
    for bar in bars:
        for row in rows:
            if row[-1].end <= bar.start:
                row.append(bar)
                break
        else:
            if len(rows) < LANE_ROWS:
                rows.append([bar])
            else:
                min(rows, key=lambda r: r[-1].end).append(bar)
    return rows


class RunCache:
    """The last few runs' views, brought up to date on every request (thread-safe)."""

    def __init__(self, db: Path | None, size: int = 4) -> None:
        self.db = db
        self.size = size
        self._views: OrderedDict[str, RunView] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: str) -> RunView:
        """The view of ``run_id`` (or a unique prefix), reading only chunks not read yet."""
        run = get_run(run_id, db=self.db)
        with self._lock:
            view = self._views.get(run.id)
            if view is None:
                view = RunView(run, task_run_columns(run.id, db=self.db))
                self._views[run.id] = view
                while len(self._views) > self.size:
                    self._views.popitem(last=False)
            else:
                view.update(run, task_run_columns(run.id, after=view.tasks.last_rowid, db=self.db))
                self._views.move_to_end(run.id)
            return view


__all__ = ["Bar", "Graph", "GraphNode", "Lane", "RunCache", "RunView", "TaskPage", "Timeline"]
