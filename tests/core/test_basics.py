"""Tasks and flows: decorators, calls, submit, map, async, results, return_state."""

from __future__ import annotations

import asyncio

import pytest

import legato
from legato import flow, task
from legato.runners import SyncTaskRunner, ThreadPoolTaskRunner
from legato.states import State


@task
def double(x):
    return 2 * x


@task(name="adder", tags=["math"])
def add(x, y=0):
    return x + y


@task
async def async_double(x):
    await asyncio.sleep(0)
    return 2 * x


def test_bare_and_called_decorators_keep_function_metadata():
    assert isinstance(double, legato.Task) and double.name == "double"
    assert add.name == "adder" and add.tags == frozenset({"math"})
    assert double.__name__ == "double"

    @flow
    def f():
        return 1

    @flow(name="custom", description="d")
    def g():
        return 2

    assert isinstance(f, legato.Flow) and f.name == "f" and g.name == "custom" and g.description == "d"
    assert f() == 1 and g() == 2


def test_calling_a_task_in_a_flow_returns_its_value(runner):
    @flow(task_runner=runner)
    def pipeline(x):
        return add(double(x), 1)

    assert pipeline(4) == 9


def test_task_called_outside_a_flow_runs():
    assert double(21) == 42


def test_submit_returns_a_future_and_map_a_future_list(runner):
    @flow(task_runner=runner)
    def pipeline():
        future = double.submit(5)
        futures = double.map([1, 2, 3])
        assert isinstance(future, legato.LegatoFuture)
        assert isinstance(futures, legato.LegatoFutureList)
        futures.wait()
        assert all(f.done() for f in futures)
        return future.result(), futures.result()

    assert pipeline() == (10, [2, 4, 6])


@pytest.mark.parametrize("method", ["submit", "map"])
def test_submit_and_map_outside_a_flow_raise_runtime_error(method):
    with pytest.raises(RuntimeError, match="outside a flow"):
        getattr(double, method)([1, 2])


def test_return_state_gives_the_final_state(runner):
    @task
    def boom():
        raise ValueError("bad")

    seen = {}

    @flow(task_runner=runner)
    def pipeline():
        seen["ok"] = double(2, return_state=True)
        seen["bad"] = boom(return_state=True)
        return "flow goes on"

    assert pipeline() == "flow goes on"
    ok, bad = seen["ok"], seen["bad"]
    assert isinstance(ok, State) and ok.is_completed() and ok.result() == 4
    assert bad.is_failed() and isinstance(bad.result(raise_on_failure=False), ValueError)
    assert pipeline(return_state=True).is_completed()


def test_flow_returning_a_failed_state_fails():
    @task
    def boom():
        raise ValueError("bad")

    @flow
    def pipeline():
        return boom(return_state=True)

    with pytest.raises(ValueError, match="bad"):
        pipeline()


def test_flow_return_state_on_failure_does_not_raise():
    @flow
    def broken():
        raise KeyError("k")

    state = broken(return_state=True)
    assert state.is_failed() and state.type == legato.StateType.FAILED
    with pytest.raises(KeyError):
        state.result()


def test_flow_returning_futures_returns_their_values(runner):
    @flow(task_runner=runner)
    def pipeline():
        return {"one": double.submit(1), "many": double.map(range(3)), "nested": [(double.submit(2),)]}

    assert pipeline() == {"one": 2, "many": [0, 2, 4], "nested": [(4,)]}


def test_async_tasks_and_flows(runner):
    @flow(task_runner=runner)
    async def pipeline(x):
        direct = await async_double(x)
        submitted = async_double.submit(x + 1)
        mapped = async_double.map([1, 2])
        return direct, submitted, mapped

    assert asyncio.run(pipeline(1)) == (2, 4, [2, 4])


def test_async_task_submitted_from_sync_flow(runner):
    @flow(task_runner=runner)
    def pipeline():
        return async_double.submit(3).result()

    assert pipeline() == 6


def test_future_result_timeout_raises_timeout_error():
    import threading

    gate = threading.Event()

    @task
    def blocked():
        gate.wait(10)
        return 1

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def pipeline():
        future = blocked.submit()
        with pytest.raises(TimeoutError):
            future.result(timeout=0.05)
        gate.set()
        return future.result(timeout=10)

    assert pipeline() == 1


def test_with_options_copies_without_touching_the_original():
    renamed = double.with_options(name="twice", retries=2)
    assert renamed.name == "twice" and renamed.retries == 2 and double.name == "double"
    with pytest.raises(TypeError, match="unknown option"):
        double.with_options(colour="red")


def test_subflow_runs_inside_parent():
    @flow
    def child(x):
        return double.submit(x).result() + 1

    @flow
    def parent():
        return [child(i) for i in range(3)]

    assert parent() == [1, 3, 5]


def test_tasks_as_methods_bind_self():
    class Pipeline:
        factor = 3

        @task
        def scale(self, x):
            return self.factor * x

    @flow
    def run():
        return Pipeline().scale.submit(2).result()

    assert run() == 6


# Generator tasks stream as in Prefect 3: tests/porting/test_generator_tasks.py
