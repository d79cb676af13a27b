"""Fixtures for the runner tests: one ``runner`` fixture, parametrized by runner name.

Every contract test takes ``runner`` and so runs once per runner (as anyio's
tests run once per backend). ``dask`` and ``ray`` are skipped when their
package, or legato's runner module for them, is missing. They share one
cluster and one Ray for the whole session (see ``_cluster.py``): a runner
given an address connects to it, and must leave it running.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _cluster import dask_address, ray_session  # noqa: F401  (session fixtures)
from _leftovers import Leftovers

from legato.runners.base import TaskRunner

RUNNERS = ["sync", "threads", "processes", "dask", "ray"]


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEGATO_HISTORY", "0")
    monkeypatch.setenv("LEGATO_PROGRESS", "0")
    monkeypatch.delenv("LEGATO_TASK_RUNNER", raising=False)


@pytest.fixture(params=RUNNERS)
def runner(request: pytest.FixtureRequest) -> TaskRunner:
    """A fresh, unstarted runner (each flow run starts its own copy, see ``TaskRunner.duplicate``)."""
    return make_runner(request.param, request)


def make_runner(name: str, request: pytest.FixtureRequest) -> TaskRunner:
    if name == "sync":
        from legato.runners.sync import SyncTaskRunner

        return SyncTaskRunner()
    if name == "threads":
        from legato.runners.threads import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=4)
    if name == "processes":
        from legato.runners.processes import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=2)
    if name == "dask":
        pytest.importorskip("distributed")
        dask_runner = pytest.importorskip("legato.runners.dask")
        return dask_runner.DaskTaskRunner(address=request.getfixturevalue("dask_address"))
    if name == "ray":
        pytest.importorskip("ray")
        ray_runner = pytest.importorskip("legato.runners.ray")
        request.getfixturevalue("ray_session")
        return ray_runner.RayTaskRunner(address="auto")
    raise ValueError(f"no runner named {name!r}")


@pytest.fixture
def leftovers(runner: TaskRunner) -> Iterator[Leftovers]:
    """A snapshot taken after the runner's backend (a session cluster) is up."""
    yield Leftovers()
