"""Futures as Prefect 3 has them (``prefect/futures.py``; checked on Prefect 3.9 with the same program)."""

from __future__ import annotations

import threading

import pytest

from legato import flow, task
from legato.futures import as_completed, wait


@task
def held(gate, value):
    """Returns ``value`` once ``gate`` is set (bounded: a stuck test fails instead of hanging)."""
    assert gate.wait(10)
    return value


def test_state_is_not_final_before_completion_and_wait_with_a_timeout_returns_none(runner):
    """Prefect: before the run ends ``future.state`` is not final (Pending or Running); ``wait(timeout)``
    returns None when time runs out and leaves it so; ``result(timeout)`` raises ``TimeoutError``
    ("Task run ... did not complete within 0.01 seconds"); after ``wait()`` the state is final."""
    if type(runner).__name__ == "SyncTaskRunner":
        pytest.skip("the sync runner runs a task only when it is waited for")
    gate = threading.Event()

    @flow(task_runner=runner)
    def watch():
        future = held.submit(gate, 7)
        before = future.state
        returned = future.wait(0.01)
        with pytest.raises(TimeoutError, match=r"Task run 'held-0' \(\w+\) did not complete within 0.01 seconds"):
            future.result(timeout=0.01)
        gate.set()
        future.wait()
        return before.is_final(), returned, future.state.is_completed(), future.result()

    assert watch() == (False, None, True, 7)


def test_a_future_resolves_from_another_thread(runner):
    """Prefect: a future made in a flow run can be passed to another thread, whose ``result()`` waits for it."""
    if type(runner).__name__ == "SyncTaskRunner":
        pytest.skip("the sync runner runs tasks in the flow's thread, when the flow waits")
    gate = threading.Event()

    @flow(task_runner=runner)
    def across():
        future = held.submit(gate, "from the flow")
        got = []
        reader = threading.Thread(target=lambda: got.append(future.result(timeout=10)))
        reader.start()
        gate.set()
        reader.join(10)
        return got

    assert across() == ["from the flow"]


def test_as_completed_times_out_in_prefects_words_after_the_finished_futures():
    """Prefect: ``as_completed(futures, timeout)`` first yields those already done, then raises a
    ``TimeoutError`` "1 (of 2) futures unfinished"; a negative timeout is a ``ValueError``."""
    gate = threading.Event()

    @flow
    def partly():
        open_gate = threading.Event()
        open_gate.set()
        finished = held.submit(open_gate, "finished")
        finished.wait()
        stuck = held.submit(gate, "stuck")
        seen = []
        with pytest.raises(TimeoutError, match=r"^1 \(of 2\) futures unfinished$"):
            for future in as_completed([finished, stuck], timeout=0.05):
                seen.append(future.result())
        with pytest.raises(ValueError, match="'timeout' must be a non-negative number, got -1"):
            list(as_completed([stuck], timeout=-1))
        not_done = wait([stuck], timeout=0.01).not_done
        gate.set()
        return seen, len(not_done)

    assert partly() == (["finished"], 1)


def test_a_future_passed_to_another_flow_run_in_a_thread_resolves_there():
    """Prefect: a future of one flow run given to another flow run (called in a thread) resolves there."""
    gate = threading.Event()

    @flow
    def reader(future):
        return future.result(timeout=10) + 1

    @flow
    def maker():
        future = held.submit(gate, 41)
        got = []
        other = threading.Thread(target=lambda: got.append(reader(future)))
        other.start()
        gate.set()
        other.join(10)
        return got

    assert maker() == [42]
