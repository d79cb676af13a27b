"""States are Prefect-shaped values."""

from __future__ import annotations

import datetime

import pytest

from legato import CancelledRun, CrashedRun, UnfinishedRun, UpstreamNotReady
from legato import states as S
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
