"""The live progress display: counters fed by the engine, rendered with rich."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from legato import flow, task
from legato.progress import FlowProgress, open_progress
from legato.runners import ThreadPoolTaskRunner


def test_engine_feeds_progress_counters(monkeypatch):
    import legato.progress as progress_module

    created = []

    def fake_open(name):
        created.append(FlowProgress(name))
        return created[-1]

    monkeypatch.setattr(progress_module, "open_progress", fake_open)

    @task
    def work(i):
        if i == 3:
            raise ValueError(i)
        return i

    @task
    def after(x):
        return x

    @flow(task_runner=ThreadPoolTaskRunner(2), flow_run_name="progress-run")
    def pipeline():
        values = work.map(range(10))
        after.submit(values[3])
        after.submit(values[0])

    pipeline()
    counts = created[0].counts
    assert (counts["work"].created, counts["work"].completed, counts["work"].failed) == (10, 9, 1)
    assert (counts["after"].created, counts["after"].completed, counts["after"].other) == (2, 1, 1)
    assert counts["work"].running == 0

    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(created[0].render())
    text = console.export_text()
    assert "progress-run" in text
    assert "10/10" in text and "9 done" in text and "1 failed" in text and "1 not run" in text


@pytest.mark.parametrize("env", ["0", "1"])
def test_progress_is_off_without_a_terminal_or_when_disabled(monkeypatch, env):
    monkeypatch.setenv("LEGATO_PROGRESS", env)
    # pytest captures stderr, so it is never a terminal here
    assert open_progress("x") is None
