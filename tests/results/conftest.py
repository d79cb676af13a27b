"""Fixtures for the results tests: a private LEGATO_HOME, no results settings, captured warnings.

Helpers that drive the results manager by hand are in ``results_support.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("LEGATO_HOME", str(home))
    for name in ("LEGATO_RESULTS_KEY", "LEGATO_PERSIST_RESULTS", "LEGATO_REFRESH_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def results_root(_isolated_home: Path) -> Path:
    return _isolated_home / "results"


@pytest.fixture
def warnings_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="legato.results")
    return caplog
