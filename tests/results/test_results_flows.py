"""Caching and run keys through real flows (the engine calls the results manager)."""

from __future__ import annotations

from typing import Any

import pytest

from legato import flow, task
from legato.cache_policies import INPUTS
from legato.runners import SyncTaskRunner, ThreadPoolTaskRunner


class _Calls(list):  # type: ignore[type-arg]
    """Not a plain list, so TASK_SOURCE does not hash it (see test_results_manager)."""


calls = _Calls()


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


@task(cache_policy=INPUTS)
def cached_double(x: int) -> int:
    calls.append(x)
    return 2 * x


@task
def triple(x: int) -> int:
    calls.append(x)
    return 3 * x


def test_a_cached_task_run_ends_completed_named_cached(runner: Any) -> None:
    @flow(task_runner=runner)
    def pipeline(x: int) -> tuple[str, int]:
        state = cached_double(x, return_state=True)
        return state.name, state.result()

    assert pipeline(4) == ("Completed", 8)
    assert pipeline(4) == ("Cached", 8)
    assert calls == [4]


def test_a_run_key_reruns_only_what_did_not_complete() -> None:
    fail_on = {2}

    @task
    def fragile(x: int) -> int:
        calls.append(x)
        if x in fail_on:
            raise ValueError(f"item {x} failed")
        return x

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def batch(n: int) -> list[int]:
        return [f.result() for f in fragile.map(range(n))]

    with pytest.raises(ValueError):
        batch(4, run_key="nightly-{n}")
    assert sorted(calls) == [0, 1, 2, 3]
    calls.clear()
    fail_on.clear()
    assert batch(4, run_key="nightly-{n}") == [0, 1, 2, 3]
    assert calls == [2]


def test_a_subflow_inherits_its_parents_run_key() -> None:
    @flow
    def child(x: int) -> int:
        return triple(x)

    @flow
    def parent(xs: list[int]) -> list[int]:
        return [child(x) for x in xs]

    assert parent([1, 2], run_key="k") == [3, 6]
    assert parent([1, 2], run_key="k") == [3, 6]
    assert calls == [1, 2]
    assert parent([1, 2]) == [3, 6]  # no run key: nothing is reused
    assert calls == [1, 2, 1, 2]
