"""What failure does to tasks, their downstreams and the flow."""

from __future__ import annotations

import pytest

from legato import UpstreamNotReady, allow_failure, flow, task
from legato.runners import SyncTaskRunner, ThreadPoolTaskRunner


@task
def boom(message="boom"):
    raise ValueError(message)


@task
def identity(x):
    return x


def test_downstream_of_a_failed_task_does_not_run_and_is_not_ready(runner):
    ran = []

    @task
    def downstream(x):
        ran.append(x)

    @flow(task_runner=runner)
    def pipeline():
        up = boom.submit()
        down = downstream.submit(up)
        down.wait(timeout=10)
        box["states"] = up.state, down.state

    box = {}
    pipeline()
    up_state, down_state = box["states"]
    assert up_state.is_failed()
    assert down_state.is_pending() and down_state.name == "NotReady"
    assert ran == []
    with pytest.raises(UpstreamNotReady):
        down_state.result()


def test_wait_for_a_failed_task_also_makes_not_ready(runner):
    @flow(task_runner=runner)
    def pipeline():
        up = boom.submit()
        return identity.submit(1, wait_for=[up]).state

    # the returned state is resolved: NotReady cannot give a value
    with pytest.raises(UpstreamNotReady):
        pipeline()


def test_allow_failure_hands_the_exception_downstream(runner):
    @flow(task_runner=runner)
    def pipeline():
        up = boom.submit("bad input")
        return identity.submit(allow_failure(up)).result()

    error = pipeline()
    assert isinstance(error, ValueError) and str(error) == "bad input"


def test_allow_failure_in_wait_for(runner):
    @flow(task_runner=runner)
    def pipeline():
        up = boom.submit()
        return identity.submit(7, wait_for=[allow_failure(up)]).result()

    assert pipeline() == 7


def test_unreturned_failed_task_leaves_flow_completed(runner):
    @flow(task_runner=runner)
    def pipeline():
        boom.submit()
        return "ok"

    state = pipeline(return_state=True)
    assert state.is_completed() and state.result() == "ok"


def test_exception_in_flow_body_fails_flow_and_is_reraised(runner):
    @flow(task_runner=runner)
    def pipeline():
        identity.submit(1)
        raise KeyError("in the body")

    with pytest.raises(KeyError, match="in the body"):
        pipeline()
    assert pipeline(return_state=True).is_failed()


def test_awaiting_a_failed_future_in_the_body_fails_the_flow(runner):
    @flow(task_runner=runner)
    def pipeline():
        return boom.submit("awaited").result()

    with pytest.raises(ValueError, match="awaited"):
        pipeline()


def test_returning_a_failed_future_fails_the_flow(runner):
    @flow(task_runner=runner)
    def pipeline():
        return [boom.submit("returned")]

    state = pipeline(return_state=True)
    assert state.is_failed() and "returned" in state.message


def test_direct_call_of_failing_task_raises_in_flow():
    @flow
    def pipeline():
        try:
            boom("direct")
        except ValueError as error:
            return f"caught {error}"

    assert pipeline() == "caught direct"


def test_result_without_raising_returns_the_exception(runner):
    @flow(task_runner=runner)
    def pipeline():
        return boom.submit("soft").result(raise_on_failure=False)

    assert isinstance(pipeline(), ValueError)
