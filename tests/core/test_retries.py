"""Retry policy: tenacity strategies, Prefect options, and retries in a live flow."""

from __future__ import annotations

import threading
import time

import pytest
import tenacity

from legato import exponential_backoff, flow, task
from legato.core.retries import RetryPolicy
from legato.runners import ThreadPoolTaskRunner


def delays(policy: RetryPolicy, failures: int, error: Exception | None = None) -> list[float | None]:
    """Feed ``failures`` failed attempts to the policy; return the delays it asks for (no sleeping)."""
    state = policy.new_call_state("task", "run")
    return [policy.next_delay(state, error or ValueError("x"), None) for _ in range(failures)]


def test_no_retries_by_default():
    assert not RetryPolicy().enabled
    assert delays(RetryPolicy(), 1) == [None]


def test_fixed_delay_then_give_up():
    assert delays(RetryPolicy(retries=2, retry_delay_seconds=3), 3) == [3.0, 3.0, None]


def test_list_of_delays_last_repeats():
    assert delays(RetryPolicy(retries=4, retry_delay_seconds=[1, 5]), 5) == [1.0, 5.0, 5.0, 5.0, None]


def test_exponential_backoff():
    policy = RetryPolicy(retries=4, retry_delay_seconds=exponential_backoff(backoff_factor=2))
    assert delays(policy, 5) == [2.0, 4.0, 8.0, 16.0, None]


def test_callable_delays_prefect_style():
    policy = RetryPolicy(retries=3, retry_delay_seconds=lambda retries: [0.5] * retries)
    assert delays(policy, 4) == [0.5, 0.5, 0.5, None]


def test_jitter_really_jitters_within_bounds():
    policy = RetryPolicy(retries=200, retry_delay_seconds=10, retry_jitter_factor=0.5)
    observed = delays(policy, 200)
    assert all(5.0 <= d <= 15.0 for d in observed)
    assert len(set(observed)) > 150


def test_retry_condition_fn_gets_task_run_and_state():
    seen = []

    def only_value_errors(task, task_run, state):
        seen.append((task, task_run, state.name))
        return isinstance(state.result(raise_on_failure=False), ValueError)

    from legato.states import Failed

    policy = RetryPolicy(retries=3, retry_condition_fn=only_value_errors)
    state = policy.new_call_state("the-task", "the-run")
    assert policy.next_delay(state, ValueError(), Failed(ValueError())) == 0.0
    assert policy.next_delay(state, KeyError(), Failed(KeyError())) is None
    assert seen[0] == ("the-task", "the-run", "Failed")


def test_tenacity_strategies_are_accepted_as_they_are():
    policy = RetryPolicy(
        retries=tenacity.stop_after_attempt(3),
        retry_delay_seconds=tenacity.wait_exponential(multiplier=1, max=4),
        retry_condition_fn=tenacity.retry_if_exception_type(OSError),
    )
    assert delays(policy, 3, OSError()) == [1.0, 2.0, None]
    assert delays(policy, 1, ValueError()) == [None]
    random_policy = RetryPolicy(retries=5, retry_delay_seconds=tenacity.wait_random_exponential(multiplier=1, max=8))
    assert all(0 <= d <= 8 for d in delays(random_policy, 5)[:-1])


def test_interrupts_are_never_retried():
    assert delays(RetryPolicy(retries=3), 1, KeyboardInterrupt()) == [None]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"retries": -1}, "retries must be >= 0"),
        ({"retries": 2, "retry_delay_seconds": [1] * 51}, "Can not configure more than 50 retry delays per task."),
        ({"retries": 1, "retry_delay_seconds": -1}, "retry_delay_seconds must be >= 0"),
        ({"retries": 1, "retry_jitter_factor": -0.1}, "`retry_jitter_factor` must be >= 0."),
        ({"timeout_seconds": -1}, "timeout_seconds must be >= 0"),
    ],
)
def test_invalid_options_raise_value_error_when_decorating(options, message):
    with pytest.raises(ValueError, match=message):
        task(**options)(lambda: None)


def test_invalid_flow_options_raise_value_error():
    with pytest.raises(ValueError, match="retries must be >= 0"):
        flow(retries=-2)(lambda: None)


def test_task_retries_in_a_flow_count_attempts_and_complete():
    attempts = []

    @task(retries=3, retry_delay_seconds=[0.01, 0.02])
    def flaky():
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    @flow
    def pipeline():
        future = flaky.submit()
        return future.result(), future.task_run.run_count, future.state.name

    assert pipeline() == ("ok", 3, "Completed")
    assert attempts[2] - attempts[1] >= 0.02 * 0.9


def test_retries_exhausted_fail_with_last_error():
    @task(retries=2)
    def always():
        raise ValueError("still broken")

    @flow
    def pipeline():
        future = always.submit()
        future.wait(10)
        box["out"] = future.task_run.run_count, future.state

    box = {}
    pipeline()
    count, state = box["out"]
    assert count == 3 and state.is_failed() and "still broken" in state.message


def test_retry_delay_holds_no_worker_slot():
    """One worker: while a task waits out a 0.3 s retry delay, others run on that worker."""
    finished = []
    first_failure = threading.Event()

    @task(retries=1, retry_delay_seconds=0.3)
    def slow_retry():
        if not first_failure.is_set():
            first_failure.set()
            raise RuntimeError("first attempt fails")
        finished.append("retry")

    @task
    def quick(i):
        finished.append(i)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=1))
    def pipeline():
        r = slow_retry.submit()
        first_failure.wait(5)
        quick.map(range(3)).wait(5)
        r.wait(5)

    pipeline()
    assert finished == [0, 1, 2, "retry"]


def test_direct_call_retries():
    calls = []

    @task(retries=2, retry_delay_seconds=0)
    def flaky():
        calls.append(1)
        if len(calls) < 2:
            raise ValueError()
        return len(calls)

    @flow
    def pipeline():
        return flaky()

    assert pipeline() == 2


def test_flow_retries_rerun_the_body():
    runs = []

    @flow(retries=2, retry_delay_seconds=0)
    def pipeline():
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("flow body failed")
        return len(runs)

    assert pipeline() == 3


def test_retry_condition_fn_stops_retries_in_a_flow():
    calls = []

    @task(retries=5, retry_condition_fn=lambda t, r, s: not isinstance(s.result(False), KeyError))
    def fails_with_key_error():
        calls.append(1)
        raise KeyError("do not retry")

    @flow
    def pipeline():
        return fails_with_key_error.submit().state

    with pytest.raises(KeyError):
        pipeline()
    assert len(calls) == 1
