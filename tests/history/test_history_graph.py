"""Graph rendering groups mapped task runs into one node per task."""

from __future__ import annotations

import pytest

from legato.history import render_graph


@pytest.fixture
def mapped_run(recorder, start_flow, finish_task) -> str:
    """load -> square.map(100) (98 Completed, 2 Failed) -> total (NotReady)."""
    run_id = start_flow(id="graph-run", flow_name='my "flow"')
    load = finish_task(run_id, name="load-0", task_name="load", started_at=1.0)
    squares = [
        finish_task(
            run_id, name=f"square-{i}", task_name="square", map_index=i, started_at=2.0 + i / 1000,
            state_type="FAILED" if i in (13, 42) else "COMPLETED",
            state_name="Failed" if i in (13, 42) else "Completed",
            upstream_ids=[load],
        )
        for i in range(100)
    ]  # fmt: skip
    finish_task(
        run_id, name="total-0", task_name="total", started_at=3.0, state_type="PENDING",
        state_name="NotReady", upstream_ids=squares,
    )  # fmt: skip
    recorder.flow_run_finished(id=run_id, state_type="FAILED", state_name="Failed", ended_at=4.0, error="boom")
    return run_id


def test_mermaid_groups_mapped_runs_and_deduplicates_edges(db, mapped_run):
    assert render_graph("graph", db=db) == (
        "flowchart LR\n"
        '    n0["load-0 [Completed]"]\n'
        '    n1["square [x100: 98 Completed, 2 Failed]"]\n'
        '    n2["total-0 [NotReady]"]\n'
        "    n0 --> n1\n"
        "    n1 --> n2\n"
        "    classDef failed fill:#fde2e2,stroke:#c0392b\n"
        "    class n1 failed\n"
    )


def test_dot_groups_mapped_runs_and_deduplicates_edges(db, mapped_run):
    assert render_graph(mapped_run, format="dot", db=db) == (
        'digraph "my \\"flow\\"" {\n'
        "    rankdir=LR;\n"
        "    node [shape=box];\n"
        '    n0 [label="load-0 [Completed]"];\n'
        '    n1 [label="square [x100: 98 Completed, 2 Failed]", color=red];\n'
        '    n2 [label="total-0 [NotReady]"];\n'
        "    n0 -> n1;\n"
        "    n1 -> n2;\n"
        "}\n"
    )


def test_two_mapped_tasks_and_a_self_dependency(db, recorder, start_flow, finish_task):
    run_id = start_flow()
    a = [finish_task(run_id, name=f"a-{i}", task_name="a", map_index=i, started_at=1.0) for i in range(3)]
    b = [
        finish_task(run_id, name=f"b-{i}", task_name="b", map_index=i, started_at=2.0, upstream_ids=[a[i], a[0]])
        for i in range(3)
    ]
    finish_task(run_id, name="a-3", task_name="a", map_index=3, started_at=3.0, upstream_ids=[a[0], b[0]])
    recorder.flush()
    assert render_graph(run_id, db=db) == (
        "flowchart LR\n"
        '    n0["a [x4: 4 Completed]"]\n'
        '    n1["b [x3: 3 Completed]"]\n'
        "    n0 --> n1\n"
        "    n1 --> n0\n"
    )


def test_a_run_without_tasks_and_a_bad_format(db, start_flow):
    run_id = start_flow()
    assert render_graph(run_id, db=db) == "flowchart LR\n"
    with pytest.raises(ValueError, match="unknown graph format"):
        render_graph(run_id, format="svg", db=db)
