"""Timeouts and hooks."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from legato import TaskTimeoutError, flow, task
from legato.runners import SyncTaskRunner, ThreadPoolTaskRunner


def test_timeout_fails_the_task_as_timed_out_and_others_carry_on():
    release = threading.Event()

    @task(timeout_seconds=0.2)
    def stuck():
        release.wait(10)

    @task
    def fine(x):
        return x

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def pipeline():
        s = stuck.submit()
        values = fine.map(range(5)).result()
        s.wait(5)
        box["out"] = s.state, values

    box = {}
    started = time.monotonic()
    pipeline()
    state, values = box["out"]
    release.set()
    assert state.is_failed() and state.name == "TimedOut"
    assert isinstance(state.result(raise_on_failure=False), TaskTimeoutError)
    assert values == [0, 1, 2, 3, 4]
    assert time.monotonic() - started < 5


def test_stuck_thread_does_not_block_the_flow_end():
    release = threading.Event()

    @task(timeout_seconds=0.1)
    def stuck():
        release.wait(30)

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def pipeline():
        stuck.submit()
        return "done"

    started = time.monotonic()
    assert pipeline() == "done"
    assert time.monotonic() - started < 5
    release.set()


def test_timeouts_are_retryable():
    calls = []

    @task(timeout_seconds=0.1, retries=1)
    def slow_first():
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.5)
        return len(calls)

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def pipeline():
        return slow_first.submit().result(timeout=10)

    assert pipeline() == 2


def test_async_timeout_really_cancels():
    cancelled = []

    @task(timeout_seconds=0.1)
    async def slow():
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def pipeline():
        return slow.submit()

    with pytest.raises(TaskTimeoutError):
        pipeline()
    assert cancelled == [True]


def test_direct_call_timeout():
    @task(timeout_seconds=0.1)
    def stuck():
        time.sleep(1)

    @flow
    def pipeline():
        return stuck(return_state=True)

    state = pipeline(return_state=True)
    # returning a failed state fails the flow
    assert state.is_failed() and isinstance(state.result(False), TaskTimeoutError)


def test_task_hooks_run_once_each_with_task_run_and_state(runner):
    events = []

    def on_running(task, task_run, state):
        events.append(("running", task.name, task_run.name))

    def on_completion(task, task_run, state):
        events.append(("completed", task_run.name, state.name, state.result()))

    def on_failure(task, task_run, state):
        events.append(("failed", task_run.name, task_run.run_count, state.name))

    def broken_hook(task, task_run, state):
        raise RuntimeError("hook bug")

    attempts = []

    @task(on_running=[on_running], on_completion=[broken_hook, on_completion])
    def good():
        return 1

    @task(retries=2, on_failure=[broken_hook, on_failure])
    def bad():
        attempts.append(1)
        raise ValueError()

    @flow(task_runner=runner)
    def pipeline():
        good.submit()
        bad.submit()

    pipeline()
    assert ("running", "good", "good-0") in events
    assert ("completed", "good-0", "Completed", 1) in events
    assert [e for e in events if e[0] == "failed"] == [("failed", "bad-0", 3, "Failed")]
    assert len(attempts) == 3


def test_flow_hooks():
    events = []

    def record(kind):
        return lambda flow, flow_run, state: events.append((kind, flow.name, state.name))

    def broken(flow, flow_run, state):
        raise RuntimeError("hook bug")

    hooks = dict(
        on_completion=[broken, record("completion")],
        on_failure=[broken, record("failure")],
        on_crashed=[record("crashed")],
        on_cancellation=[record("cancellation")],
    )

    @flow(name="ok", **hooks)
    def ok():
        return 1

    @flow(name="bad", **hooks)
    def bad():
        raise ValueError()

    from legato import CancelledRun

    @flow(name="cancelled", **hooks)
    def cancelled():
        raise CancelledRun("stop")

    @flow(name="crashed", **hooks)
    def crashed():
        raise SystemExit(3)

    ok()
    bad(return_state=True)
    cancelled(return_state=True)
    with pytest.raises(SystemExit):
        crashed()
    assert events == [
        ("completion", "ok", "Completed"),
        ("failure", "bad", "Failed"),
        ("cancellation", "cancelled", "Cancelled"),
        ("crashed", "crashed", "Crashed"),
    ]


def test_flow_timeout_cancels_unfinished_tasks_and_fails_timed_out():
    from legato.core.errors import FlowTimeoutError

    release = threading.Event()

    @task
    def slow(i):
        release.wait(5)

    @flow(timeout_seconds=0.3, task_runner=ThreadPoolTaskRunner(1))
    def pipeline():
        slow.map(range(5))

    started = time.monotonic()
    state = pipeline(return_state=True)
    release.set()
    assert state.is_failed() and state.name == "TimedOut"
    assert isinstance(state.result(raise_on_failure=False), FlowTimeoutError)
    assert "cancelled" in str(state.result(raise_on_failure=False))
    assert time.monotonic() - started < 4


def test_async_flow_timeout_and_crash_behave_like_sync_flows():
    import asyncio

    from legato.core.errors import FlowTimeoutError

    release = threading.Event()

    @task
    def slow(i):
        release.wait(5)

    @flow(timeout_seconds=0.3, task_runner=ThreadPoolTaskRunner(1))
    async def timed():
        slow.map(range(3))

    @task
    def stop():
        raise KeyboardInterrupt

    @flow(task_runner=ThreadPoolTaskRunner(2))
    async def crashing():
        stop.submit()

    state = asyncio.run(timed(return_state=True))
    release.set()
    assert state.name == "TimedOut" and isinstance(state.result(False), FlowTimeoutError)
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(crashing())
