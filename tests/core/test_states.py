"""States are Prefect-shaped values."""

from __future__ import annotations

import datetime
import threading
import time

import pytest

from legato import CancelledRun, CrashedRun, UnfinishedRun, UpstreamNotReady, flow, task
from legato import states as S
from legato.runners import ThreadPoolTaskRunner
from legato.states import StateType


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
