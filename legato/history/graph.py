"""Draw the task graph of a recorded flow run as Mermaid or Graphviz DOT text.

A ``.map`` over a thousand items would make a thousand boxes, so the runs of
one mapped task (same ``task_name``, ``map_index`` set) become one node,
labelled with how many runs ended in which state::

    square [x100: 98 Completed, 2 Failed]

Every other task run is its own node. Edges between nodes are deduplicated,
and edges inside one group are dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from legato.history.query import PathLike, TaskRunRecord, edges, get_run, task_runs

FORMATS = ("mermaid", "dot")
_FAILED_TYPES = frozenset({"FAILED", "CRASHED"})


@dataclass
class GraphNode:
    """One box of the drawing: a single task run or a group of mapped runs."""

    id: str
    task_name: str
    label: str = ""
    mapped: bool = False
    runs: list[TaskRunRecord] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(run.state_type in _FAILED_TYPES for run in self.runs)


def render_graph(run_id: str, format: str = "mermaid", *, db: PathLike | None = None) -> str:
    """The task graph of flow run ``run_id`` (or a unique prefix) as text."""
    if format not in FORMATS:
        raise ValueError(f"unknown graph format {format!r}; choose from {', '.join(FORMATS)}")
    run = get_run(run_id, db=db)
    nodes, node_edges = build_graph(task_runs(run.id, db=db), edges(run.id, db=db))
    return _RENDERERS[format](run.flow_name, nodes, node_edges)


def build_graph(
    runs: Iterable[TaskRunRecord], links: Iterable[tuple[str, str]]
) -> tuple[list[GraphNode], list[tuple[str, str]]]:
    """Group task runs into nodes and map task-run edges onto node edges."""
    nodes: dict[tuple[str, str], GraphNode] = {}
    node_of_run: dict[str, GraphNode] = {}
    for run in runs:
        mapped = run.map_index is not None
        key = ("map", run.task_name) if mapped else ("run", run.id)
        node = nodes.get(key)
        if node is None:
            node = nodes[key] = GraphNode(id=f"n{len(nodes)}", task_name=run.task_name, mapped=mapped)
        node.runs.append(run)
        node_of_run[run.id] = node
    for node in nodes.values():
        node.label = _label(node)

    node_edges: dict[tuple[str, str], None] = {}
    for upstream, downstream in links:
        source, target = node_of_run.get(upstream), node_of_run.get(downstream)
        if source is not None and target is not None and source is not target:
            node_edges[(source.id, target.id)] = None
    return list(nodes.values()), list(node_edges)


def _label(node: GraphNode) -> str:
    if not node.mapped:
        run = node.runs[0]
        return f"{run.name} [{run.state_name}]"
    counts = Counter(run.state_name for run in node.runs)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    summary = ", ".join(f"{count} {state}" for state, count in ordered)
    return f"{node.task_name} [x{len(node.runs)}: {summary}]"


def _mermaid(title: str, nodes: list[GraphNode], node_edges: list[tuple[str, str]]) -> str:
    lines = ["flowchart LR"]
    lines += [f'    {node.id}["{_mermaid_text(node.label)}"]' for node in nodes]
    lines += [f"    {source} --> {target}" for source, target in node_edges]
    failed = [node.id for node in nodes if node.failed]
    if failed:
        lines.append("    classDef failed fill:#fde2e2,stroke:#c0392b")
        lines.append(f"    class {','.join(failed)} failed")
    return "\n".join(lines) + "\n"


def _dot(title: str, nodes: list[GraphNode], node_edges: list[tuple[str, str]]) -> str:
    lines = [f'digraph "{_dot_text(title)}" {{', "    rankdir=LR;", "    node [shape=box];"]
    for node in nodes:
        color = ", color=red" if node.failed else ""
        lines.append(f'    {node.id} [label="{_dot_text(node.label)}"{color}];')
    lines += [f"    {source} -> {target};" for source, target in node_edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


_RENDERERS: dict[str, Callable[[str, list[GraphNode], list[tuple[str, str]]], str]] = {
    "mermaid": _mermaid,
    "dot": _dot,
}

__all__ = ["FORMATS", "GraphNode", "build_graph", "render_graph"]
