"""States are Prefect-shaped values."""

from __future__ import annotations

import datetime
import threading
import time

import pytest

from legato import CancelledRun, CrashedRun, UnfinishedRun, UpstreamNotReady, flow, task
from legato import states as S
from legato.runners import ThreadPoolTaskRunner
from legato.states import State, StateType


def test_types_and_names():
    cases = [
        (S.Pending(), StateType.PENDING, "Pending", "is_pending"),
        (S.Running(), StateType.RUNNING, "Running", "is_running"),
        (S.Completed(1), StateType.COMPLETED, "Completed", "is_completed"),
        (S.Failed(ValueError()), StateType.FAILED, "Failed", "is_failed"),
        (S.Crashed(KeyboardInterrupt()), StateType.CRASHED, "Crashed", "is_crashed"),
        (S.Cancelled(), StateType.CANCELLED, "Cancelled", "is_cancelled"),
        (S.Retrying(), StateType.RUNNING, "Retrying", "is_running"),
        (S.AwaitingRetry(), StateType.PENDING, "AwaitingRetry", "is_pending"),
        (S.Cached(2), StateType.COMPLETED, "Cached", "is_completed"),
        (S.TimedOut(TimeoutError()), StateType.FAILED, "TimedOut", "is_failed"),
        (S.NotReady(), StateType.PENDING, "NotReady", "is_pending"),
    ]
    for state, type_, name, predicate in cases:
        assert state.type is type_ and state.name == name
        assert getattr(state, predicate)()
        others = {"is_pending", "is_running", "is_completed", "is_failed", "is_crashed", "is_cancelled"} - {predicate}
        assert not any(getattr(state, other)() for other in others)


def test_final_states():
    assert S.Completed().is_final() and S.Failed().is_final() and S.Crashed().is_final() and S.Cancelled().is_final()
    assert not S.Pending().is_final() and not S.Running().is_final() and not S.AwaitingRetry().is_final()


def test_timestamp_is_aware_and_recent():
    state = S.Completed()
    assert state.timestamp.tzinfo is not None
    assert abs((datetime.datetime.now(datetime.timezone.utc) - state.timestamp).total_seconds()) < 5


def test_result_returns_or_raises():
    assert S.Completed(42).result() == 42
    assert S.Cached([1]).result() == [1]
    error = ValueError("v")
    with pytest.raises(ValueError):
        S.Failed(error).result()
    assert S.Failed(error).result(raise_on_failure=False) is error
    with pytest.raises(UpstreamNotReady):
        S.NotReady("up failed").result()
    with pytest.raises(CancelledRun):
        S.Cancelled().result()
    with pytest.raises(CrashedRun):
        S.Crashed().result()
    with pytest.raises(UnfinishedRun):
        S.Running().result()


def test_result_ref_loads_once():
    calls = []
    from legato.core.states import ResultRef

    ref = ResultRef(lambda: calls.append(1) or "loaded")
    state = S.Completed(ref)
    assert state.result() == "loaded" and state.result() == "loaded"
    assert calls == [1]


def test_failed_message_describes_the_error():
    assert S.Failed(ValueError("bad")).message == "ValueError: bad"


def test_a_run_that_has_not_moved_reads_pending_since_its_creation_then_its_real_states():
    gate = threading.Event()

    @task
    def blocked() -> int:
        if not gate.wait(10):
            raise TimeoutError("the test never opened the gate")
        return 1

    @task
    def after(x: int) -> int:
        return x + 1

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def pipeline() -> dict:
        upstream = blocked.submit()
        before = time.time()
        waiting = after.submit(upstream)
        first, again = waiting.state, waiting.state
        gate.set()
        waiting.wait(10)
        final = waiting.state
        # states in a flow's return value become their results: return what they say instead
        return {"first": (first.type, first.name, first.timestamp.timestamp()), "same": first is again,
                "before": before, "final": (final.type, final.result() if final.is_completed() else None)}

    seen = pipeline()
    assert seen["first"][:2] == (StateType.PENDING, "Pending")
    assert seen["same"]  # made once, on first look
    assert seen["before"] <= seen["first"][2] <= seen["before"] + 5
    assert seen["final"] == (StateType.COMPLETED, 2)  # reading Pending did not hide the engine's state


# -- Prefect 3's returned-state rules -------------------------------------------------


def test_submit_and_map_with_return_state_give_final_states():
    from legato import flow, task

    @task
    def maybe(x, return_state_like=None):
        if x == 2:
            raise ValueError("two")
        return x

    @flow
    def pipeline():
        one = maybe.submit(1, return_state=True)
        many = maybe.map([1, 2, 3], return_state=True)
        return one, many

    one, many = pipeline()
    assert isinstance(one, State) and one.result() == 1
    assert [s.type for s in many] == [StateType.COMPLETED, StateType.FAILED, StateType.COMPLETED]


def test_a_flow_returning_task_run_states_returns_the_states():
    """Prefect 3.8: ``return t(1, return_state=True)`` gives the State itself; a list of them, the list."""
    from legato import flow, task

    @task
    def double(x):
        return 2 * x

    @flow
    def one():
        return double(1, return_state=True)

    @flow
    def several():
        return [double(1, return_state=True), double(2, return_state=True)]

    state = one()
    assert isinstance(state, State) and state.result() == 2
    assert [s.result() for s in several()] == [2, 4]


def test_a_flow_returning_a_state_it_built_ends_in_it():
    from legato import flow
    from legato.core.errors import FailedRun
    from legato.states import Completed, Failed

    @flow
    def built():
        return Completed(data=5)

    @flow
    def built_failure():
        return Failed(message="it went wrong")

    assert built() == 5
    with pytest.raises(FailedRun, match="it went wrong"):
        built_failure()
    assert built_failure(return_state=True).message == "it went wrong"


def test_a_flow_returning_a_failed_task_state_raises_the_task_error():
    from legato import flow, task

    @task
    def boom():
        raise KeyError("inner")

    @flow
    def pipeline():
        return [boom(return_state=True)]

    with pytest.raises(KeyError, match="inner"):
        pipeline()
    final = pipeline(return_state=True)
    assert final.is_failed() and "1/1" in final.message


def test_state_constructors_take_prefect_arguments():
    from legato.states import Cancelled, Crashed, Failed, raise_state_exception

    error = RuntimeError("x")
    failed = Failed(data=error, message="custom")
    assert failed.data is error and failed.message == "custom"
    assert Crashed(data=error).data is error
    assert Cancelled(message="stop").is_cancelled()
    with pytest.raises(RuntimeError):
        raise_state_exception(failed)
    raise_state_exception(Completed_state())


def Completed_state():
    from legato.states import Completed

    return Completed(data=1)


def test_runtime_outside_a_run_is_empty():
    from legato.runtime import deployment, flow_run, task_run

    assert flow_run.id is None and flow_run.parameters == {} and task_run.id is None and task_run.run_count == 0
    assert deployment.name is None
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        flow_run.nope


def test_runtime_scheduled_start_time_is_the_window_start_of_a_scheduled_run():
    """A served or backfilled run sees its window's start (``prefect.runtime.flow_run.scheduled_start_time``)."""
    from legato.core.context import scheduled_window
    from legato.runtime import flow_run

    start = datetime.datetime(2026, 12, 1, 0, 0, tzinfo=datetime.timezone.utc)

    @task
    def in_task():
        return flow_run.scheduled_start_time

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def nightly():
        return flow_run.scheduled_start_time, in_task.submit().result()

    token = scheduled_window.set((start, start + datetime.timedelta(days=1)))
    try:
        assert nightly() == (start, start)
    finally:
        scheduled_window.reset(token)
    body, _ = nightly()  # called directly: its own start (Prefect: the expected start is the start)
    assert body is not None and body != start and abs(body.timestamp() - time.time()) < 60
