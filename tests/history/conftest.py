"""Fixtures for the history tests: an isolated database and run factories."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from legato.history import HistoryRecorder

_ids = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path / "home"))
    for name in ("LEGATO_DATABASE", "LEGATO_HISTORY", "LEGATO_ENTRYPOINT", "LEGATO_CLI_PARAMETERS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.db"


@pytest.fixture
def recorder(db: Path) -> Iterator[HistoryRecorder]:
    rec = HistoryRecorder(db)
    yield rec
    rec.close()


@pytest.fixture
def start_flow(recorder: HistoryRecorder) -> Callable[..., str]:
    """Record a flow run start; returns its id. Keywords override the defaults."""

    def start(**overrides: Any) -> str:
        fields: dict[str, Any] = {
            "id": f"flow{next(_ids):04d}-0000-0000",
            "name": "brave-otter",
            "flow_name": "pipeline",
            "parameters": {"n": 3},
            "run_key": None,
            "runner": "threads",
            "tags": ["nightly"],
            "started_at": time.time(),
        }
        fields.update(overrides)
        recorder.flow_run_started(**fields)
        return fields["id"]

    return start


@pytest.fixture
def finish_task(recorder: HistoryRecorder) -> Callable[..., str]:
    """Record a finished task run; returns its id. Keywords override the defaults."""

    def finish(flow_run_id: str, **overrides: Any) -> str:
        now = time.time()
        fields: dict[str, Any] = {
            "id": f"task{next(_ids):06d}",
            "flow_run_id": flow_run_id,
            "name": "work-0",
            "task_name": "work",
            "map_index": None,
            "state_type": "COMPLETED",
            "state_name": "Completed",
            "attempts": 1,
            "started_at": now,
            "ended_at": now + 0.01,
            "error": None,
            "upstream_ids": [],
            "tags": [],
        }
        fields.update(overrides)
        recorder.task_run_finished(**fields)
        return fields["id"]

    return finish
