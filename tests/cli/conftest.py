"""Fixtures for the CLI tests: a private LEGATO_HOME and ways to call ``legato``.

Every CLI test runs ``python -m legato.cli`` in a subprocess, which costs
about half a second of interpreter start-up and imports; read-only tests
therefore share one recorded history and run their commands concurrently
(see ``cli_batch``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cli_environment import cli_environment

from legato.history import HistoryRecorder

FLOWS = Path(__file__).resolve().parent / "flows"

Result = subprocess.CompletedProcess[str]


def run_cli(args: Iterable[str], home: Path, timeout: float = 60, env: dict[str, str] | None = None) -> Result:
    """``python -m legato.cli ARGS...`` with LEGATO_HOME=``home``; waits at most ``timeout``."""
    env = cli_environment(home, 200, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "legato.cli", *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=home.parent,
    )  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LEGATO_HOME for this test, for the CLI subprocesses and this process alike."""
    home = tmp_path / "legato-home"
    home.mkdir()
    monkeypatch.setenv("LEGATO_HOME", str(home))
    for name in ("LEGATO_DATABASE", "LEGATO_HISTORY", "LEGATO_ENTRYPOINT", "LEGATO_CLI_PARAMETERS"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def legato(home: Path) -> Callable[..., Result]:
    """``legato("runs", "ls")`` runs the CLI against this test's ``home``."""
    return lambda *args, timeout=60, env=None: run_cli(args, home, timeout, env)


@pytest.fixture(scope="session")
def cli_batch() -> Callable[[Path, Iterable[tuple[str, ...]]], dict[tuple[str, ...], Result]]:
    """Run many read-only commands against one home concurrently; results by args."""

    def run_all(home: Path, invocations: Iterable[tuple[str, ...]]) -> dict[tuple[str, ...], Result]:
        invocations = list(dict.fromkeys(invocations))
        with ThreadPoolExecutor(max_workers=max(2, min(6, os.cpu_count() or 2))) as pool:
            results = list(pool.map(lambda args: run_cli(args, home), invocations))
        return dict(zip(invocations, results))

    return run_all


@pytest.fixture
def one_line_error() -> Callable[..., str]:
    """Check a command failed with ``code`` and said why in one line, without a traceback."""

    def check(result: Result, code: int = 2) -> str:
        assert result.returncode == code, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, result.stderr
        if code == 2:  # usage errors say nothing else (flow failures may have logged)
            assert result.stderr.strip() == lines[0], result.stderr
        return lines[0]

    return check


SAMPLE_IDS = {"etl": "e7e7e7e7aaaa0001", "report": "4e904e90bbbb0002", "legacy": "4e9fa1e9cccc0003"}


def record_sample_history(db: Path) -> dict[str, str]:
    """Three recorded runs; returns their ids by nickname.

    * ``etl``: Completed; load -> square.map(100) (98 Completed, 2 Failed) -> total; logs.
    * ``report``: Failed, one failed task with a traceback.
    * ``legacy``: Completed, no tasks, no logs, not started by ``legato run``.
    """
    ids, now = SAMPLE_IDS, time.time()
    with HistoryRecorder(db) as rec:
        _start(rec, ids["etl"], "etl", now - 100, parameters={"day": "2024-01-01"}, entrypoint="/x/etl.py:etl")
        load = _task(rec, ids["etl"], "load-0", "load", None, "COMPLETED", "Completed", now - 99)
        squares = [
            _task(rec, ids["etl"], f"square-{i}", "square", i,
                  *(("FAILED", "Failed") if i in (3, 7) else ("COMPLETED", "Completed")), now - 98, upstream=[load])
            for i in range(100)
        ]  # fmt: skip
        total = _task(rec, ids["etl"], "total-0", "total", None, "COMPLETED", "Completed", now - 97, upstream=squares)
        rec.log(flow_run_id=ids["etl"], task_run_id=None, ts=now - 100, level="INFO", logger="legato.flow", message="Beginning flow run")
        rec.log(flow_run_id=ids["etl"], task_run_id=total, ts=now - 97, level="WARNING", logger="legato.task", message="total is [big]")
        _finish(rec, ids["etl"], "COMPLETED", "Completed", now - 90)

        _start(rec, ids["report"], "report", now - 50)
        _task(rec, ids["report"], "render-0", "render", None, "FAILED", "Failed", now - 49,
              error='Traceback (most recent call last):\n  File "r.py", line 3, in render\nKeyError: \'title\'')  # fmt: skip
        _finish(rec, ids["report"], "FAILED", "Failed", now - 48,
                error="KeyError: 'title'\nTraceback (most recent call last):\n  File \"r.py\"")  # fmt: skip

        _start(rec, ids["legacy"], "legacy", now - 10)
        _finish(rec, ids["legacy"], "COMPLETED", "Completed", now - 9)
    return dict(ids)


def _start(rec: HistoryRecorder, run_id: str, flow: str, at: float, **extra: Any) -> None:
    rec.flow_run_started(
        id=run_id, name=f"{flow}-run", flow_name=flow, parameters=extra.pop("parameters", {}), run_key=None,
        runner="threads", tags=[], started_at=at, **extra,
    )  # fmt: skip


def _task(
    rec: HistoryRecorder, flow_run_id: str, name: str, task_name: str, map_index: int | None,
    state_type: str, state_name: str, at: float, upstream: Iterable[str] = (), error: str | None = None,
) -> str:  # fmt: skip
    task_id = f"{flow_run_id}-{name}"
    rec.task_run_finished(
        id=task_id, flow_run_id=flow_run_id, name=name, task_name=task_name, map_index=map_index,
        state_type=state_type, state_name=state_name, attempts=2 if state_type == "FAILED" else 1,
        started_at=at, ended_at=at + 0.5, error=error, upstream_ids=list(upstream), tags=[],
    )  # fmt: skip
    return task_id


def _finish(rec: HistoryRecorder, run_id: str, state_type: str, state_name: str, at: float, error: str | None = None) -> None:
    rec.flow_run_finished(id=run_id, state_type=state_type, state_name=state_name, ended_at=at, error=error)


@pytest.fixture(scope="session")
def sample_history() -> Callable[[Path], dict[str, str]]:
    """``sample_history(db)`` records the three sample runs into ``db``."""
    return record_sample_history
