"""The engine's state machine driven by a scripted runner and a manual clock: no threads, no sleeps.

Every test here builds the graph through the public API (``submit``, ``map``)
on :func:`legato.testing.engine_run`, then completes, fails or starts the
submitted work by hand and looks at the states that follow.
"""

from __future__ import annotations

import threading

import pytest

from legato import allow_failure, task
from legato.core import graph
from legato.core.states import StateType
from legato.testing import ManualClock, ScriptedTaskRunner, ScriptStalled, engine_run


@task
def add(x, y=0):
    return x + y


@task
def ident(x):
    return x


@task(retries=2, retry_delay_seconds=10)
def flaky(x):
    return x


@task(timeout_seconds=5)
def slow(x):
    return x


def _types(*futures):
    return [f.state.type for f in futures]


def test_nothing_runs_until_the_script_says_so():
    runner = ScriptedTaskRunner()
    with engine_run(runner) as engine:
        a = add.submit(1)
        b = add.submit(a, 10)
        assert [f.work.task_name for f in runner.submitted] == ["add"]  # b waits in the engine, not the runner
        assert a.state.type is StateType.RUNNING and b.state.type is StateType.PENDING
        assert b.task_run.waiting_on == 1
        runner.submitted[0].run()
        assert a.result() == 1 and b.state.type is StateType.RUNNING  # b became ready and was submitted
        runner.run_next()
        assert b.result() == 11
        assert engine.wait_all(0)


def test_a_failure_turns_the_whole_downstream_not_ready_without_running_it():
    runner = ScriptedTaskRunner()
    with engine_run(runner):
        a = ident.submit(1)
        b = ident.submit(a)
        c = add.submit(b, 1)
        tolerant = ident.submit(allow_failure(a))
        waiter = ident.submit(2, wait_for=[c])
        runner.submitted[0].fail(ValueError("boom"))
        assert _types(a, b, c, waiter) == [StateType.FAILED, StateType.PENDING, StateType.PENDING, StateType.PENDING]
        assert [b.state.name, c.state.name, waiter.state.name] == ["NotReady"] * 3
        assert all(f.done() for f in (b, c, waiter))
        assert [f.work.task_name for f in runner.submitted] == ["ident"]  # only the tolerant one was sent
        runner.run_next()
        assert isinstance(tolerant.result(), ValueError)


def test_a_retry_waits_on_the_clock_not_on_a_worker():
    runner, clock = ScriptedTaskRunner(), ManualClock()
    with engine_run(runner, clock):
        future = flaky.submit(7)
        runner.submitted[0].fail(ValueError("first"))
        assert future.state.name == "AwaitingRetry" and runner.submitted == []
        assert clock.scheduled == [10.0]
        clock.advance(9.9)
        assert runner.submitted == []
        clock.advance(0.1)
        assert len(runner.submitted) == 1 and future.state.name == "Retrying"
        runner.submitted[0].fail(ValueError("second"))
        clock.advance(10)
        runner.run_next()
        assert future.result() == 7 and future.task_run.run_count == 3


def test_retries_run_out_into_failed():
    runner, clock = ScriptedTaskRunner(), ManualClock()
    with engine_run(runner, clock):
        future = flaky.submit(7)
        for attempt in range(3):
            runner.submitted[0].fail(ValueError(f"attempt {attempt}"))
            clock.advance(10)
        assert future.state.type is StateType.FAILED and str(future.state.data) == "attempt 2"
        assert clock.scheduled == []


def test_a_direct_call_retries_on_the_clock_without_sleeping():
    calls = []

    @task(retries=2, retry_delay_seconds=[3, 30])
    def twice_broken():
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("not yet")
        return "ok"

    clock = ManualClock()
    with engine_run(ScriptedTaskRunner(), clock):
        assert twice_broken() == "ok"
    assert clock.slept == [3, 30] and clock.now == 33


def test_a_timeout_counts_from_the_start_and_aborts_the_work():
    runner, clock = ScriptedTaskRunner(), ManualClock()
    with engine_run(runner, clock):
        future = slow.submit(1)
        work = runner.submitted[0]
        clock.advance(100)  # not started yet: no deadline is armed
        assert future.state.type is StateType.RUNNING
        work.start()
        clock.advance(4.9)
        assert future.state.type is StateType.RUNNING
        clock.advance(0.1)
        assert future.state.name == "TimedOut" and work.cancelled_


def test_a_late_outcome_of_a_timed_out_attempt_is_ignored():
    runner, clock = ScriptedTaskRunner(), ManualClock()
    with engine_run(runner, clock):
        future = slow.submit(1)
        work = runner.submitted[0]
        work.start()
        clock.advance(5)
        assert future.state.name == "TimedOut"
        assert work.done()  # aborted: cancelled by the runner
        assert future.state.name == "TimedOut"


def test_map_batches_probe_first_then_grow_and_bound_batches_in_flight():
    runner = ScriptedTaskRunner(concurrency=2)
    with engine_run(runner) as engine:
        futures = ident.map(range(100))
        assert [f.size for f in runner.submitted] == [1, 1, 1, 1]  # probes, at most 2 x concurrency in flight
        for probe in list(runner.submitted):
            index = probe.work.runs[0].map_index
            probe.complete((1e-6, [(True, index)]))  # measured: a microsecond per element
        sizes = [f.size for f in runner.submitted]
        assert len(sizes) == 4 and all(size > 1 for size in sizes)
        assert max(sizes) <= -(-96 // 2)  # never fewer batches than workers while elements wait
        runner.run_all()
        assert futures.result() == list(range(100))
        assert engine.wait_all(0)


def test_max_concurrency_bounds_elements_in_flight():
    runner = ScriptedTaskRunner(concurrency=8, batches=False)
    with engine_run(runner):
        futures = ident.map(range(10), max_concurrency=3)
        assert len(runner.submitted) == 3
        runner.run_next()
        assert len(runner.submitted) == 3  # a settled element freed its slot for the next one
        runner.run_all()
        assert futures.result() == list(range(10))
        assert max(len(f.work.runs) if hasattr(f.work, "runs") else 1 for f in runner.history) == 1


def test_a_batch_that_fails_as_a_whole_runs_its_elements_again_one_by_one():
    runner = ScriptedTaskRunner(concurrency=1)
    with engine_run(runner):
        futures = ident.map(range(6))
        for probe in list(runner.submitted):
            probe.complete((1e-6, [(True, probe.work.runs[0].map_index)]))
        batch = next(f for f in runner.submitted if f.size > 1)
        batch.fail(RuntimeError("worker lost"))
        assert all(f.size == 1 for f in runner.submitted if f not in runner.history[:3])
        runner.run_all()
        assert futures.result() == list(range(6))


def test_cancellation_settles_waiting_and_submitted_runs_and_cancels_their_work():
    runner = ScriptedTaskRunner()
    with engine_run(runner) as engine:
        a = ident.submit(1)
        b = ident.submit(a)
        submitted = runner.submitted[0]
        assert engine.cancel_pending("stop", abandon=True) == 2
        assert _types(a, b) == [StateType.CANCELLED, StateType.CANCELLED]
        assert submitted.cancelled_ and runner.submitted == []
        assert engine.wait_all(0)


def test_waiting_runs_submitted_work_in_order_and_says_when_it_is_stuck():
    runner = ScriptedTaskRunner()
    with engine_run(runner) as engine:
        b = add.submit(ident.submit(2), 3)
        assert b.result() == 5  # the wait ran the two work items in this thread
        event = threading.Event()
        with pytest.raises(ScriptStalled):
            engine.wait_event(event, None)


def test_graph_transitions_on_plain_task_runs():
    upstream = graph.TaskRun(None, ident, "ident-0", None)
    downstream = graph.TaskRun(None, ident, "ident-1", None)
    downstream.upstreams = [graph.Upstream(upstream, False)]
    assert graph.link(upstream) and not graph.link(downstream)
    assert upstream.dependents == [downstream] and downstream.waiting_on == 1
    assert graph.begin_attempt(upstream) and upstream.state.name == "Running"
    assert graph.close_attempt(upstream, 1) is False  # no attempt was opened by a dispatcher
    ready: list[graph.TaskRun] = []
    from legato.core import states

    assert graph.transition(upstream, states.Completed(1), ready)
    assert ready == [downstream] and downstream.waiting_on == 0 and upstream.dependents is None
    assert not graph.transition(upstream, states.Failed(ValueError()), ready)  # final means final
    assert upstream.state.type is StateType.COMPLETED


def test_a_limiter_slot_is_given_back_when_the_run_settles():
    from legato.core import states

    run = graph.TaskRun(None, ident, "ident-0", 0)
    run.limiter = graph.Limiter(1)
    run.limiter.in_flight, run.holds_slot = 1, True
    graph.transition(run, states.Completed(None), [])
    assert run.limiter.in_flight == 0 and not run.holds_slot


def test_flow_retries_wait_on_the_clock():
    from legato import flow
    from legato.core.clock import use_clock

    attempts = []

    @flow(retries=2, retry_delay_seconds=100, task_runner=ScriptedTaskRunner())
    def shaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("again")
        return add(1, 2)

    clock = ManualClock()
    with use_clock(clock):
        assert shaky() == 3
    assert clock.slept == [100, 100]
