"""Real flows run for windows: templated parameters, the window in context, resuming by run key."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from legato import flow, task
from legato.scheduling import scheduled_window
from legato.scheduling.deployments import to_deployment
from legato.scheduling.server import Server
from legato.scheduling.store import WindowRow
from legato.scheduling.execute import execute_window
from legato.scheduling.window import render_parameters

seen: list[tuple] = []
calls: list[int] = []
failing: set[int] = set()


@task
def step(i: int) -> int:
    calls.append(i)
    if i in failing:
        raise RuntimeError("boom")
    return i


@flow
def daily(day: str, label: str = "x") -> int:
    seen.append((day, label, scheduled_window.get()))
    return sum(step.map(range(4)).result())


def window(start: datetime, end: datetime, name: str = "daily") -> WindowRow:
    from legato.scheduling.window import window_run_key

    return WindowRow(name, start.timestamp(), end.timestamp(), "RUNNING", None, "schedule",
                     window_run_key(name, start), None, "h", None, 1, 0.0, None, None, None)  # fmt: skip


def test_templates_format_only_start_and_end():
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    end = datetime(2026, 12, 2, tzinfo=timezone.utc)
    got = render_parameters(
        {"day": "{start:%Y-%m-%d}", "span": "{start:%d}-{end:%d}", "json": '{"a": 1}', "other": "{x}", "n": 3},
        start, end,
    )  # fmt: skip
    assert got == {"day": "2026-12-01", "span": "01-02", "json": '{"a": 1}', "other": "{x}", "n": 3}


def test_the_window_reaches_the_flow_in_its_timezone(legato_home):
    seen.clear()
    start = datetime(2026, 11, 30, 23, tzinfo=timezone.utc)  # midnight in Paris
    end = datetime(2026, 12, 1, 23, tzinfo=timezone.utc)
    state, error = execute_window(daily, {"day": "{start:%Y-%m-%d}"}, "Europe/Paris", window(start, end))
    assert (state, error) == ("COMPLETED", None)
    day, label, (w_start, w_end) = seen[0]
    assert day == "2026-12-01" and w_start == start and w_end == end
    assert w_start.utcoffset().total_seconds() == 3600
    assert scheduled_window.get() is None  # reset after the call


def test_a_failed_window_rerun_under_its_run_key_reruns_only_what_failed(legato_home):
    calls.clear()
    failing.add(2)
    start, end = datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2026, 12, 2, tzinfo=timezone.utc)
    state, error = execute_window(daily, {"day": "d"}, "UTC", window(start, end))
    assert state == "FAILED" and "boom" in (error or "")
    assert sorted(calls) == [0, 1, 2, 3]
    calls.clear()
    failing.clear()
    state, _ = execute_window(daily, {"day": "d"}, "UTC", window(start, end))
    assert state == "COMPLETED"
    assert calls == [2]


def test_the_served_run_is_in_the_history_under_the_window_run_key(legato_home, store, clock):
    from legato.history import list_runs

    server = Server([to_deployment(daily, interval=60, parameters={"day": "{start:%H:%M}"})], clock=clock, store=store)
    server.register()
    clock.advance(60)
    server.tick()
    deadline = time.monotonic() + 10
    while server.running:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    runs = [r for r in list_runs(limit=50) if r.run_key == "daily@2026-12-01T00:01:00Z"]
    assert len(runs) == 1 and runs[0].state_type == "COMPLETED"
    assert store.windows("daily")[0].state == "COMPLETED"
