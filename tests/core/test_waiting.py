"""legato.futures.wait and as_completed."""

from __future__ import annotations

import threading
import time

import pytest

from legato import as_completed, flow, task, wait
from legato.futures import wait as wait_from_module
from legato.runners import SyncTaskRunner, ThreadPoolTaskRunner


@task
def sleepy(seconds):
    time.sleep(seconds)
    return seconds


def test_wait_returns_done_and_not_done():
    gate = threading.Event()

    @task
    def blocked():
        gate.wait(10)

    @flow(task_runner=ThreadPoolTaskRunner(3))
    def f():
        quick = sleepy.submit(0)
        stuck = blocked.submit()
        result = wait([quick, stuck], timeout=0.3)
        gate.set()
        return result.done == {quick}, result.not_done == {stuck}

    assert f() == (True, True)
    assert wait is wait_from_module


def test_as_completed_yields_in_completion_order():
    @flow(task_runner=ThreadPoolTaskRunner(3))
    def f():
        futures = [sleepy.submit(0.3), sleepy.submit(0.0), sleepy.submit(0.15)]
        return [future.result() for future in as_completed(futures, timeout=10)]

    assert f() == [0.0, 0.15, 0.3]


def test_as_completed_timeout():
    gate = threading.Event()

    @task
    def blocked():
        gate.wait(10)

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def f():
        futures = [blocked.submit()]
        with pytest.raises(TimeoutError):
            list(as_completed(futures, timeout=0.1))
        gate.set()

    f()


def test_as_completed_on_sync_runner():
    @flow(task_runner=SyncTaskRunner())
    def f():
        return sorted(x.result() for x in as_completed(sleepy.map([0.0, 0.01])))

    assert f() == [0.0, 0.01]


def test_future_add_done_callback():
    seen = []

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def f():
        future = sleepy.submit(0.01)
        future.add_done_callback(lambda fut: seen.append(fut.result()))
        future.wait(5)
        future.add_done_callback(lambda fut: seen.append("late"))

    f()
    assert seen == [0.01, "late"]
