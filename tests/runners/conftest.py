"""Fixtures for the runner tests; ``runner`` (tests/conftest.py) runs them on every runner.

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

@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEGATO_HISTORY", "0")
    monkeypatch.setenv("LEGATO_PROGRESS", "0")
    monkeypatch.delenv("LEGATO_TASK_RUNNER", raising=False)


@pytest.fixture
def leftovers(runner: TaskRunner) -> Iterator[Leftovers]:
    """A snapshot taken after the runner's backend (a session cluster) is up."""
    yield Leftovers()
