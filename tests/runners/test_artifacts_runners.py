"""Artifacts made in tasks on every runner reach the flow's history (and ``legato artifacts ls``).

Dask and Ray workers write to the history database their environment names,
so these tests keep the LEGATO_HOME the session started its cluster and
Ray with (the runner tests' fixture gives each test a fresh one).
"""

from __future__ import annotations

import os
import uuid

import pytest
from tasks import report_artifact

from legato import flow

SESSION_HOME = os.environ["LEGATO_HOME"]  # read at collection, before any test's monkeypatch


@pytest.fixture
def session_history(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("LEGATO_HOME", SESSION_HOME)
    monkeypatch.delenv("LEGATO_HISTORY", raising=False)
    monkeypatch.delenv("LEGATO_DATABASE", raising=False)


@pytest.mark.parametrize("runner_name", ["threads", "processes", "dask", "ray"])
def test_artifacts_from_tasks_on_every_runner(runner_name, request, session_history, capsys):
    from conftest import make_runner

    from legato.cli.app import run_app
    from legato.history import list_runs
    from legato.history.artifacts import list_artifacts

    runner = make_runner(runner_name, request)
    key = f"report-{runner_name}-{uuid.uuid4().hex[:8]}"

    @flow(task_runner=runner)
    def reporting() -> list[int]:
        return report_artifact.map(key, [0, 1, 2]).result()

    assert reporting() == [0, 1, 2]
    run = list_runs(flow="reporting", limit=1)[0]
    records = list_artifacts(key)
    assert sorted(r.data["rows"][0][0] for r in records) == [0, 1, 2]
    assert {r.flow_run_id for r in records} == {run.id}
    assert all(r.task_run_id for r in records)
    if runner_name != "threads":
        assert all(r.data["rows"][0][1] != os.getpid() for r in records)  # made in another process
    assert run_app(["artifacts", "ls", "--key", key]) == 0
    assert capsys.readouterr().out.count(key) == 3
    assert run_app(["runs", "show", run.id]) == 0
    assert key in capsys.readouterr().out
