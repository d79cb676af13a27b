"""The engine never leaves a run unsettled: deep direct recursion and runtime cycles end the flow (issue 14)."""

from __future__ import annotations

import threading

import pytest

from legato import flow, task
from legato.core.errors import DependencyCycleError

HANG_BOUND = 60  # seconds: generous, only there so that a hang fails instead of blocking the suite


def _run_bounded(fn):
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as error:  # noqa: BLE001 - the outcome under test
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_BOUND)
    assert not thread.is_alive(), "the flow hung"
    return outcome


@task
def rec(n):
    return 0 if n == 0 else rec(n - 1) + 1


@pytest.fixture
def quiet_logs(monkeypatch):
    """Each failed level logs (and records in the history) its traceback, which holds every level below:
    formatting them all takes seconds, and is not what is tested here."""
    monkeypatch.setenv("LEGATO_LOGGING_LEVEL", "CRITICAL")
    monkeypatch.setenv("LEGATO_HISTORY", "0")
    yield
    monkeypatch.delenv("LEGATO_LOGGING_LEVEL")
    from legato.core.logs import configure_logging

    configure_logging()


@pytest.mark.parametrize("depth", [150, 3000])
def test_direct_recursion_past_the_limit_fails_with_a_named_recursion_error(runner, depth, quiet_logs):
    @flow(task_runner=runner)
    def deep():
        return rec(depth)

    outcome = _run_bounded(deep)
    error = outcome["error"]
    assert isinstance(error, RecursionError) and "task 'rec'" in str(error)


def test_shallow_direct_recursion_still_works(runner):
    @flow(task_runner=runner)
    def shallow():
        return rec(40)

    assert _run_bounded(shallow) == {"value": 40}


def test_a_task_waiting_on_a_run_that_waits_for_it_raises_naming_the_cycle():
    submitted = threading.Event()
    holder: dict = {}

    @task
    def first():
        assert submitted.wait(HANG_BOUND)
        return holder["second"].result()

    @task
    def second():
        return 1

    @task
    def third():
        return 2

    @flow(task_runner="threads")
    def cyclic():
        a = first.submit()
        b = second.submit(wait_for=[a])
        holder["second"] = third.submit(b)  # through a chain: third needs second, which waits for first
        submitted.set()
        return a

    error = _run_bounded(cyclic)["error"]
    assert isinstance(error, DependencyCycleError)
    assert "'first-0' -> 'third-0' -> 'second-0' -> 'first-0'" in str(error)


def test_the_cycle_error_is_public():
    import legato.exceptions

    assert issubclass(legato.exceptions.DependencyCycleError, legato.exceptions.LegatoError)
