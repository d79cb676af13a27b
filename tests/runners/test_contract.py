"""The runner contract: one suite, run unchanged on every runner (the ``runner`` fixture).

Each test builds a small flow on the runner under test and checks what any
runner must do. Where runners differ by nature (a runner in the flow's own
memory never serializes a result), the test asks ``runner.shares_memory``
rather than the runner's name.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import pytest
import tasks as T
from _leftovers import Leftovers, dask_clusters

from legato import allow_failure, flow, quote, unmapped
from legato.core.errors import SerializationError, TaskTimeoutError, UpstreamNotReady
from legato.core.states import StateType
from legato.runners.base import TaskRunner

pytestmark = pytest.mark.timeout(60)


def run(runner: TaskRunner, body: Any, *args: Any) -> Any:
    """Call ``body`` as a flow on ``runner`` and return what it returns.

    A body returns ``quote(futures)`` to hand futures back as they are (the
    flow would otherwise resolve them, and fail on a failed one).
    """
    return flow(task_runner=runner, name=body.__name__)(body)(*args)


def test_submit(runner):
    def body():
        return T.add.submit(1, 2).result()

    assert run(runner, body) == 3


def test_map(runner):
    def body():
        return T.double.map(range(6)).result(), T.add.map(range(3), unmapped(10)).result()

    assert run(runner, body) == ([0, 2, 4, 6, 8, 10], [10, 11, 12])


def test_chain(runner):
    def body():
        x = T.inc.submit(0)
        for _ in range(9):
            x = T.inc.submit(x)
        return x.result()

    assert run(runner, body) == 10


def test_fan_out_fan_in(runner):
    def body():
        doubled = T.double.map(range(10))
        return T.total.submit(doubled).result(), T.total.submit(T.inc.map(doubled)).result()

    assert run(runner, body) == (90, 100)


def test_futures_nested_in_list_dict_tuple_and_set_arguments(runner):
    def body():
        a, b = T.add.submit(1, 1), T.add.submit(2, 1)
        return T.describe.submit([a, b], {"k": a}, (a, b), {a, b}).result()

    assert run(runner, body) == ([2, 3], {"k": 2}, (2, 3), [2, 3])


def test_wait_for_orders_runs(runner, tmp_path):
    path = str(tmp_path / "order")

    def body():
        first = T.write_line.submit(path, "first", 0.3)
        second = T.write_line.submit(path, "second", wait_for=[first])
        return second.result()

    assert run(runner, body) == "second"
    assert T.lines(path) == ["first", "second"]


def test_upstream_failure_leaves_downstream_not_ready_and_unrun(runner, tmp_path):
    path = str(tmp_path / "ran")

    def body():
        downstream = T.write_line.submit(path, T.fail.submit("no"))
        downstream.wait()
        return quote(downstream)

    downstream = run(runner, body)
    assert downstream.state.type is StateType.PENDING
    assert downstream.state.name == "NotReady"
    with pytest.raises(UpstreamNotReady):
        downstream.result()
    assert T.lines(path) == []


def test_allow_failure_hands_the_exception_over(runner):
    def body():
        return T.describe_error.submit(allow_failure(T.fail.submit("broken"))).result()

    assert run(runner, body) == "CustomError: broken"


def test_retries_with_delays_count_attempts(runner, tmp_path):
    path = str(tmp_path / "attempts")

    def body():
        future = T.flaky.submit(path, 3)
        return future.result(), future.state.name, future.task_run.run_count

    assert run(runner, body) == (3, "Completed", 3)
    assert T.lines(path) == ["attempt"] * 3


def test_a_timeout_fails_the_run_and_others_carry_on(runner):
    def body():
        slow = T.sleep_for.with_options(timeout_seconds=0.3).submit(2.0)
        fine = T.add.submit(1, 2)
        slow.wait()
        return quote(slow), fine.result()

    slow, fine = run(runner, body)
    assert slow.state.name == "TimedOut"
    assert slow.state.type is StateType.FAILED
    assert isinstance(slow.state.data, TaskTimeoutError)
    assert fine == 3


def test_exceptions_keep_type_message_and_traceback(runner):
    def body():
        plain, custom = T.raise_value_error.submit("boom 42"), T.fail.submit("custom 7")
        plain.wait()
        custom.wait()
        return plain.state.data, custom.state.data, quote(T.raise_value_error.map(["mapped 1"])[0])

    plain, custom, mapped = run(runner, body)
    assert type(plain) is ValueError and str(plain) == "boom 42"
    assert type(custom) is T.CustomError and str(custom) == "custom 7"
    mapped.wait()
    for error in (plain, custom, mapped.state.data):
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        assert "tasks.py" in text, text  # the frames of the task itself, wherever it ran
        assert "raise_value_error" in text or "def fail" in text or "in fail" in text, text


def test_nested_submission(runner):
    # A task may submit a task and wait for it, or call it directly (it then runs inline).
    def body():
        return (
            T.outer_submits.submit(3).result(), T.outer_submits.map([1, 2]).result(),
            T.outer_calls.submit(3).result(), T.outer_calls.map([1, 2]).result(),
        )

    assert run(runner, body) == (31, [11, 21], 31, [11, 21])


def test_async_tasks(runner):
    def body():
        return T.async_add.submit(1, 2).result(), T.async_add.map([1, 2], [3, 4]).result()

    assert run(runner, body) == (3, [4, 6])


def test_large_arguments_and_results(runner):
    blob = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    expected = T.digest.fn(blob)
    items = list(range(10_000))

    def body():
        made = T.make_blob.submit(len(blob))
        return (
            T.digest.submit(blob).result(),
            T.digest.submit(made).result(),
            T.sum_items.submit(items).result(),
            T.sum_items.map([items, items[:10]]).result(),
        )

    direct, chained, summed, mapped = run(runner, body)
    assert direct == expected
    assert chained == expected
    assert summed == (10_000, sum(items))
    assert mapped == [(10_000, sum(items)), (10, 45)]


def test_results_that_cannot_be_serialized(runner):
    def body():
        futures = [T.make_generator.submit(3), T.make_lock.submit(), *T.make_generator.map([1, 2])]
        for future in futures:
            future.wait()
        return quote(futures)

    futures = run(runner, body)
    for future in futures:
        if runner.shares_memory:  # nothing is serialized: the value is handed over as it is
            assert future.state.is_completed()
        else:
            assert future.state.is_failed(), (future.task_run.name, future.state)
            error = future.state.data
            assert isinstance(error, SerializationError), repr(error)
            assert future.task_run.name in str(error)


def test_duplicate_gives_an_unstarted_copy(runner):
    copy = runner.duplicate()
    assert type(copy) is type(runner)
    assert not copy.started
    assert copy is not runner


def test_shutdown_leaves_no_processes_threads_or_clusters(runner, leftovers: Leftovers):
    clusters = dask_clusters()

    def body():
        return T.total.submit(T.double.map(range(8))).result(), T.pid.submit().result()

    total, _ = run(runner, body)
    assert total == 56
    deadline = time.monotonic() + 5
    while leftovers.new_threads() and time.monotonic() < deadline:  # a daemon thread on its way out
        time.sleep(0.05)
    assert leftovers.new_processes() == []
    assert leftovers.new_threads() == []
    assert dask_clusters() == clusters
    if runner.name == "ray":
        import ray

        assert ray.is_initialized()  # the session's Ray: not the runner's to stop
