"""A run of 200,000 task runs: its page is interactive within two seconds (slow: builds the run)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ui_flows as flows
from ui_support import database
from ui_serving import ServerThread, request
from test_browser import css, open_page, wait_for  # noqa: E402

from legato.history import list_runs
from legato.ui import create_app

TASKS = 200_000


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    with database(tmp_path_factory.mktemp("big") / "history.db") as db:
        flows.big_map(TASKS)
        run = list_runs(db=db)[0]
    assert run.task_count == TASKS
    return db, run.id


def _cold_load(browser, db: Path, run_id: str) -> float:  # type: ignore[no-untyped-def]
    """Milliseconds from navigation to the page's script being ready, on a server that has read nothing."""
    with ServerThread(create_app(db)) as server:
        open_page(browser, f"{server.url}/runs/{run_id}")
        ready_at = float(browser.execute_script("return document.body.dataset.readyAt"))
        node = css(browser, "g.node[data-node='map:noop']")[0]
        assert "×200,000" in node.text and "200,000 Completed" in node.text
        assert len(css(browser, "svg.timeline rect.bar")) >= 1000
        assert len(css(browser, "#part-tasks tbody tr")) == 50
        last = css(browser, ".pager a")[-1]  # the task table pages on the server
        assert "4,000" in css(browser, "#part-tasks .pager")[0].text
        last.click()
        wait_for(browser, lambda d: "tpage=4000" in d.current_url)
        assert "noop-199999" in browser.find_element("tag name", "main").text
        assert request(server.url, f"/runs/{run_id}/status").status == 200
    return ready_at


@pytest.mark.slow
def test_the_page_of_a_200000_task_run_is_interactive_within_two_seconds(browser, big_run, capsys) -> None:
    db, run_id = big_run
    first = _cold_load(browser, db, run_id)
    times = [first] if first < 2000 else [first, _cold_load(browser, db, run_id)]  # one retry on a busy machine
    with capsys.disabled():
        print(f"\n200,000-task run page interactive after {', '.join(f'{t:.0f} ms' for t in times)} (cold server)")
    assert min(times) < 2000
