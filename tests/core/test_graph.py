"""The dynamic graph: edges from futures at any depth, wait_for, branching, nesting."""

from __future__ import annotations

import threading
import time

import pytest

from legato import flow, quote, task
from legato.runners import SyncTaskRunner, ThreadPoolTaskRunner


@task
def value(x):
    return x


@task
def echo(obj):
    return obj


def test_futures_nested_in_collections_are_replaced_by_values(runner):
    @flow(task_runner=runner)
    def pipeline():
        a, b = value.submit(1), value.submit(2)
        return echo.submit({"list": [a, [b]], "tuple": (a, b), "set": {a}, "dict": {"k": {"deep": b}}}).result()

    assert pipeline() == {"list": [1, [2]], "tuple": (1, 2), "set": {1}, "dict": {"k": {"deep": 2}}}


def test_states_as_arguments_are_values(runner):
    @flow(task_runner=runner)
    def pipeline():
        state = value(5, return_state=True)
        return echo.submit([state]).result()

    assert pipeline() == [5]


def test_quote_passes_objects_without_looking_inside(runner):
    @flow(task_runner=runner)
    def pipeline():
        future = value.submit(1)
        out = echo.submit(quote([future])).result()
        return out[0] is future

    assert pipeline() is True


def test_downstream_waits_for_upstream_and_never_holds_a_worker():
    """With one worker, a downstream submitted first must not block its upstream."""
    order = []

    @task
    def slow(x):
        time.sleep(0.05)
        order.append(("slow", x))
        return x

    @task
    def after(x):
        order.append(("after", x))
        return x + 1

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=1))
    def pipeline():
        up = slow.submit(1)
        down = after.submit(up)
        return down.result(timeout=10)

    assert pipeline() == 2
    assert order == [("slow", 1), ("after", 1)]


def test_wait_for_orders_tasks_without_passing_data(runner):
    events = []

    @task
    def first():
        time.sleep(0.02)
        events.append("first")

    @task
    def second():
        events.append("second")

    @flow(task_runner=runner)
    def pipeline():
        f = first.submit()
        second.submit(wait_for=[f])

    pipeline()
    assert events == ["first", "second"]


def test_flow_branches_and_loops_on_results(runner):
    @flow(task_runner=runner)
    def pipeline(n):
        total = value.submit(0)
        while total.result() < n:
            total = echo.submit(total.result() + 3)
        return "big" if total.result() > 10 else "small"

    assert pipeline(12) == "big"
    assert pipeline(4) == "small"


def test_fan_out_fan_in(runner):
    @task
    def total(xs):
        return sum(xs)

    @flow(task_runner=runner)
    def pipeline():
        parts = value.map(range(100))
        return total.submit(parts).result()

    assert pipeline() == sum(range(100))


def test_flow_waits_for_every_submitted_task():
    done = []

    @task
    def slow(i):
        time.sleep(0.02)
        done.append(i)

    @flow(task_runner=ThreadPoolTaskRunner(4))
    def fire_and_forget():
        slow.map(range(10))
        return "returned early"

    assert fire_and_forget() == "returned early"
    assert sorted(done) == list(range(10))


@task
def nested(level):
    if level == 0:
        return 0
    return nested.submit(level - 1).result() + 1


def test_nested_submission_33_levels_on_two_workers_finishes():
    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def deep():
        return nested.submit(33).result(timeout=60)

    assert deep() == 33


def test_nested_submission_with_dependency_on_a_bounded_pool():
    """A nested task that waits on a task not yet ready must not deadlock two workers."""

    @task
    def parent(i):
        up = value.submit(i)
        down = echo.submit(up)
        return down.result(timeout=30)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def pipeline():
        return parent.map(range(6)).result(timeout=60)

    assert pipeline() == list(range(6))


def test_pool_runs_at_most_max_workers_tasks_at_once():
    running = []
    peak = []
    lock = threading.Lock()

    @task
    def busy(i):
        with lock:
            running.append(i)
            peak.append(len(running))
        time.sleep(0.02)
        with lock:
            running.remove(i)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=3))
    def pipeline():
        busy.map(range(30))

    pipeline()
    assert max(peak) == 3


def test_long_chain_does_not_recurse(runner):
    @task
    def inc(x):
        return x + 1

    @flow(task_runner=runner)
    def chain():
        current = inc.submit(0)
        for _ in range(1500):
            current = inc.submit(current)
        return current

    assert chain() == 1501


def test_failure_in_long_chain_marks_all_downstream_not_ready_without_recursion():
    @task
    def boom():
        raise ValueError("x")

    @task
    def inc(x):
        return x + 1

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def chain():
        futures = [boom.submit()]
        for _ in range(2000):
            futures.append(inc.submit(futures[-1]))
        futures[-1].wait(timeout=30)
        return [f.state.name for f in futures]

    names = chain()
    assert names[0] == "Failed" and set(names[1:]) == {"NotReady"}


def test_no_legato_threads_survive_a_flow():
    @flow(task_runner=ThreadPoolTaskRunner(4))
    def pipeline():
        return value.map(range(50)).result()

    pipeline()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(t.name.startswith("legato-thread") for t in threading.enumerate()):
        time.sleep(0.01)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("legato-thread")]
