"""The web view in a real browser (headless Chromium): what a person sees.

One browser and one server for the session (see ``conftest.py``). Each test
loads a page made from real runs and checks what is on the screen: a failed
run's error, the map's node and counts, the timeline's bars, a count that
changes while a flow runs, and an XSS payload shown as text that never ran.
Screenshots go to ``LEGATO_UI_SCREENSHOTS`` (the README's are made with
``LEGATO_UI_SCREENSHOTS=docs/screenshots``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ui_support import HERE, History
from ui_serving import ServerThread

from legato.history import list_runs
from legato.ui import create_app

WAIT = 15  # seconds: a hang bound, not a timing assertion


def wait_for(driver, condition, timeout: float = WAIT):  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def open_page(driver, url: str) -> None:  # type: ignore[no-untyped-def]
    driver.get(url)
    wait_for(driver, lambda d: d.execute_script("return document.body.dataset.ready === '1'"))


def css(driver, selector: str):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def shoot(driver, element, path: Path) -> None:  # type: ignore[no-untyped-def]
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", element)
    element.screenshot(str(path))
    assert path.stat().st_size > 2000


def test_runs_page_shows_the_runs(browser, server, history: History, screenshots: Path) -> None:
    open_page(browser, f"{server.url}/runs")
    rows = css(browser, "table.grid tbody tr")
    assert len(rows) == 5
    text = browser.find_element("tag name", "main").text
    assert "nightly" in text and "Failed" in text and "6 failed" in text
    shoot(browser, browser.find_element("tag name", "main"), screenshots / "runs.png")


def test_failed_run_shows_its_error(browser, server, history: History) -> None:
    open_page(browser, f"{server.url}/runs/{history.nightly}")
    badge = css(browser, "[data-field='state']")[0]
    assert badge.text == "Failed"
    tracebacks = [el for el in css(browser, "pre.traceback") if el.is_displayed()]
    assert tracebacks and "ConnectionError: cannot reach warehouse" in tracebacks[0].text
    assert f"legato resume {history.nightly[:8]}" in browser.find_element("tag name", "main").text


def test_map_node_shows_counts_and_timeline_has_bars(browser, server, history: History, screenshots: Path) -> None:
    open_page(browser, f"{server.url}/runs/{history.squares}")
    node = css(browser, "g.node[data-node='map:square']")[0]
    assert node.size["width"] > 100 and node.size["height"] > 30  # drawn, not just in the markup
    assert "×40" in node.text and "34 Completed · 6 Failed" in node.text
    segments = css(browser, "g.node[data-node='map:square'] rect.seg")
    assert [s.get_attribute("class") for s in segments] == ["seg s-completed", "seg s-failed"]
    assert len(css(browser, "svg.graph path.edge")) == 3
    bars = css(browser, "svg.timeline rect.bar")
    assert len(bars) == 76 and all(bar.size["width"] >= 1 for bar in bars[:10])
    assert "square ×40" in css(browser, "svg.timeline")[0].text
    shoot(browser, css(browser, "#graph")[0], screenshots / "graph.png")
    shoot(browser, css(browser, "#timeline")[0], screenshots / "timeline.png")


def test_task_filter_reloads_the_table(browser, server, history: History) -> None:
    from selenium.webdriver.support.ui import Select

    open_page(browser, f"{server.url}/runs/{history.squares}")
    Select(css(browser, "select[name='tstate']")[0]).select_by_value("FAILED")
    wait_for(browser, lambda d: "tstate=FAILED" in d.current_url)
    wait_for(browser, lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
    rows = css(browser, "#part-tasks tbody tr")
    assert len(rows) == 6 and all("Failed" in row.text for row in rows)


def test_xss_payload_is_shown_as_text_and_never_runs(browser, server, history: History) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    for path in (f"/runs/{history.xss}", "/runs", "/flows"):
        open_page(browser, f"{server.url}{path}")
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text
        assert browser.execute_script("return window.__xss === undefined")
        assert not css(browser, "img[src='x']") and not css(browser, "main script")
    open_page(browser, f"{server.url}/runs/{history.xss}")
    visible = browser.find_element("tag name", "main").text
    assert '<script>window.__xss=1;alert("xss")</script>' in visible  # in the parameter, error and log
    task_link = css(browser, ".error-box summary a")[0].get_attribute("href")
    open_page(browser, task_link)
    assert browser.execute_script("return window.__xss === undefined")
    assert '<img src=x onerror="window.__xss=2">' in css(browser, "pre.traceback")[0].text


def test_a_running_flow_updates_without_reloading(browser, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import ui_flows as flows\n"
        "from legato.runners import ThreadPoolTaskRunner\n"
        "flows.gated_map.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))(20, 0.3, sys.argv[2])\n"
    )
    gate = tmp_path / "go"
    env = {**os.environ, "LEGATO_DATABASE": str(db), "LEGATO_PROGRESS": "0"}
    flow = subprocess.Popen([sys.executable, "-c", script, str(HERE), str(gate)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not (db.exists() and list_runs(db=db)):
            time.sleep(0.05)
        run_id = list_runs(db=db)[0].id
        with ServerThread(create_app(db)) as server:
            runs_tab = browser.current_window_handle
            open_page(browser, f"{server.url}/runs")
            assert css(browser, "#runs-table [data-live='1']")  # a run in progress: the table refreshes
            browser.execute_script("window.__same_page = true")
            browser.switch_to.new_window("tab")
            open_page(browser, f"{server.url}/runs/{run_id}")
            browser.execute_script("window.__same_page = true")
            gate.touch()  # the flow's tasks start now, with both pages open
            seen: list[str] = []
            while time.monotonic() < deadline + WAIT:  # read in one script: the sections are swapped live
                finished, state = browser.execute_script(
                    "return [document.querySelector(\"[data-field='finished']\").textContent,"
                    " document.querySelector(\"[data-field='state']\").textContent]"
                )
                seen.append(finished)
                if state == "Completed":
                    break
                time.sleep(0.2)
            wait_for(browser, lambda d: css(d, "g.node[data-count='20']"))
            assert browser.execute_script("return window.__same_page === true")  # updated in place
            final_count = css(browser, "[data-field='finished']")[0].text
            browser.close()
            browser.switch_to.window(runs_tab)
            wait_for(browser, lambda d: not css(d, "#runs-table [data-live='1']"))
            assert "Completed" in css(browser, "#runs-table tbody tr")[0].text
            assert browser.execute_script("return window.__same_page === true")
    finally:
        gate.touch()  # never leave the flow waiting
        flow.wait(timeout=60)
    counts = [int(value) for value in dict.fromkeys(seen)]
    assert counts == sorted(counts) and len(counts) >= 3, seen  # it grew while the flow ran
    assert final_count == "20"
