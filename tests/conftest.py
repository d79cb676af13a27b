"""Test-wide isolation (every test session gets its own LEGATO_HOME) and the one ``runner`` fixture.

A test that takes ``runner`` runs once per runner name (as anyio's tests run
once per backend): the names are the test module's ``RUNNER_NAMES`` if it
sets them, else its suite's (:data:`SUITE_RUNNERS`, by folder), else
``sync`` and ``threads``. Dask and Ray need the session cluster fixtures of
``tests/runners`` and are skipped when their packages are missing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_home = tempfile.mkdtemp(prefix="legato-test-home-")
os.environ.setdefault("LEGATO_HOME", _home)
os.environ.pop("LEGATO_TASK_RUNNER", None)


@pytest.fixture
def legato_home(tmp_path, monkeypatch):
    """A fresh LEGATO_HOME for one test (history, results, keys)."""
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path))
    monkeypatch.delenv("LEGATO_DATABASE", raising=False)
    return tmp_path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chaos-full", action="store_true", default=False,
                     help="run every case of the chaos suite (tests/chaos), not only the fast subset")
ALL_RUNNERS = ("sync", "threads", "processes", "dask", "ray")
#: the runners each suite (a folder of tests/) runs its ``runner`` tests on
SUITE_RUNNERS = {"runners": ALL_RUNNERS}
DEFAULT_RUNNERS = ("sync", "threads")


def _parametrizes_runner_itself(metafunc: pytest.Metafunc) -> bool:
    """A test that names its own runners (``@pytest.mark.parametrize("runner", [...])``) keeps them."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if "runner" in ([n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)):
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runner" in metafunc.fixturenames and not _parametrizes_runner_itself(metafunc):
        names = getattr(metafunc.module, "RUNNER_NAMES", None) or SUITE_RUNNERS.get(
            Path(str(metafunc.definition.path)).parent.name, DEFAULT_RUNNERS)
        metafunc.parametrize("runner", names, indirect=True)


@pytest.fixture
def runner(request: pytest.FixtureRequest):
    """A fresh, unstarted runner by name (each flow run starts its own copy, see ``TaskRunner.duplicate``)."""
    return make_runner(request.param, request)


def make_runner(name: str, request: pytest.FixtureRequest):
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
