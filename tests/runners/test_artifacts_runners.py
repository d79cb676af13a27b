"""Artifacts made in tasks on every runner reach the flow's history (and ``legato artifacts ls``).

Dask and Ray workers send them to the flow process with their run logs, so
the session's shared cluster and Ray serve (their workers were started under
another test's environment: nothing is written where the workers are). On
Dask they arrive through the scheduler's event topic, a moment later.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid

import pytest
from tasks import report_artifact

from legato import flow


@pytest.fixture
def history_on(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("LEGATO_HISTORY", raising=False)
    monkeypatch.delenv("LEGATO_DATABASE", raising=False)


def _runner_and_block(name: str, request: pytest.FixtureRequest):
    if name == "dask":
        pytest.importorskip("distributed")
        from legato.runners.dask import DaskTaskRunner

        return DaskTaskRunner(address=request.getfixturevalue("dask_address")), contextlib.nullcontext()
    if name == "ray":
        pytest.importorskip("ray")
        from legato.runners.ray import RayTaskRunner

        request.getfixturevalue("ray_session")
        return RayTaskRunner(), contextlib.nullcontext()
    from legato.runners.processes import ProcessPoolTaskRunner
    from legato.runners.threads import ThreadPoolTaskRunner

    runner = ThreadPoolTaskRunner(max_workers=4) if name == "threads" else ProcessPoolTaskRunner(max_workers=2)
    return runner, contextlib.nullcontext()


@pytest.mark.parametrize("name", ["threads", "processes", "dask", "ray"])
def test_artifacts_from_tasks_on_every_runner(name, request, history_on, capsys):
    from legato.cli.app import run_app
    from legato.history import list_runs
    from legato.history.artifacts import list_artifacts

    runner, block = _runner_and_block(name, request)
    key = f"report-{name}-{uuid.uuid4().hex[:8]}"

    @flow(task_runner=runner)
    def reporting() -> list[int]:
        with block:
            return report_artifact.map(key, [0, 1, 2]).result()

    assert reporting() == [0, 1, 2]
    run = list_runs(flow="reporting", limit=1)[0]
    deadline = time.monotonic() + 20  # Dask's events arrive asynchronously
    while len(list_artifacts(key)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    records = list_artifacts(key)
    assert sorted(r.data["rows"][0][0] for r in records) == [0, 1, 2]
    assert {r.flow_run_id for r in records} == {run.id}
    assert all(r.task_run_id for r in records)
    if name != "threads":
        assert all(r.data["rows"][0][1] != os.getpid() for r in records)  # made in another process
    assert run_app(["artifacts", "ls", "--key", key]) == 0
    assert capsys.readouterr().out.count(key) == 3
    assert run_app(["runs", "show", run.id]) == 0
    assert key in capsys.readouterr().out
