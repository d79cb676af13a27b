"""The pieces under the pages: column reads of task runs, the run cache, layout, flow stats."""

from __future__ import annotations

import time
from pathlib import Path

from legato.history import HistoryRecorder
from legato.history.query import get_run, task_run_columns
from legato.ui.layout import layout_graph
from legato.ui.runview import Graph, GraphNode, RunCache
from legato.ui.stats import flow_stats, percentile


def _task(recorder: HistoryRecorder, flow_id: str, task_id: str, state: str = "COMPLETED", **extra) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    fields = dict(
        id=task_id, flow_run_id=flow_id, name=f"{task_id}-0", task_name="work", map_index=None,
        state_type=state, state_name=state.capitalize(), attempts=1, started_at=now, ended_at=now + 0.01,
        error=None, upstream_ids=[], tags=[],
    )  # fmt: skip
    fields.update(extra)
    recorder.task_run_finished(**fields)


def test_columns_keep_the_later_record_of_a_task_run_and_read_incrementally(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with HistoryRecorder(db) as recorder:
        recorder.flow_run_started(id="flow-1", name="n", flow_name="f", parameters={}, run_key=None,
                                  runner="threads", tags=[], started_at=time.time())
        _task(recorder, "flow-1", "a", "FAILED", error="boom")
        _task(recorder, "flow-1", "b")
        recorder.flush()
        cache = RunCache(db)
        view = cache.get("flow-1")
        assert len(view.tasks) == 2 and view.counts_by_type()["FAILED"] == 1
        first_rowid = view.tasks.last_rowid
        _task(recorder, "flow-1", "a", "COMPLETED", upstream_ids=["b"])  # recorded again: it wins
        _task(recorder, "flow-1", "c", map_index=0, task_name="mapped")
        recorder.flush()
        assert len(task_run_columns("flow-1", after=first_rowid, db=db)) == 2  # only the new chunk
        view = cache.get("flow-1")
    assert len(view.tasks) == 3
    assert view.counts_by_type() == {"COMPLETED": 3}
    assert view.task_run("a").error is None and view.tasks.errors == {}
    again = task_run_columns("flow-1", db=db)  # read at once, same answer
    assert sorted(again.columns["id"]) == ["a", "b", "c"] and again.record(again.position("a")).state_type == "COMPLETED"
    graph = view.graph()
    assert {n.key for n in graph.nodes} == {"run:a", "run:b", "map:mapped"}
    assert len(graph.edges) == 1
    assert get_run("flow-1", db=db).task_count == 4  # the SQL count is of records, the view of task runs


def _node(key: str, start: float) -> GraphNode:
    return GraphNode(key=key, id=key, task_name=key, label=key, grouped=False, first_start=start, count=1)


def test_graph_layout_puts_each_node_right_of_its_upstreams() -> None:
    nodes = [_node(k, i) for i, k in enumerate("abcde")]
    edges = [(0, 1), (1, 2), (0, 3), (3, 2), (2, 4)]
    layout = layout_graph(Graph(nodes, edges))
    x = {placed.node.key: placed.x for placed in layout.nodes}
    assert x["a"] < x["b"] == x["d"] < x["c"] < x["e"]
    assert len(layout.edges) == 5 and all(d.startswith("M") for d in layout.edges)
    ys = [placed.y for placed in layout.nodes if placed.x == x["b"]]
    assert len(set(ys)) == 2  # two nodes in one layer do not overlap


def test_graph_layout_survives_a_cycle_from_a_damaged_file() -> None:
    layout = layout_graph(Graph([_node("a", 0), _node("b", 1)], [(0, 1), (1, 0)]))
    assert len(layout.nodes) == 2


def test_percentiles_and_failure_rate() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0
    from legato.history.query import FlowRunRecord

    def run(state: str, duration: float | None) -> FlowRunRecord:
        return FlowRunRecord(id=state + str(duration), name="n", flow_name="f", parameters={}, run_key=None,
                             runner=None, tags=[], state_type=state, state_name=state, pid=None, hostname=None,
                             started_at=100.0, ended_at=None if duration is None else 100.0 + duration, error=None)

    stats = flow_stats("f", [run("COMPLETED", 1.0), run("COMPLETED", 3.0), run("FAILED", 9.0), run("RUNNING", None)])
    assert stats.p50 == 1.0 and stats.p95 == 3.0
    assert stats.failure_rate == 1 / 3 and stats.running == 1


def test_readme_web_view_example_runs() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Web view", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]
    assert blocks
    for block in blocks:
        namespace: dict[str, object] = {}
        exec(compile(block, "README.md", "exec"), namespace)
        assert callable(namespace["app"])
