"""Prefect 3: a task that *returns* a State ends in that state (issue #13, group 2).

``return Failed(message="x")`` fails the task run without raising (and is
retried while retries are left); ``return Completed(data=v)`` completes it
with ``v`` as its result. The value comes back from wherever the task ran,
so these run on every runner.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from legato import flow, task
from legato.exceptions import FailedRun
from legato.states import Cancelled, Completed, Failed, Pending

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runners"))
from _cluster import dask_address, ray_session  # noqa: E402,F401  (session fixtures for the dask/ray runners)

RUNNER_NAMES = ("sync", "threads", "processes", "dask", "ray")


@task
def returns_failed(x: int):
    return Failed(message=f"bad {x}")


@task
def returns_completed(x: int):
    return Completed(data=x * 10, message="done")


@task
def add_one(x: int) -> int:
    return x + 1


@task
def returns_cancelled():
    return Cancelled(message="not today")


def test_returned_states_are_the_final_states_on_every_runner(runner):
    """Prefect: a returned Failed fails the run (no exception raised in the task), a returned
    Completed(data=v) completes it with result v, which downstream tasks receive."""

    @flow(task_runner=runner)
    def pipeline():
        failed = returns_failed.submit(1)
        completed = returns_completed.submit(2)
        downstream = add_one.submit(completed)
        mapped = returns_completed.map([3, 4])
        failed.wait()
        completed.wait()
        return failed.state, completed.state, downstream.result(), [f.result() for f in mapped]

    failed, completed, downstream, mapped = pipeline()
    assert failed.is_failed() and failed.message == "bad 1"
    assert completed.is_completed() and completed.message == "done" and completed.result() == 20
    assert downstream == 21
    assert mapped == [30, 40]


def test_a_returned_failed_state_fails_the_flow_that_waits_for_it(runner):
    """Prefect: ``future.result()`` of a run that returned Failed raises (FailedRun, with the state's
    message); a flow that lets it propagate ends Failed."""

    @flow(task_runner=runner)
    def pipeline():
        future = returns_failed.submit(5)
        with pytest.raises(FailedRun, match="bad 5"):
            future.result()
        return future.result()

    state = pipeline(return_state=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), FailedRun)


RETURN_COUNTS: list[int] = []


@task(retries=2)
def fails_by_returning():
    RETURN_COUNTS.append(1)
    return Failed(message="try again")


def test_a_returned_failed_state_is_retried_while_retries_are_left():
    """Prefect's task engine retries a task that returns a Failed state, as if it had raised."""
    RETURN_COUNTS.clear()

    @flow(task_runner="threads")
    def pipeline():
        state = fails_by_returning.submit(return_state=True)
        return state.is_failed(), state.message

    assert pipeline() == (True, "try again")
    assert len(RETURN_COUNTS) == 3


def test_calling_the_task_directly_gives_back_the_state_it_returned():
    """Prefect: a direct call returns what the function returned (the state), without raising;
    ``return_state=True`` gives the run's state."""

    @flow
    def pipeline():
        failed, completed, state = returns_failed(7), returns_completed(1), returns_completed(1, return_state=True)
        return (failed.is_failed(), failed.message), completed.result(), state.result()

    assert pipeline() == ((True, "bad 7"), 10, 10)


def test_other_final_states_are_kept_and_a_non_final_one_fails_the_run():
    """Prefect keeps a returned state as given (a Cancelled one too); legato refuses a state that is not
    final (Pending/Running), which would leave the run unfinished, with a TypeError saying so."""

    @task
    def returns_pending():
        return Pending()

    @flow
    def pipeline():
        cancelled, pending = returns_cancelled.submit(return_state=True), returns_pending.submit(return_state=True)
        return (cancelled.is_cancelled(), cancelled.message), pending.is_failed(), pending.result(raise_on_failure=False)

    cancelled, pending_failed, error = pipeline()
    assert cancelled == (True, "not today")
    assert pending_failed and isinstance(error, TypeError) and "not a final state" in str(error)


def test_hooks_see_the_returned_state():
    """Prefect runs ``on_failure`` hooks for a run that returned a Failed state, with that state."""
    seen = []

    @task(on_failure=[lambda task, run, state: seen.append(state.message)])
    def refuses():
        return Failed(message="refused")

    @flow
    def pipeline():
        refuses.submit().wait()

    pipeline()
    assert seen == ["refused"]


def test_a_returned_completed_state_is_persisted_as_its_value(tmp_path, monkeypatch):
    """Prefect persists the data of a returned Completed state as the run's result (a cache hit gives v)."""
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path))
    runs = []

    @task(persist_result=True, result_storage=str(tmp_path / "results"))
    def cached(x: int):
        runs.append(x)
        return Completed(data=x + 100)

    @flow
    def pipeline():
        return cached.submit(1).result() + 0  # the value itself, not a state holding it

    assert pipeline(run_key="same") == 101
    assert pipeline(run_key="same") == 101
    assert runs == [1]
