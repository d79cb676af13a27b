"""Prefect 3 behaviours that Prefect programs rely on, each pinned as Prefect has it."""

from __future__ import annotations

import asyncio

import pytest

from legato import ParameterTypeError, flow, get_run_logger, quote, task, unmapped
from legato.futures import wait


def test_hooks_in_prefects_decorator_form_run():
    """``@my_task.on_completion`` / ``@my_flow.on_failure`` register a hook and leave the function usable."""
    seen = []

    @task
    def double(x):
        return 2 * x

    @double.on_completion
    def task_done(tsk, run, state):
        seen.append(("task completed", tsk.name, state.result()))

    @flow
    def fails():
        double(2)
        raise RuntimeError("flow body fails")

    @fails.on_failure
    def flow_failed(flw, run, state):
        seen.append(("flow failed", flw.name, type(state.result(raise_on_failure=False)).__name__))

    @fails.on_running
    def flow_running(flw, run, state):
        seen.append(("flow running", flw.name, state.type.value))

    assert callable(task_done) and task_done.__name__ == "task_done"
    with pytest.raises(RuntimeError):
        fails()
    assert seen == [("flow running", "fails", "RUNNING"), ("task completed", "double", 4),
                    ("flow failed", "fails", "RuntimeError")]


def test_async_hooks_are_awaited_for_sync_and_async_flows():
    seen = []

    async def note(flw, run, state):
        await asyncio.sleep(0)
        seen.append((flw.name, state.type.value))

    @flow(on_completion=[note])
    def sync_flow():
        return 1

    @flow(on_completion=[note])
    async def async_flow():
        return 2

    assert sync_flow() == 1
    assert asyncio.run(async_flow()) == 2
    assert seen == [("sync-flow", "COMPLETED"), ("async-flow", "COMPLETED")]


@pytest.mark.parametrize("bad, message", [
    ([1], "Expected callables in 'on_completion'; got int instead."),
    (5, "Expected iterable for 'on_completion'; got int instead."),
])
def test_hook_validation_errors_read_as_prefects(bad, message):
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        task(lambda: 1, on_completion=bad)
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        flow(lambda: 1, on_completion=bad)


def test_with_options_keeps_hooks_without_sharing_them():
    @task
    def t():
        return 1

    @t.on_failure
    def hook(*_):
        pass

    copy = t.with_options(retries=2)
    assert list(copy.on_failure) == [hook] and copy.retries == 2
    copy.on_failure(lambda *_: None)
    assert len(t.on_failure) == 1


def test_invalid_parameters_with_return_state_give_a_failed_state():
    @flow
    def typed(n: int):
        return n

    state = typed("not a number", return_state=True)
    assert state.is_failed() and "Validation of flow parameters failed" in state.message
    with pytest.raises(ParameterTypeError):
        state.result()
    with pytest.raises(ParameterTypeError):
        typed("not a number")


def test_a_task_timeout_message_reads_as_prefects():
    import time

    @task(timeout_seconds=0.1)
    def slow():
        time.sleep(2)

    @flow
    def pipeline():
        state = slow(return_state=True)
        return state.name, str(state.result(raise_on_failure=False))

    name, message = pipeline()
    assert name == "TimedOut" and "exceeded timeout of 0.1 second(s)" in message


def test_quote_is_never_iterated_and_the_other_arguments_are_mapped():
    @task
    def pair(x, items):
        return (x, len(items))

    @flow
    def pipeline():
        return pair.map([1, 2], quote([7, 8, 9])).result(), pair.map([1, 2], unmapped([7])).result()

    assert pipeline() == ([(1, 3), (2, 3)], [(1, 1), (2, 1)])


def test_wait_returns_done_and_not_done():
    import threading

    gate = threading.Event()

    @task
    def blocked():
        gate.wait(10)

    @task
    def quick():
        return 1

    @flow
    def pipeline():
        slow, fast = blocked.submit(), quick.submit()
        fast.wait(10)
        done, not_done = wait([slow, fast], timeout=0.2)
        gate.set()
        return fast in done, slow in not_done

    assert pipeline() == (True, True)


def test_hooks_can_use_the_run_logger_of_their_flow_run(caplog):
    """Flow hooks run inside the flow run's context, so ``get_run_logger()`` works in them."""
    records = []

    def log_it(flw, run, state):
        records.append(get_run_logger().extra["flow_run_id"] == run.id)

    @flow(on_completion=[log_it])
    def pipeline():
        return 1

    assert pipeline() == 1
    assert records == [True]


def test_a_future_list_result_with_a_timeout_raises_prefects_timeout_error():
    import threading

    gate = threading.Event()

    @task
    def blocked_on(x):
        gate.wait(10)

    @flow
    def pipeline():
        futures = blocked_on.map(range(2))
        try:
            futures.result(timeout=0.1)
        except TimeoutError as error:
            return str(error)
        finally:
            gate.set()

    assert pipeline().startswith("Timed out waiting for all futures to complete")


class Scaler:
    def __init__(self, k):
        self.k = k

    @task(task_run_name="scale-{self.k}-{x}")
    def scale(self, x):
        return self.k * x

    @classmethod
    @task
    def plus_one(cls, x):
        return (cls.__name__, x + 1)

    @staticmethod
    @task
    def plus_two(x):
        return x + 2

    @flow
    def pipeline(self, x: int):
        return self.scale(x), self.scale.submit(x).result()


def test_methods_class_methods_and_static_methods_as_tasks_and_flows():
    @flow
    def outer():
        scaler = Scaler(3)
        future = scaler.scale.submit(5)
        return future.result(), future.task_run.name, Scaler.plus_one(1), Scaler.plus_two(1)

    assert outer() == (15, "scale-3-5", ("Scaler", 2), 3)
    assert Scaler(4).pipeline(2) == (8, 8)
    assert Scaler(4).pipeline("2") == (8, 8)  # the bound flow still validates its parameters


def test_a_subflow_waits_for_its_wait_for_and_does_not_run_after_a_failure():
    import threading

    from legato import UpstreamNotReady

    order = []
    gate = threading.Event()

    @task
    def slow():
        gate.wait(5)
        order.append("task")

    @task
    def fails():
        raise ValueError("upstream broke")

    @flow
    def child():
        order.append("child")
        return "ran"

    @flow
    def parent():
        first = slow.submit()
        gate.set()
        ran = child(wait_for=[first])
        skipped = child(wait_for=[fails.submit()], return_state=True)
        try:
            child(wait_for=[fails.submit()])
        except UpstreamNotReady:
            raised = True
        return ran, skipped.name, raised

    assert parent() == ("ran", "NotReady", True)
    assert order == ["task", "child"]


def test_runners_with_the_same_settings_are_equal_and_equal_their_duplicates():
    """Prefect 3: task runners compare by type and settings; ``duplicate()`` is an equal, unstarted copy."""
    from legato.runners.processes import ProcessPoolTaskRunner
    from legato.runners.threads import ThreadPoolTaskRunner

    threads = ThreadPoolTaskRunner(max_workers=2)
    assert threads == ThreadPoolTaskRunner(max_workers=2) and threads != ThreadPoolTaskRunner(max_workers=3)
    assert threads.duplicate() == threads and threads.duplicate() is not threads
    assert ProcessPoolTaskRunner(max_workers=2) == ProcessPoolTaskRunner(max_workers=2)
    assert threads != ProcessPoolTaskRunner(max_workers=2)
    assert len({threads, ThreadPoolTaskRunner(max_workers=2)}) == 2  # equal runners are still two runners

