"""A damaged history database is moved aside and a new one started (issue 14, failure 7)."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest
from log_capture import WarningMessages

from legato import flow, task
from legato.cli.app import run_app
from legato.history import HistoryRecorder, list_runs, task_runs
from legato.history.healing import HistoryCorrupt, heal
from legato.runners import ThreadPoolTaskRunner


@task
def double(i: int) -> int:
    return 2 * i


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def doubles(n: int) -> int:
    return sum(double.map(range(n)).result())


@pytest.fixture
def warnings() -> WarningMessages:
    handler = WarningMessages()
    logging.getLogger("legato.history").addHandler(handler)
    yield handler
    logging.getLogger("legato.history").removeHandler(handler)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A real history of three flow runs of 300 task runs each, written by another recorder and closed.

    (Another process, in effect: this process's flows open their own connection to it.)
    """
    path = tmp_path / "home" / "history.db"
    with HistoryRecorder(path) as recorder:
        for f in range(3):
            flow_id = f"old-flow-{f}"
            recorder.flow_run_started(id=flow_id, name=f"old-{f}", flow_name="doubles", parameters={"n": 300},
                                      run_key=None, runner="threads", tags=[], started_at=time.time())
            for i in range(300):
                recorder.task_run_finished(id=f"{flow_id}-{i}", flow_run_id=flow_id, name=f"double-{i}",
                                           task_name="double", map_index=i, state_type="COMPLETED",
                                           state_name="Completed", attempts=1, started_at=time.time(),
                                           ended_at=time.time(), error=None, upstream_ids=[], tags=[])
            recorder.flow_run_finished(id=flow_id, state_type="COMPLETED", state_name="Completed",
                                       ended_at=time.time(), error=None)
    assert len(list_runs(db=path)) == 3
    return path


def overwrite_with_garbage(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def truncate_to_half(path: Path) -> None:
    with sqlite3.connect(path) as conn:  # fold the WAL into the file first, so the cut hits real pages
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(size // 2)


def moved_files(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(path.name + ".corrupt-")
                  and not p.name.endswith(("-wal", "-shm")))


@pytest.mark.parametrize("damage", [overwrite_with_garbage, truncate_to_half], ids=["garbage", "truncated"])
def test_a_flow_on_a_damaged_history_heals_it_and_loses_nothing(database: Path, damage, warnings: WarningMessages) -> None:
    damage(database)
    assert doubles(50) == 50 * 49  # the flow's own result
    moved = moved_files(database)
    assert len(moved) == 1
    healing = [m for m in warnings.messages if "damaged" in m]
    assert len(healing) == 1 and str(database) in healing[0] and str(moved[0]) in healing[0]
    runs = list_runs(db=database)  # the new database holds this flow run, whole
    assert [r.state_name for r in runs] == ["Completed"]
    assert len(task_runs(runs[0].id, db=database)) == 50
    assert doubles(10) == 90  # and later flows keep writing to it
    assert len(list_runs(db=database)) == 2 and len(moved_files(database)) == 1


@pytest.mark.parametrize("damage", [overwrite_with_garbage, truncate_to_half], ids=["garbage", "truncated"])
def test_runs_ls_on_a_damaged_history_says_where_it_went_in_one_line(database: Path, damage, capsys) -> None:
    damage(database)
    code = run_app(["runs", "ls"])
    err = capsys.readouterr().err.strip()
    moved = moved_files(database)
    assert code == 1 and len(moved) == 1
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(moved[0]) in err and "started a new one" in err and ".recover" in err
    assert run_app(["runs", "ls"]) == 0  # the new, empty database


def test_a_healthy_database_is_never_moved(database: Path) -> None:
    outcome = heal(database, "a stale report from another process")
    assert isinstance(outcome, HistoryCorrupt) and outcome.moved_to is None
    assert database.exists() and moved_files(database) == []
    assert len(list_runs(db=database)) == 3
