"""Fixtures for the web view tests: a history made by real flows, served by a real server.

The flows (``ui_flows.py``) run once per session in this process, writing to
their own database; one uvicorn server on an ephemeral port serves it to
every HTTP test and to the browser. Tests that need other data (paging
over many runs, a live run, a token) make their own database or server.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web view needs legato[ui]")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ui_flows as flows  # noqa: E402  (the test flows, importable by subprocesses too)
from ui_support import HERE, History, database  # noqa: E402

from legato.config import CLI_PARAMETERS_ENV, ENTRYPOINT_ENV  # noqa: E402
from legato.history import list_runs  # noqa: E402
from legato.ui import create_app  # noqa: E402
from ui_serving import ServerThread  # noqa: E402


def _latest(db: Path, flow_name: str) -> str:
    return next(run.id for run in list_runs(limit=50, db=db) if run.flow_name == flow_name)


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    db = tmp_path_factory.mktemp("ui-history") / "history.db"
    with database(db):
        flows.squares(20)
        flows.squares(40)
        os.environ[ENTRYPOINT_ENV] = f"{HERE / 'ui_flows.py'}:nightly"  # as `legato run` leaves it
        os.environ[CLI_PARAMETERS_ENV] = json.dumps({"source": "warehouse"})
        with pytest.raises(ConnectionError):
            flows.nightly(source="warehouse")
        with pytest.raises(RuntimeError):
            flows.xss_flow()
        flows.slow_map(12, 0.01)
    return History(db, _latest(db, "squares"), _latest(db, "nightly"), _latest(db, "xss-flow"), _latest(db, "slow-map"))


@pytest.fixture(scope="session")
def server(history: History) -> Iterator[ServerThread]:
    with ServerThread(create_app(history.db)) as running:
        yield running


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    from ui_browser import require_browser, start_browser, stop_browser

    require_browser()
    driver = start_browser()
    yield driver
    stop_browser(driver)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save screenshots: ``LEGATO_UI_SCREENSHOTS`` (say docs/screenshots) or a temp dir."""
    chosen = os.environ.get("LEGATO_UI_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
