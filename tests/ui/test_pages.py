"""The web view over HTTP: every page against a history of real flows, escaping, paging, filters."""

from __future__ import annotations

import html
import json
import re
import threading
import time

import pytest

import ui_flows as flows
from ui_support import History, database
from ui_serving import ServerThread, request

from legato.history import list_runs
from legato.ui import create_app
from legato.ui.security import CONTENT_SECURITY_POLICY


def get(server, path: str):  # type: ignore[no-untyped-def]
    reply = request(server.url, path)
    assert reply.status == 200, (path, reply.status, reply.body[:500])
    return reply


def test_root_redirects_to_runs(server) -> None:
    reply = request(server.url, "/")
    assert reply.status == 303 and reply.headers["location"] == "/runs"


def test_runs_page_lists_every_run_with_state_flow_and_counts(server, history: History) -> None:
    body = get(server, "/runs").body
    for run in list_runs(limit=None, db=history.db):
        assert f"/runs/{run.id}" in body
        assert html.escape(run.name) in body
    assert "6 failed" in body  # squares(40): every seventh item fails
    assert ">Failed<" in body and ">Completed<" in body
    assert "5 matching" in body


def test_runs_page_filters_by_state_flow_and_search(server, history: History) -> None:
    failed = get(server, "/runs?state=failed").body
    assert history.nightly in failed and history.xss in failed and history.squares not in failed
    by_flow = get(server, "/runs?flow=squares").body
    assert "2 matching" in by_flow and history.nightly not in by_flow
    by_prefix = get(server, f"/runs?q={history.slow[:6]}").body
    assert "1 matching" in by_prefix and history.slow in by_prefix
    name = next(r.name for r in list_runs(db=history.db) if r.id == history.nightly)
    by_name = get(server, f"/runs?q={name[3:9]}").body
    assert history.nightly in by_name
    assert "0 matching" in get(server, "/runs?since=1h&flow=no-such-flow").body


def test_runs_page_pages_through_many_runs(tmp_path) -> None:
    with database(tmp_path / "many.db") as db:
        for i in range(55):
            flows.noop_flow(i)
        ids = [run.id for run in list_runs(limit=None, db=db)]
    with ServerThread(create_app(db)) as server:
        first = get(server, "/runs").body
        second = get(server, "/runs?page=2").body
    assert "page 1 of 2" in first and "older" in first
    assert sum(run_id in first for run_id in ids) == 50
    assert sum(run_id in second for run_id in ids) == 5
    assert ids[0] in first and ids[-1] in second


def test_failed_run_shows_its_error_traceback_and_resume_command(server, history: History) -> None:
    body = get(server, f"/runs/{history.nightly}").body
    assert "ConnectionError: cannot reach warehouse" in body
    assert "Traceback (most recent call last)" in body
    assert f"legato resume {history.nightly[:8]}" in body
    assert "flows.py:nightly" in body  # the entrypoint
    assert "&#39;warehouse&#39;" in body  # the parameter, as recorded (a repr)


def test_map_is_one_graph_node_with_counts_per_state(server, history: History) -> None:
    body = get(server, f"/runs/{history.squares}").body
    node = re.search(r'<g class="node s-failed" data-node="map:square" data-count="40".*?</g>', body, re.S)
    assert node is not None, "the map of 40 squares is one node, coloured failed"
    assert "×40" in node.group(0) and "34 Completed · 6 Failed" in node.group(0)
    assert 'data-node="map:label" data-count="40"' in body
    assert body.count('class="edge"') == 3  # make_items -> square -> label, square -> total
    assert body.count('<rect class="bar ') == 40 + 34 + 2  # NotReady labels never ran: no bar


def test_task_runs_are_filtered_and_paged_on_the_server(server, history: History) -> None:
    failed = get(server, f"/runs/{history.squares}?tstate=FAILED").body
    assert "6 task runs match" in failed
    assert failed.count("ValueError: item") >= 6
    page = get(server, f"/runs/{history.squares}?task=square&tpage=1").body
    assert "40 task runs match · page 1 of 1" in page
    part = get(server, f"/runs/{history.squares}/part/tasks?tq=label-1").body
    assert "label-1<" in part and "label-10<" in part and "square-1<" not in part


def test_logs_filter_by_level(server, history: History) -> None:
    every = get(server, f"/runs/{history.squares}/part/logs").body
    errors = get(server, f"/runs/{history.squares}/part/logs?level=WARNING").body
    assert "squaring 40 items" in every and "squaring 40 items" not in errors
    assert "some items may fail" in errors


def test_task_run_page_shows_attempts_and_error(server, history: History) -> None:
    run_page = get(server, f"/runs/{history.nightly}").body
    task_id = re.search(rf'/runs/{history.nightly}/tasks/([0-9a-f-]+)">fetch-0', run_page).group(1)
    body = get(server, f"/runs/{history.nightly}/tasks/{task_id}").body
    assert "3 (2 retries)" in body
    assert "Attempt 1 failed with ConnectionError" in body and "Attempt 2 failed" in body
    assert "ConnectionError: cannot reach warehouse" in body


def test_status_endpoint_reports_counts_and_version(server, history: History) -> None:
    status = json.loads(get(server, f"/runs/{history.squares}/status").body)
    assert status["state_type"] == "COMPLETED" and not status["running"]
    assert status["finished"] == 82 and status["failed"] == 6
    assert status["counts"] == {"Completed": 70, "Failed": 6, "NotReady": 6}


def test_flows_page_shows_percentiles_and_failure_rate(server) -> None:
    body = get(server, "/flows").body
    nightly = re.search(r'data-flow="nightly".*?</section>', body, re.S).group(0)
    assert 'data-stat="failure">100%<' in nightly and 'data-stat="p50">-<' in nightly
    squares = re.search(r'data-flow="squares".*?</section>', body, re.S).group(0)
    assert 'data-stat="failure">0%<' in squares
    assert re.search(r'data-stat="p95">\d+\.\d\ds<', squares)
    assert squares.count('class="cell s-completed"') == 2


def test_unknown_run_or_section_is_404(server) -> None:
    assert request(server.url, "/runs/ffffffffffff").status == 404
    assert request(server.url, "/runs/ffffffffffff/status").status == 404


XSS_RAW = ("<script>window.__xss", "<img src=x", 'onerror="window')


@pytest.mark.parametrize("path", ["/runs", "/runs/{xss}", "/runs/{xss}/part/header", "/runs/{xss}/part/logs",
                                  "/runs/{xss}/part/tasks", "/runs/{xss}/tasks/{task}", "/flows"])
def test_hostile_text_from_a_run_is_escaped_everywhere(server, history: History, path: str) -> None:
    run_page = get(server, f"/runs/{history.xss}").body
    task_id = re.search(rf'/runs/{history.xss}/tasks/([0-9a-f-]+)"', run_page).group(1)
    body = get(server, path.format(xss=history.xss, task=task_id)).body
    for raw in XSS_RAW:
        assert raw not in body
    if path != "/runs" and path != "/flows":
        assert "&lt;script&gt;window.__xss=1" in body


def test_every_answer_carries_a_restrictive_content_security_policy(server, history: History) -> None:
    for path in ("/runs", f"/runs/{history.squares}", "/static/app.js", "/runs/nothing"):
        reply = request(server.url, path)
        assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert reply.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY


def test_pages_have_no_inline_script_or_style(server, history: History) -> None:
    for path in ("/runs", f"/runs/{history.squares}", "/flows"):
        body = get(server, path).body
        assert "<script>" not in body and " style=" not in body and " onclick=" not in body


def test_a_running_flow_is_read_incrementally(tmp_path) -> None:
    gate = threading.Event()
    with database(tmp_path / "live.db") as db, ServerThread(create_app(db)) as server:
        thread = threading.Thread(target=flows.half_gated_map, args=(30, gate))
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while not list_runs(db=db) and time.monotonic() < deadline:
                time.sleep(0.02)
            run_id = list_runs(db=db)[0].id
            seen = []
            while time.monotonic() < deadline:
                status = json.loads(get(server, f"/runs/{run_id}/status").body)
                seen.append(status["finished"])
                if not status["running"]:
                    break
                if status["finished"] >= 15:  # the first half is on disk while the run goes on: let it end
                    gate.set()
                time.sleep(0.05)
            final = get(server, f"/runs/{run_id}").body
        finally:
            gate.set()
            thread.join(timeout=30)
    assert 15 <= min(seen) < 30 and seen[-1] == 30, seen  # a count short of the end was served while the flow ran
    assert 'data-count="30"' in final and "30 Completed" in final


def test_a_run_whose_stored_task_runs_are_damaged_gets_a_page_saying_so(tmp_path) -> None:
    import sqlite3

    db = tmp_path / "history.db"
    with database(db):
        flows.squares(5)
    run_id = list_runs(db=db)[0].id
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE task_run_chunks SET data = ?", (b"\xc1<script>",))
    with ServerThread(create_app(db)) as running:
        reply = request(running.url, f"/runs/{run_id}")
    assert reply.status == 500
    assert "History unreadable" in reply.body and "damaged (not valid msgpack" in reply.body
