"""The sync runner's ``timeout_seconds`` bounds the task, or is refused (issue 14, failure 6)."""

from __future__ import annotations

import threading
import time

import pytest

from legato import flow, task
from legato.core.errors import TaskTimeoutError
from legato.runners import SyncTaskRunner

pytestmark = pytest.mark.timeout(30)

finished: list[str] = []


@task(timeout_seconds=0.2)
def sleeps(seconds: float) -> str:
    time.sleep(seconds)
    finished.append("slept")
    return "woke"


@task
def quick(x: int) -> int:
    return x + 1


@flow(task_runner=SyncTaskRunner())
def sleepy(seconds: float) -> tuple[str, int, str]:
    slow = sleeps.submit(seconds)
    slow.wait()
    return slow.state.name, quick(1), type(slow.state.data).__name__


def test_a_task_past_its_timeout_is_interrupted_and_the_flow_ends_soon() -> None:
    finished.clear()
    started = time.monotonic()
    assert sleepy(10.0) == ("TimedOut", 2, "TaskTimeoutError")
    assert time.monotonic() - started < 5  # generous; the task would sleep 10 s
    assert finished == []  # its body did not run on past the timeout


def test_a_task_within_its_timeout_completes_and_leaves_no_alarm() -> None:
    import signal

    before = signal.getsignal(signal.SIGALRM)
    outer, _ = signal.getitimer(signal.ITIMER_REAL)  # pytest-timeout's own alarm, if it uses signals
    assert sleepy(0.01)[0] == "Completed"
    assert signal.getsignal(signal.SIGALRM) is before
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    assert (left == 0.0) if outer == 0.0 else (outer - 5 < left <= outer)  # the outer deadline is kept


def test_a_retried_timeout_is_interrupted_each_time() -> None:
    attempts: list[int] = []

    @task(timeout_seconds=0.2, retries=2, retry_delay_seconds=0)
    def stuck() -> None:
        attempts.append(1)
        time.sleep(10)

    @flow(task_runner=SyncTaskRunner())
    def body() -> str:
        return stuck(return_state=True).name

    started = time.monotonic()
    assert body() == "TimedOut"
    assert len(attempts) == 3
    assert time.monotonic() - started < 10


def test_on_another_thread_a_timeout_is_refused_with_a_clear_error() -> None:
    outcome: dict[str, object] = {}

    def in_thread() -> None:
        try:
            outcome["value"] = sleepy(10.0)
        except BaseException as error:  # noqa: BLE001 - what the flow raised is the result
            outcome["error"] = error

    started = time.monotonic()
    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    state_name, plus_one, error_type = outcome["value"]  # type: ignore[misc]
    assert (state_name, plus_one, error_type) == ("Failed", 2, "RuntimeError")


def test_the_refusal_names_the_task_the_thread_and_the_way_out() -> None:
    from legato.runners._alarm import check_enforceable

    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            check_enforceable("sleeps", 0.2)
        except RuntimeError as error:
            errors.append(error)

    thread = threading.Thread(target=in_thread, name="worker-7")
    thread.start()
    thread.join(5)
    message = str(errors[0])
    assert "'sleeps'" in message and "worker-7" in message and "task_runner='threads'" in message


def test_nested_deadlines_keep_the_outer_one() -> None:
    from legato.runners._alarm import call_with_alarm

    def outer() -> None:
        call_with_alarm(lambda: time.sleep(0.01), 5.0, "inner")  # ends well within its own deadline
        time.sleep(10)  # the outer deadline, 0.3 s, still holds

    started = time.monotonic()
    with pytest.raises(TaskTimeoutError, match="'outer'"):
        call_with_alarm(outer, 0.3, "outer")
    assert time.monotonic() - started < 5
