"""Test-wide isolation: every test session gets its own LEGATO_HOME."""

from __future__ import annotations

import os
import tempfile

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
