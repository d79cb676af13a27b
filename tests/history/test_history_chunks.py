"""Task runs are stored in chunks; engine runs, keyword calls and old files all read back alike."""

from __future__ import annotations

import sqlite3
import time

import msgpack
import pytest

from legato import flow, tags, task, unmapped
from legato.history import edges, get_run, task_runs
from legato.history.chunks import Chunk, unpack
from legato.history.schema import SCHEMA_VERSION, connect
from legato.runners.threads import ThreadPoolTaskRunner


def test_a_chunk_round_trips_by_column_with_sparse_errors_and_tags():
    chunk = Chunk()
    chunk.add(("a", "load-0", "load", None, "COMPLETED", "Completed", 1, 1.0, 2.0), None, [], [])
    chunk.extend(
        [["b", "c"], ["sq-0", "sq-1"], ["sq", "sq"], [0, 1], ["COMPLETED", "FAILED"], ["Completed", "Failed"],
         [1, 3], [2.0, 2.5], [3.0, 4.0]],
        {1: "ValueError: odd"},
        {0: ["x"]},
    )  # fmt: skip
    chunk.edges.extend([("a", "b"), ("a", "c")])
    assert (len(chunk), chunk.failed_count) == (3, 1)

    runs, chunk_edges = unpack(chunk.pack())
    runs = list(runs)
    assert [r["id"] for r in runs] == ["a", "b", "c"]
    assert (runs[1]["tags"], runs[1]["error"]) == (["x"], None)
    assert (runs[2]["state_type"], runs[2]["attempts"], runs[2]["error"]) == ("FAILED", 3, "ValueError: odd")
    assert chunk_edges == [("a", "b"), ("a", "c")]


def test_a_column_with_one_value_is_packed_once_and_reads_back_per_run():
    n = 1_000
    chunk = Chunk()
    chunk.extend(
        [[f"id{i}" for i in range(n)], [f"a-very-long-task-name-{i}" for i in range(n)],
         ["a-very-long-task-name"] * n, list(range(n)), ["COMPLETED"] * n, ["Completed"] * n, [1] * n,
         [float(i) for i in range(n)], [i + 0.5 for i in range(n)]],
        {}, {},
    )  # fmt: skip
    blob = chunk.pack()
    assert blob.count(b"a-very-long-task-name") == n + 1  # the run names, and the task name once
    assert blob.count(b"Completed") == 1
    runs = list(unpack(blob)[0])
    assert len(runs) == n
    assert {(r["task_name"], r["state_type"], r["state_name"], r["attempts"]) for r in runs} == {
        ("a-very-long-task-name", "COMPLETED", "Completed", 1)
    }
    assert [r["map_index"] for r in runs] == list(range(n))
    assert runs[7]["ended_at"] == 7.5


def test_a_chunk_of_format_1_still_reads():
    """Format 1 (every column a list, no row count) is what older legato wrote."""
    blob = msgpack.packb({
        "v": 1,
        "columns": [["a"], ["load-0"], ["load"], [None], ["FAILED"], ["Failed"], [2], [1.0], [2.0]],
        "errors": {0: "KeyError: 'x'"}, "tags": {}, "edges": [["up", "a"]],
    })  # fmt: skip
    runs, chunk_edges = unpack(blob)
    (run,) = list(runs)
    assert (run["id"], run["state_type"], run["attempts"], run["error"]) == ("a", "FAILED", 2, "KeyError: 'x'")
    assert chunk_edges == [("up", "a")]


def test_values_msgpack_cannot_hold_are_kept_as_text_not_lost():
    chunk = Chunk()
    chunk.add(("a", "n", "t", 2**70, "COMPLETED", "Completed", 1, 1.0, 2.0), None, {"tag"}, ["up"])
    (run,), chunk_edges = _unpacked(chunk)
    assert run["map_index"] == str(2**70) and run["tags"] == ["tag"] and run["state_type"] == "COMPLETED"
    assert chunk_edges == [("up", "a")]


def _unpacked(chunk: Chunk) -> tuple[list[dict], list[tuple[str, str]]]:
    runs, chunk_edges = unpack(chunk.pack())
    return list(runs), chunk_edges


def test_engine_runs_are_recorded_with_states_errors_tags_and_edges(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path))
    monkeypatch.setenv("LEGATO_HISTORY", "1")

    @task
    def source() -> int:
        return 3

    @task(tags=["heavy"])
    def check(x: int, limit: int) -> int:
        if x > limit:
            raise ValueError(f"{x} is over {limit}")
        return x

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def pipeline(n: int) -> list[str]:
        limit = source.submit()
        with tags("nightly"):
            checked = check.map(range(n), unmapped(limit))
        total.submit(checked).wait()
        return [f.state.type.value for f in checked]

    assert pipeline(6) == ["COMPLETED"] * 4 + ["FAILED"] * 2
    run = get_run(_last_run_id())
    recorded = task_runs(run.id)
    by_name = {t.name: t for t in recorded}
    assert len(recorded) == 1 + 6 + 1 == run.task_count
    assert run.failed_task_count == 2
    over = [t for t in recorded if t.task_name == "check" and t.state_type == "FAILED"]
    assert sorted(t.map_index for t in over) == [4, 5]
    assert all("ValueError" in t.error and "is over 3" in t.error for t in over)
    assert all(t.tags == ["heavy", "nightly"] for t in recorded if t.task_name == "check")
    summed = next(t for t in recorded if t.task_name == "total")
    assert summed.state_name == "NotReady" and summed.error  # an upstream failed: says why
    source_id = next(t.id for t in recorded if t.task_name == "source")
    checks = {t.id for t in recorded if t.task_name == "check"}
    recorded_edges = set(edges(run.id))
    assert {(source_id, check_id) for check_id in checks} <= recorded_edges
    assert {(check_id, summed.id) for check_id in checks} <= recorded_edges
    assert len(by_name) == len(recorded)  # names are unique


def _last_run_id() -> str:
    from legato.history import list_runs

    return list_runs(limit=1)[0].id


_VERSION_1 = """
CREATE TABLE flow_runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, flow_name TEXT NOT NULL,
    parameters TEXT NOT NULL DEFAULT '{}', run_key TEXT, runner TEXT, tags TEXT NOT NULL DEFAULT '[]',
    state_type TEXT NOT NULL, state_name TEXT NOT NULL, pid INTEGER, hostname TEXT, started_at REAL NOT NULL,
    ended_at REAL, error TEXT, entrypoint TEXT, cli_parameters TEXT);
CREATE TABLE task_runs (id TEXT PRIMARY KEY, flow_run_id TEXT NOT NULL, name TEXT NOT NULL,
    task_name TEXT NOT NULL, map_index INTEGER, state_type TEXT NOT NULL, state_name TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1, started_at REAL, ended_at REAL, error TEXT,
    tags TEXT NOT NULL DEFAULT '[]');
CREATE TABLE task_edges (flow_run_id TEXT NOT NULL, upstream_id TEXT NOT NULL, downstream_id TEXT NOT NULL);
CREATE TABLE logs (flow_run_id TEXT NOT NULL, task_run_id TEXT, ts REAL NOT NULL, level TEXT NOT NULL,
    logger TEXT NOT NULL, message TEXT NOT NULL);
PRAGMA user_version = 1;
"""


def test_a_version_1_file_is_upgraded_in_place_and_reads_the_same(db):
    conn = sqlite3.connect(db)
    conn.executescript(_VERSION_1)
    conn.execute(
        "INSERT INTO flow_runs (id, name, flow_name, state_type, state_name, started_at, ended_at) "
        "VALUES ('old', 'n', 'f', 'FAILED', 'Failed', 1.0, 9.0)"
    )
    conn.executemany(
        "INSERT INTO task_runs VALUES (?, 'old', ?, 'work', ?, ?, ?, ?, ?, ?, ?, ?)",
        [("t0", "work-0", 0, "COMPLETED", "Completed", 1, 1.0, 2.0, None, "[]"),
         ("t1", "work-1", 1, "FAILED", "Failed", 2, 1.5, 3.0, "KeyError: 'x'", '["a"]')],
    )  # fmt: skip
    conn.execute("INSERT INTO task_edges VALUES ('old', 't0', 't1')")
    conn.commit()
    conn.close()

    connect(db).close()  # what any legato process does first

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert "task_runs" not in tables and "task_run_chunks" in tables
    recorded = task_runs("old", db=db)
    assert [(t.id, t.state_type, t.attempts, t.error, t.tags) for t in recorded] == [
        ("t0", "COMPLETED", 1, None, []),
        ("t1", "FAILED", 2, "KeyError: 'x'", ["a"]),
    ]
    assert edges("old", db=db) == [("t0", "t1")]
    assert (get_run("old", db=db).task_count, get_run("old", db=db).failed_task_count) == (2, 1)


def test_a_run_recorded_twice_reads_once_with_its_last_record(db, recorder, start_flow, finish_task):
    run_id = start_flow()
    finish_task(run_id, id="same", state_type="FAILED", state_name="Failed", error="first try")
    recorder.flush()
    finish_task(run_id, id="same", state_type="COMPLETED", state_name="Completed")
    recorder.flow_run_finished(id=run_id, state_type="COMPLETED", state_name="Completed", ended_at=time.time(), error=None)
    assert [(t.id, t.state_type, t.error) for t in task_runs(run_id, db=db)] == [("same", "COMPLETED", None)]


@pytest.mark.parametrize("n", [1, 2_500])
def test_a_flow_is_on_disk_when_it_returns(tmp_path, monkeypatch, n):
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path))
    monkeypatch.setenv("LEGATO_HISTORY", "1")

    @task
    def noop(x: int) -> int:
        return x

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def fan(n: int) -> int:
        return len(noop.map(range(n)).result())

    assert fan(n) == n
    run = _last_run_id()
    assert get_run(run).state_type == "COMPLETED"
    assert sorted(t.map_index for t in task_runs(run)) == list(range(n))


def test_a_future_mapped_over_is_an_upstream_of_every_element(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path))
    monkeypatch.setenv("LEGATO_HISTORY", "1")

    @task
    def load() -> list[int]:
        return [1, 2, 3]

    @task
    def square(x: int) -> int:
        return x * x

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def pipeline() -> list[int]:
        return square.map(load.submit()).result()

    assert pipeline() == [1, 4, 9]
    run_id = _last_run_id()
    recorded = task_runs(run_id)
    load_id = next(t.id for t in recorded if t.task_name == "load")
    squares = {t.id for t in recorded if t.task_name == "square"}
    assert len(squares) == 3
    assert set(edges(run_id)) == {(load_id, square_id) for square_id in squares}
