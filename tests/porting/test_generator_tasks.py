"""Generator tasks, as Prefect 3 runs them (``prefect/task_engine.py``, ``run_generator_task_sync``).

Each behaviour was checked on Prefect 3.9 with the same program first.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from legato import TaskTimeoutError, flow, task
from legato.context import get_run_context

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runners"))
from _cluster import dask_address, ray_session  # noqa: E402,F401  (the session's cluster fixtures)

#: the runners the ``runner`` tests here run on: submit and map collect on every one
RUNNER_NAMES = ("sync", "threads", "processes", "dask", "ray")


def _run(body, runner=None):
    """Run ``body`` as a flow (on ``runner`` if given) and return its value."""
    decorated = flow(body) if runner is None else flow(task_runner=runner)(body)
    return decorated()


def test_calling_a_generator_task_streams_its_values_lazily_and_completes_at_the_end():
    """Prefect: the call returns a generator; nothing runs before the first ``next``; each value
    arrives as it is yielded (the run is Running meanwhile); on exhaustion the run is Completed
    and ``on_completion`` runs."""
    log = []

    @task(on_completion=[lambda t, run, state: log.append(("completed", state.name))])
    def numbers(n):
        for i in range(n):
            log.append(("yield", i, get_run_context().task_run.state.name))
            yield i

    def body():
        stream = numbers(3)
        log.append("called")
        first = next(stream)
        log.append(("got", first))
        rest = list(stream)
        return first, rest

    assert _run(body) == (0, [1, 2])
    assert log == ["called", ("yield", 0, "Running"), ("got", 0), ("yield", 1, "Running"),
                   ("yield", 2, "Running"), ("completed", "Completed")]


def test_a_generator_task_called_outside_a_flow_streams_too():
    """Prefect: a generator task called outside any flow also returns a generator of its values."""

    @task
    def numbers(n):
        yield from range(n)

    stream = numbers(2)
    assert not isinstance(stream, list)
    assert list(stream) == [0, 1]


def test_retries_rerun_the_generator_from_the_start_after_values_already_reached_the_caller():
    """Prefect: a failed attempt's values have already been yielded; the retry runs the function
    again from the start, so the caller sees ``['a', 'a', 'b']``."""
    attempts = []

    @task(retries=2)
    def flaky():
        attempts.append(get_run_context().task_run.run_count)
        yield "a"
        if len(attempts) < 2:
            raise ValueError("first attempt fails")
        yield "b"

    assert _run(lambda: list(flaky())) == ["a", "a", "b"]
    assert attempts == [1, 2]


def test_a_failing_generator_fails_its_run_and_raises_in_the_caller_after_its_values():
    """Prefect: the exception reaches the caller where it iterates, after the values before it;
    the run is Failed and ``on_failure`` runs."""
    failed = []

    @task(on_failure=[lambda t, run, state: failed.append(state.name)])
    def broken():
        yield 1
        raise ValueError("broken")

    def body():
        seen = []
        with pytest.raises(ValueError, match="broken"):
            for value in broken():
                seen.append(value)
        return seen

    assert _run(body) == [1]
    assert failed == ["Failed"]


def test_timeout_seconds_ends_a_slow_generator_as_timed_out():
    """Prefect: ``timeout_seconds`` applies to a generator task; past it the run is TimedOut and the
    caller gets the timeout error (Prefect's ``TaskRunTimeoutError``, legato's ``TaskTimeoutError``)."""

    @task(timeout_seconds=0.2)
    def slow():
        yield 1
        time.sleep(2)
        yield 2

    def body():
        seen = []
        with pytest.raises(TaskTimeoutError, match="exceeded timeout of 0.2"):
            for value in slow():
                seen.append(value)
        return seen

    started = time.monotonic()
    assert _run(body) == [1]
    assert time.monotonic() - started < 1.5  # the sleeping attempt was abandoned, not waited for


def test_stopping_early_completes_the_run():
    """Prefect: a caller that stops early (``break``, the generator closed) leaves the run Completed
    (GeneratorExit is success), and the function's own cleanup runs."""
    log = []

    @task(on_completion=[lambda t, run, state: log.append("completed")])
    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            log.append("cleanup")

    def body():
        for value in endless():
            if value == 2:
                break
        return "done"

    assert _run(body) == "done"
    assert log == ["cleanup", "completed"]


def test_a_flow_that_keeps_a_half_read_generator_still_ends():
    """A generator left half-read when the body returns (kept alive by the return value) is closed
    at the end of the flow as Completed, rather than left for the flow to wait for forever."""

    @task
    def numbers():
        yield from range(10)

    def body():
        stream = numbers()
        next(stream)
        return stream  # still referenced: the flow's end must close it

    kept = _run(body)
    assert list(kept) == []  # closed


def test_return_state_is_refused_with_prefects_words():
    """Prefect: ``return_state=True`` on a generator task raises ``ValueError('The return_type for a
    generator task must be 'result'')``."""

    @task
    def numbers():
        yield 1

    def body():
        with pytest.raises(ValueError, match="The return_type for a generator task must be 'result'"):
            numbers(return_state=True)
        return True

    assert _run(body)


def test_submit_and_map_collect_the_values_into_a_list(runner):
    """Prefect turns a generator a task produces into a list: ``submit().result()`` is the list of its
    values, ``map`` gives one list per element; on every runner, as the list is built where it runs."""

    @task
    def numbers(n):
        yield from range(n)

    def body():
        return numbers.submit(3).result(), numbers.map([1, 2]).result()

    assert _run(body, runner) == ([0, 1, 2], [[0], [0, 1]])


@task
def scaled(xs, k):
    for x in xs:
        yield x * k


@task
def streams_inside(n):
    return list(scaled(range(n), 10))


def test_futures_as_arguments_and_a_generator_called_inside_a_task(runner):
    """Prefect: a generator task's future arguments are resolved before it runs; one called inside
    a task streams there (on a worker process or cluster too)."""

    @task
    def pair():
        return [1, 2]

    def body():
        return list(scaled(pair.submit(), k=3)), streams_inside.submit(3).result()

    assert _run(body, runner) == ([3, 6], [0, 10, 20])


def test_an_async_generator_task_streams_in_an_async_flow():
    """Prefect: an ``async def`` generator task returns an async generator, iterated with ``async for``;
    the run completes at the end."""
    completed = []

    @task(on_completion=[lambda t, run, state: completed.append(state.name)])
    async def ticks(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    @task
    async def async_numbers(n):
        for i in range(n):
            yield i

    @flow
    async def body():
        streamed = [value async for value in ticks(3)]
        return streamed, async_numbers.submit(2).result()

    assert asyncio.run(body()) == ([0, 1, 2], [0, 1])
    assert completed == ["Completed"]


def test_the_history_records_a_streamed_run_once_completed(legato_home):
    """A generator task's run is one task run in the history, Completed with one attempt, like any direct call."""
    from legato.history import get_run, task_runs

    flow_run_ids = []

    @task
    def numbers():
        yield from range(3)

    @flow
    def streamed():
        flow_run_ids.append(get_run_context().flow_run.id)
        return sum(numbers())

    assert streamed() == 3
    recorded = task_runs(get_run(flow_run_ids[0]).id)
    assert [(r.task_name, r.state_type, r.attempts) for r in recorded] == [("numbers", "COMPLETED", 1)]


def test_a_generator_task_whose_call_itself_raises_fails_its_run_and_the_flow_ends():
    """A generator task whose function raises before returning a generator (a wrapping decorator's
    check, say) fails like a body that raises: Failed, raised in the caller, retried if asked."""
    import functools

    calls = []

    def checked(fn):
        @functools.wraps(fn)
        def wrapper(*args):
            calls.append(args)
            if len(calls) == 1:
                raise RuntimeError("refused before the generator is made")
            return fn(*args)
        return wrapper

    @task(retries=1)
    @checked
    def guarded(n):
        yield from range(n)

    @task
    @checked
    def once(n):
        yield from range(n)

    def body():
        retried = list(guarded(2))
        calls.clear()
        with pytest.raises(RuntimeError, match="refused"):
            list(once(2))
        return retried

    assert _run(body) == [0, 1]


@task
async def async_numbers(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def test_a_submitted_async_generator_task_collects_its_values_on_every_runner(runner):
    """As a sync one: ``submit`` and ``map`` of an async generator task give lists of its values,
    collected in an event loop where the task runs."""

    def body():
        return async_numbers.submit(3).result(), async_numbers.map([1, 2]).result()

    assert _run(body, runner) == ([0, 1, 2], [[0], [0, 1]])
