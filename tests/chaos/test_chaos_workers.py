"""SIGKILL a worker in the middle of a map: nothing is lost or wrong; what ran twice is counted."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import chaos_tasks
import pytest
from chaos_support import Clock, markers, tally
from log_capture import WarningMessages

from legato import flow, unmapped

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

N = 300
KILL_AFTER = 60


def kill_a_busy_worker(folder: Path, flow_pid: int, killed: list[int], deadline: float,
                       stop: threading.Event) -> None:
    """Once KILL_AFTER elements are done, SIGKILL the process that started the latest element."""
    while time.monotonic() < deadline and not stop.is_set():
        if sum(markers(folder, "done").values()) >= KILL_AFTER:
            starts = sorted((p.stat().st_mtime_ns, p.name) for p in folder.iterdir() if p.name.startswith("start-"))
            for _, name in reversed(starts):
                pid = int(name.split("-")[2])
                if pid != flow_pid:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
        time.sleep(0.002)


def run_map_killing_a_worker(runner, folder: Path, seconds: float = 0.005,
                             run_key: str | None = None) -> tuple[list[int], list[int], WarningMessages]:
    killed: list[int] = []
    stop = threading.Event()
    records = WarningMessages()
    logging.getLogger("legato").addHandler(records)

    @flow(task_runner=runner)
    def chaos_map(n: int) -> list[int]:
        watcher = threading.Thread(target=kill_a_busy_worker,
                                   args=(folder, os.getpid(), killed, time.monotonic() + 60, stop), daemon=True)
        watcher.start()
        try:
            return chaos_tasks.square.map(range(n), unmapped(str(folder)), unmapped(seconds)).result()
        finally:
            stop.set()
            watcher.join(60)

    try:
        values = chaos_map(N, run_key=run_key)
    finally:
        logging.getLogger("legato").removeHandler(records)
    return values, killed, records


def check(case_runner: str, folder: Path, values: list[int], killed: list[int], clock: Clock, note: str = ""):
    assert killed, "no worker was killed: nothing was tested"
    row = tally("SIGKILL a worker mid-map", case_runner, {i: i * i for i in range(N)}, dict(enumerate(values)),
                markers(folder), clock, note)
    assert row.lost == 0 and row.wrong == 0
    assert set(markers(folder)) == set(range(N))
    return row


def test_processes(folder: Path) -> None:
    from legato.runners.processes import ProcessPoolTaskRunner

    clock = Clock()
    values, killed, records = run_map_killing_a_worker(ProcessPoolTaskRunner(max_workers=2), folder)
    lost_batches = [m for m in records.messages if "with a batch of" in m]
    crash_retries = [m for m in records.messages if "crash retry" in m]
    row = check("processes", folder, values, killed, clock,
                note=f"{len(lost_batches)} batch warning(s), {len(crash_retries)} crash retry warning(s)")
    assert lost_batches or crash_retries  # the death was said
    if lost_batches:
        import re

        rerun = sum(int(re.search(r"of (\d+) map elements", m).group(1)) for m in lost_batches)
        assert row.duplicated <= rerun  # only elements of the lost batches ran twice


def by_value() -> None:
    """Dask's and Ray's workers cannot import the suite's modules: send them along."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(chaos_tasks)
    try:
        from ray import cloudpickle as ray_cloudpickle  # Ray pickles with its own copy

        ray_cloudpickle.register_pickle_by_value(chaos_tasks)
    except ImportError:
        pass


def test_dask(folder: Path, full_only: None, request: pytest.FixtureRequest) -> None:
    pytest.importorskip("distributed")
    from legato.runners.dask import DaskTaskRunner

    by_value()
    address = request.getfixturevalue("dask_address")
    clock = Clock()
    values, killed, _ = run_map_killing_a_worker(DaskTaskRunner(address=address), folder, seconds=0.02)
    check("dask", folder, values, killed, clock, note="no run key: Dask recomputes what the dead worker held")


def test_dask_with_a_run_key(folder: Path, full_only: None) -> None:
    """With persisted results, a recompute reads the record its first run wrote on the worker."""
    pytest.importorskip("distributed")
    from legato.runners.dask import DaskTaskRunner

    by_value()
    # A cluster of its own, started under this test's LEGATO_HOME: its workers sign and verify records with
    # the same results key as this process (the session's shared cluster has another home, so another key).
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "dashboard_address": None})
    clock = Clock()
    values, killed, records = run_map_killing_a_worker(runner, folder, seconds=0.02, run_key="chaos-dask-recompute")
    recomputed = [m for m in records.messages if "stored record was read" in m]
    row = check("dask, run key", folder, values, killed, clock,
                note=f"{len(recomputed)} recomputes read from their record")
    done_twice = [i for i, n in markers(folder, "done").items() if n > 1]
    # Only the element the dead worker was running, or had finished but not yet stored, may repeat
    # (2 workers of 1 thread); every other finished element it held was read back from its record.
    assert len(done_twice) <= 1 and row.duplicated <= 2
    assert recomputed


def test_ray(folder: Path, full_only: None, request: pytest.FixtureRequest) -> None:
    pytest.importorskip("ray")
    from legato.runners.ray import RayTaskRunner

    by_value()
    request.getfixturevalue("ray_session")
    clock = Clock()
    values, killed, records = run_map_killing_a_worker(RayTaskRunner(address="auto"), folder, seconds=0.02)
    lost = [m for m in records.messages if "batch of" in m]
    row = check("ray", folder, values, killed, clock, note=f"{len(lost)} batch warning(s)")
    assert lost or any("died" in m for m in records.messages)  # the death was said
    if lost:
        import re

        assert row.duplicated <= sum(int(re.search(r"batch of (\d+) map", m).group(1)) for m in lost)
