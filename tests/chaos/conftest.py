"""The chaos suite: fixtures, the fast/full split, and the table printed at the end.

Every module here is marked ``chaos``. Cases marked ``full_only`` (the
``full_only`` fixture) are skipped unless the run is the full one:
``python -m pytest -m chaos --chaos-full`` (or ``LEGATO_CHAOS_FULL=1``).
Every case has a deadline (``pytest.mark.timeout``); a hang fails with the
stack of every thread (pytest-timeout), and the subprocesses a case starts
are killed at its end.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runners"))  # _cluster: the shared Dask and Ray

from _cluster import dask_address, ray_session  # noqa: E402,F401  (session fixtures)
from chaos_support import ROWS, full_run, table  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEGATO_PROGRESS", "0")
    for name in ("LEGATO_TASK_RUNNER", "LEGATO_DATABASE", "LEGATO_HISTORY", "LEGATO_RESULTS_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def full_only(request: pytest.FixtureRequest) -> None:
    if not full_run(request.config):
        pytest.skip("full chaos run only: python -m pytest -m chaos --chaos-full")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where the tasks leave their markers."""
    path = tmp_path / "markers"
    path.mkdir()
    return path


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if ROWS and (full_run(config) or "chaos" in (config.getoption("markexpr") or "")):
        terminalreporter.section("chaos table")
        terminalreporter.write_line(table(ROWS))
