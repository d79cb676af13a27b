"""Subflows across flow retries, as in Prefect 3 (issue #13, group 8).

Prefect 3.9 (checked on real Prefect): a flow retry reruns the body, but a
subflow with ``persist_result=True`` that completed in an earlier attempt is
not run again, its call gives back its result; a subflow whose result does
not persist runs again. legato identifies a subflow call by the subflow's
name and how many calls of it the attempt made before (see
:mod:`legato.core.subflows`).
"""

from __future__ import annotations

import asyncio
import time

from legato import flow, task
from legato.core import subflows


def _counting_flows():
    ran: dict[str, int] = {"load": 0, "flaky": 0}

    @flow(persist_result=True)
    def load(x: int) -> int:
        ran["load"] += 1
        return x * 10

    @flow(persist_result=True)
    def flaky(x: int) -> int:
        ran["flaky"] += 1
        if ran["flaky"] == 1:
            raise RuntimeError("first time")
        return x + 1

    return ran, load, flaky


def test_a_flow_retry_does_not_rerun_subflows_that_completed():
    """Prefect: on the parent's retry, a completed subflow's call returns its earlier result without
    running; the subflow that failed runs again."""
    ran, load, flaky = _counting_flows()

    @flow(retries=1)
    def parent() -> int:
        return flaky(load(2))

    assert parent() == 21
    assert ran == {"load": 1, "flaky": 2}
    assert not subflows._memories  # forgotten once the parent ended


def test_calls_of_the_same_subflow_are_told_apart_by_their_order():
    """The identity is the subflow's name and its call count in the attempt: the first call, completed,
    is reused; the second, which failed, runs again."""
    calls: list[int] = []

    @flow(persist_result=True)
    def step(x: int) -> int:
        calls.append(x)
        if x == 2 and calls.count(2) == 1:
            raise RuntimeError("second call fails once")
        return x

    @flow(retries=2)
    def parent() -> list[int]:
        return [step(1), step(2)]

    assert parent() == [1, 2]
    assert calls == [1, 2, 2]


def test_return_state_of_a_reused_subflow_is_its_earlier_state():
    """Prefect hands back the child flow run's final state: ``return_state=True`` gives that Completed state."""
    ran, load, flaky = _counting_flows()
    states = []

    @flow(retries=1)
    def parent() -> int:
        state = load(1, return_state=True)
        states.append(state)
        return flaky(state.result())

    assert parent() == 11
    assert ran["load"] == 1
    assert states[0] is states[1] and states[1].is_completed()


def test_a_subflow_whose_result_does_not_persist_runs_again(monkeypatch):
    """Prefect 3.9: without ``persist_result`` (and results not persisted by default) the completed
    subflow runs again on the parent's retry; ``LEGATO_PERSIST_RESULTS=1`` (Prefect's
    PREFECT_RESULTS_PERSIST_BY_DEFAULT) makes it persist, and so be reused."""
    monkeypatch.delenv("LEGATO_PERSIST_RESULTS", raising=False)
    ran = {"sub": 0, "parent": 0}

    @flow
    def sub() -> int:
        ran["sub"] += 1
        return 1

    @flow(retries=1)
    def parent() -> int:
        ran["parent"] += 1
        value = sub()
        if ran["parent"] % 2 == 1:
            raise RuntimeError("retry me")
        return value

    assert parent() == 1 and ran == {"sub": 2, "parent": 2}
    monkeypatch.setenv("LEGATO_PERSIST_RESULTS", "1")
    assert parent() == 1 and ran == {"sub": 3, "parent": 4}


def test_without_retries_or_across_separate_runs_subflows_always_run():
    """Only the attempts of one parent flow run share subflow results: a new run of the parent runs
    its subflows again, and a parent without retries keeps nothing."""
    ran, load, _ = _counting_flows()

    @flow
    def parent() -> int:
        assert not subflows._memories
        return load(1)

    @flow(retries=1)
    def retrying_parent() -> int:
        return load(1)

    assert parent() == 10 and parent() == 10
    assert retrying_parent() == 10 and retrying_parent() == 10
    assert ran["load"] == 4


def test_an_async_subflow_is_reused_too():
    """The same holds for ``async def`` flows (the call gives an awaitable of the earlier result)."""
    ran = {"sub": 0, "parent": 0}

    @flow(persist_result=True)
    async def sub() -> str:
        ran["sub"] += 1
        return "done"

    @flow(retries=1)
    async def parent() -> str:
        ran["parent"] += 1
        value = await sub()
        if ran["parent"] == 1:
            raise RuntimeError("retry me")
        return value

    assert asyncio.run(parent()) == "done"
    assert ran == {"sub": 1, "parent": 2}


@task
def slow() -> int:
    time.sleep(1.0)
    return 1


def test_a_subflow_timeout_counts_from_when_the_subflow_starts():
    """Prefect: a subflow's ``timeout_seconds`` is the subflow's own run time, not counted from the
    parent's start nor from the call while it waits for its ``wait_for``."""

    @flow(timeout_seconds=0.8)
    def quick() -> str:
        return "in time"

    @flow
    def parent() -> str:
        upstream = slow.submit()
        return quick(wait_for=[upstream])

    assert parent() == "in time"
