"""The recorder writes what the engine tells it, and the reader gives it back."""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from legato.history import (
    HistoryRecorder,
    RunLogHandler,
    edges,
    get_run,
    run_logs,
    task_runs,
)
from legato.history.schema import SCHEMA_VERSION


def test_flow_run_round_trip(db, recorder, start_flow):
    started = time.time()
    run_id = start_flow(parameters={"n": 3, "name": "ada"}, run_key="k1", tags=["a", "b"], started_at=started)

    running = get_run(run_id, db=db)
    assert (running.state_type, running.state_name) == ("RUNNING", "Running")
    assert running.pid == os.getpid() and running.hostname == socket.gethostname()

    recorder.flow_run_finished(id=run_id, state_type="FAILED", state_name="Failed", ended_at=started + 2, error="ValueError: boom")
    run = get_run(run_id, db=db)
    assert run.flow_name == "pipeline" and run.name == "brave-otter"
    assert run.parameters == {"n": "3", "name": "'ada'"}
    assert run.run_key == "k1" and run.runner == "threads" and run.tags == ["a", "b"]
    assert (run.state_type, run.state_name, run.error) == ("FAILED", "Failed", "ValueError: boom")
    assert run.duration == pytest.approx(2)


def test_task_runs_edges_and_logs_round_trip(db, recorder, start_flow, finish_task):
    run_id = start_flow()
    first = finish_task(run_id, name="load-0", task_name="load")
    second = finish_task(
        run_id, name="square-1", task_name="square", map_index=1, state_type="FAILED",
        state_name="TimedOut", attempts=3, error="TaskTimeoutError: too slow", upstream_ids=[first], tags=["t"],
    )  # fmt: skip
    recorder.log(flow_run_id=run_id, task_run_id=None, ts=1.0, level="INFO", logger="legato.flow", message="start")
    recorder.log(flow_run_id=run_id, task_run_id=second, ts=2.0, level="ERROR", logger="legato.task", message="oops")
    recorder.flow_run_finished(id=run_id, state_type="COMPLETED", state_name="Completed", ended_at=time.time(), error=None)

    tasks = task_runs(run_id, db=db)
    assert [t.id for t in tasks] == [first, second]
    square = tasks[1]
    assert (square.task_name, square.map_index, square.state_type, square.state_name) == ("square", 1, "FAILED", "TimedOut")
    assert (square.attempts, square.error, square.tags) == (3, "TaskTimeoutError: too slow", ["t"])
    assert edges(run_id, db=db) == [(first, second)]
    logs = run_logs(run_id, db=db)
    assert [(line.task_run_id, line.level, line.message) for line in logs] == [(None, "INFO", "start"), (second, "ERROR", "oops")]
    assert get_run(run_id, db=db).task_count == 2 and get_run(run_id, db=db).failed_task_count == 1


def test_parameters_are_a_safe_bounded_summary(db, recorder, start_flow):
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    run_id = start_flow(parameters={"bad": Hostile(), "long": "x" * 10_000, "rows": list(range(100_000))})
    parameters = get_run(run_id, db=db).parameters
    assert "Hostile" in parameters["bad"]  # a placeholder, not an exception
    assert all(len(value) <= 200 for value in parameters.values())
    assert parameters["rows"].startswith("[0, 1, 2")


def test_ten_thousand_task_runs_are_queued_quickly_and_all_written(db, recorder, start_flow):
    run_id = start_flow()
    started = time.perf_counter()
    for i in range(10_000):
        recorder.task_run_finished(
            id=f"t{i}", flow_run_id=run_id, name=f"square-{i}", task_name="square", map_index=i,
            state_type="COMPLETED", state_name="Completed", attempts=1, started_at=1.0, ended_at=2.0,
            error=None, upstream_ids=[f"t{i - 1}"] if i else [], tags=[],
        )  # fmt: skip
    elapsed = time.perf_counter() - started
    recorder.close()

    assert elapsed < 1.0, f"10,000 calls took {elapsed:.2f}s: recording is on the hot path"
    assert len(task_runs(run_id, db=db)) == 10_000
    assert len(edges(run_id, db=db)) == 9_999


def test_writer_thread_writes_in_the_background_without_flush(db, start_flow):
    rec = HistoryRecorder(db, flush_interval=0.02)
    try:
        rec.flow_run_started(id="bg", name="n", flow_name="f", parameters={}, run_key=None, runner="sync", tags=[], started_at=1.0)
        rec.log(flow_run_id="bg", task_run_id=None, ts=1.0, level="INFO", logger="x", message="hello")
        deadline = time.monotonic() + 5
        while not run_logs("bg", db=db) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [line.message for line in run_logs("bg", db=db)] == ["hello"]
    finally:
        rec.close()


def test_close_is_idempotent_and_later_calls_are_ignored(db, recorder, start_flow, finish_task):
    run_id = start_flow()
    recorder.close()
    recorder.close()
    finish_task(run_id)
    recorder.flow_run_finished(id=run_id, state_type="COMPLETED", state_name="Completed", ended_at=1.0, error=None)
    assert task_runs(run_id, db=db) == []
    assert "closed" in repr(recorder)


def test_context_manager_closes(db):
    with HistoryRecorder(db) as rec:
        rec.flow_run_started(id="cm", name="n", flow_name="f", parameters={}, run_key=None, runner="sync", tags=[], started_at=1.0)
        rec.log(flow_run_id="cm", task_run_id=None, ts=1.0, level="INFO", logger="x", message="queued")
    assert [line.message for line in run_logs("cm", db=db)] == ["queued"]


def test_default_path_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGATO_DATABASE", str(tmp_path / "elsewhere" / "h.db"))
    with HistoryRecorder() as rec:
        assert rec.path == tmp_path / "elsewhere" / "h.db"
        rec.flow_run_started(id="env", name="n", flow_name="f", parameters={}, run_key=None, runner="sync", tags=[], started_at=1.0)
    assert get_run("env").flow_name == "f"


def test_schema_version_and_wal_mode(db, start_flow):
    start_flow()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"flow_runs", "task_run_chunks", "logs"} <= tables
    finally:
        conn.close()


def test_entrypoint_is_claimed_from_the_environment_once(db, recorder, start_flow, monkeypatch):
    monkeypatch.setenv("LEGATO_ENTRYPOINT", "/flows/etl.py:etl")
    monkeypatch.setenv("LEGATO_CLI_PARAMETERS", json.dumps({"n": "3"}))
    parent = start_flow()
    child = start_flow()  # e.g. a subflow: must not claim the parent's entrypoint

    assert get_run(parent, db=db).entrypoint == "/flows/etl.py:etl"
    assert get_run(parent, db=db).cli_parameters == {"n": "3"}
    assert get_run(child, db=db).entrypoint is None
    assert "LEGATO_ENTRYPOINT" not in os.environ


def test_explicit_entrypoint_wins(db, recorder, start_flow):
    run_id = start_flow(entrypoint="a.py:f", cli_parameters={"x": "1"})
    run = get_run(run_id, db=db)
    assert (run.entrypoint, run.cli_parameters) == ("a.py:f", {"x": "1"})


def test_unwritable_database_warns_once_and_never_raises(tmp_path, caplog):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    rec = HistoryRecorder(not_a_folder / "history.db")
    with caplog.at_level(logging.WARNING, logger="legato.history"):
        rec.flow_run_started(id="x", name="n", flow_name="f", parameters={}, run_key=None, runner="sync", tags=[], started_at=1.0)
        rec.flow_run_finished(id="x", state_type="COMPLETED", state_name="Completed", ended_at=2.0, error=None)
        rec.close()
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_run_log_handler_forwards_only_run_records(db, recorder, start_flow):
    run_id = start_flow()
    logger = logging.getLogger("legato.test.handler")
    logger.setLevel(logging.INFO)
    handler = RunLogHandler(recorder)
    logger.addHandler(handler)
    try:
        logger.info("not in a run")
        logger.info("in the flow %d", 1, extra={"flow_run_id": run_id})
        logger.warning("in a task", extra={"flow_run_id": run_id, "task_run_id": "t1"})
        try:
            raise ValueError("kaput")
        except ValueError:
            logger.exception("failed", extra={"flow_run_id": run_id, "task_run_id": "t1"})
    finally:
        logger.removeHandler(handler)
    recorder.flow_run_finished(id=run_id, state_type="COMPLETED", state_name="Completed", ended_at=time.time(), error=None)

    logs = run_logs(run_id, db=db)
    assert [(line.task_run_id, line.level, line.message.splitlines()[0]) for line in logs] == [
        (None, "INFO", "in the flow 1"),
        ("t1", "WARNING", "in a task"),
        ("t1", "ERROR", "failed"),
    ]
    assert "ValueError: kaput" in logs[-1].message
    assert logs[0].logger == "legato.test.handler"


def test_a_forked_child_records_with_its_own_connection(db, recorder, start_flow):
    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    run_id = start_flow()
    pid = os.fork()
    if pid == 0:  # child: log through the inherited recorder, then exit hard
        code = 1
        try:
            recorder.log(flow_run_id=run_id, task_run_id=None, ts=5.0, level="INFO", logger="child", message="from child")
            recorder.flush()
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail("the forked child did not finish")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(waited[1]) == 0
    recorder.log(flow_run_id=run_id, task_run_id=None, ts=6.0, level="INFO", logger="parent", message="from parent")
    recorder.flush()
    assert [line.message for line in run_logs(run_id, db=db)] == ["from child", "from parent"]


def test_history_package_is_not_imported_by_legato(tmp_path):
    import subprocess
    import sys

    code = "import sys, legato; print(sorted(m for m in sys.modules if m.startswith(('legato.history', 'legato.cli'))))"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_safe_repr_survives_a_failing_repr_machinery():
    from legato.history.summary import safe_repr

    class Weird:
        __class__ = property(lambda self: (_ for _ in ()).throw(RuntimeError("no class")))  # type: ignore[assignment]

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert isinstance(safe_repr(Weird()), str)
    assert "..." in safe_repr("y" * 1000) and len(safe_repr("y" * 1000)) <= 200


def test_values_sqlite_cannot_store_do_not_cost_the_batch(db, recorder, start_flow, finish_task):
    import fractions

    class Name:
        def __str__(self) -> str:
            return "odd"

    run_id = start_flow()
    good = finish_task(run_id)
    odd = finish_task(run_id, map_index=fractions.Fraction(3), name=Name(), upstream_ids=[good])
    recorder.flush()
    tasks = {task.id: task for task in task_runs(run_id, db=db)}
    assert set(tasks) == {good, odd}
    assert tasks[odd].map_index == 3
    assert edges(run_id, db=db) == [(good, odd)]


def test_a_sink_taken_by_two_threads_while_filled_loses_and_repeats_nothing():
    """The writer and a flow's end may take from one sink at the same moment as the engine fills it."""
    from legato.history.recorder import TaskRunSink

    sink = TaskRunSink("flow", build_rows=lambda runs: ([], {}, {}))
    filled = threading.Event()
    taken: list[list[int]] = [[], []]
    errors: list[BaseException] = []

    def fill() -> None:
        for start in range(0, 200_000, 50):
            sink.runs.extend(range(start, start + 50))
        filled.set()

    def take(into: list[int]) -> None:
        try:
            while not filled.is_set() or sink.runs:
                into.extend(sink.take()[2])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fill), *(threading.Thread(target=take, args=(t,)) for t in taken)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up within a run
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads) and not errors
    assert sorted(taken[0] + taken[1]) == list(range(200_000))


def test_each_database_files_only_the_logs_of_its_own_runs(tmp_path, monkeypatch):
    """A process that writes two databases (LEGATO_DATABASE changed between flows) keeps their logs apart."""
    from legato import flow, get_run_logger
    from legato.history import list_runs, run_logs

    monkeypatch.setenv("LEGATO_HISTORY", "1")

    @flow
    def speaks(word: str) -> str:
        get_run_logger().info("said %s", word)
        return word

    first, second = tmp_path / "first.db", tmp_path / "second.db"
    monkeypatch.setenv("LEGATO_DATABASE", str(first))
    speaks("one")
    monkeypatch.setenv("LEGATO_DATABASE", str(second))
    speaks("two")
    for db, word, other in ((first, "one", "two"), (second, "two", "one")):
        (run,) = list_runs(db=db)
        lines = [line.message for line in run_logs(run.id, db=db)]
        assert any(f"said {word}" in line for line in lines), lines
        assert not any(f"said {other}" in line for line in lines), lines
    import sqlite3

    with sqlite3.connect(first) as conn:  # no row of the second run's logs in the first database at all
        assert conn.execute("SELECT count(*) FROM logs WHERE message LIKE '%said two%'").fetchone()[0] == 0
