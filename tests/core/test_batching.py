"""Adaptive batching of mapped tasks: sizes from measurements, elements keep their own runs."""

from __future__ import annotations

import threading
import time

import pytest

from legato import allow_failure, flow, task
from legato.core.batching import MAX_BATCH, BatchSizer, BatchWork
from legato.runners import ThreadPoolTaskRunner


def test_sizer_probes_then_sizes_from_measured_durations():
    sizer = BatchSizer(target_seconds=0.01)
    assert sizer.next_size(waiting=10_000, concurrency=4) == 1  # nothing measured yet: a probe
    sizer.observe(seconds=0.0001, count=10)  # 10 us per element
    assert sizer.next_size(waiting=10_000, concurrency=4) == 1000
    assert sizer.next_size(waiting=40, concurrency=4) == 10  # never fewer batches than workers
    sizer.observe(seconds=0.05, count=1)  # a slow element pulls the average up
    assert sizer.next_size(waiting=10_000, concurrency=4) < 10
    fast = BatchSizer(target_seconds=1.0)
    fast.observe(1e-9, 1)
    assert fast.next_size(waiting=10**9, concurrency=1) == MAX_BATCH


def test_batch_work_keeps_one_outcome_per_element_and_stops_at_interrupts():
    class Item:
        def __init__(self, fn):
            self.fn = fn

        def __call__(self, *values):
            return self.fn(*values)

    Item.info = type("Info", (), {"name": "t-0", "id": "x"})()
    Item.task_name, Item.options = "t", {}

    def boom():
        raise ValueError("one element")

    def interrupt():
        raise KeyboardInterrupt

    batch = BatchWork([Item(lambda a: a + 1), Item(boom), Item(lambda: 3), Item(interrupt), Item(lambda: 5)],
                      [(0, 1), (1, 1), (1, 1), (1, 1), (1, 1)])
    seconds, outcomes = batch(41)
    assert seconds >= 0
    assert outcomes[0] == (True, 42)
    assert outcomes[1][0] is False and isinstance(outcomes[1][1], ValueError)
    assert outcomes[2] == (True, 3)
    assert isinstance(outcomes[3][1], KeyboardInterrupt) and len(outcomes) == 4


def test_batched_elements_keep_their_own_states_retries_and_results():
    attempts: dict[int, int] = {}
    lock = threading.Lock()

    @task(retries=2)
    def sometimes(i):
        with lock:
            attempts[i] = attempts.get(i, 0) + 1
        if i % 100 == 7 and attempts[i] < 2:
            raise ConnectionError("flaky")
        if i == 500:
            raise ValueError("always")
        return i * 2

    @task
    def after(x):
        return x

    box = {}

    @flow(task_runner=ThreadPoolTaskRunner(4))
    def pipeline():
        first = sometimes.map(range(2000))
        second = after.map(first)
        tolerant = after.map([allow_failure(f) for f in first[498:502]])
        second.wait()
        box["first"], box["second"], box["tolerant"] = first, second, tolerant.result()

    pipeline()
    first, second = box["first"], box["second"]
    assert [f.state.name for f in first].count("Completed") == 1999
    assert first[500].state.is_failed() and first[500].task_run.run_count == 3
    assert first[7].task_run.run_count == 2 and first[7].result() == 14
    assert second[500].state.name == "NotReady"
    assert [f.result() for i, f in enumerate(second) if i != 500] == [i * 2 for i in range(2000) if i != 500]
    assert isinstance(box["tolerant"][2], ValueError) and box["tolerant"][0] == 996


def test_heavy_tasks_keep_their_parallelism():
    """40 tasks of 50 ms on 4 workers: about 0.5 s when parallel, 2 s if batching serialized them."""

    @task
    def heavy(i):
        time.sleep(0.05)
        return i

    @flow(task_runner=ThreadPoolTaskRunner(4))
    def pipeline():
        return heavy.map(range(40))

    started = time.monotonic()
    assert pipeline() == list(range(40))
    assert time.monotonic() - started < 1.5


def test_interrupt_inside_a_batch_crashes_the_flow():
    @task
    def element(i):
        if i == 300:
            raise KeyboardInterrupt
        return i

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def pipeline():
        return element.map(range(1000))

    with pytest.raises(KeyboardInterrupt):
        pipeline()


def test_batching_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("LEGATO_BATCHING", "0")
    seen = set()

    @task
    def where(i):
        seen.add(threading.current_thread().name)
        return i

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def pipeline():
        return where.map(range(50))

    assert pipeline() == list(range(50))


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["batched", "one-by-one"])
def test_max_concurrency_bounds_elements_in_flight(timeout):
    running = []
    peak = []
    lock = threading.Lock()
    attempts: dict[int, int] = {}

    @task(retries=1, timeout_seconds=timeout)
    def element(i):
        with lock:
            running.append(i)
            peak.append(len(running))
            attempts[i] = attempts.get(i, 0) + 1
        time.sleep(0.005)
        with lock:
            running.remove(i)
        if i == 5 and attempts[i] == 1:
            raise ConnectionError("retried while holding its slot")
        return i

    @flow(task_runner=ThreadPoolTaskRunner(8))
    def pipeline():
        return element.map(range(60), max_concurrency=3)

    assert pipeline() == list(range(60))
    assert max(peak) <= 3 and max(peak) >= 2


def test_max_concurrency_must_be_positive():
    @task
    def element(i):
        return i

    @flow
    def pipeline():
        return element.map(range(3), max_concurrency=0)

    with pytest.raises(ValueError, match="max_concurrency must be a positive int"):
        pipeline()


def test_the_runners_concurrency_is_asked_once_and_only_by_a_flow_that_maps():
    """On Dask, asking is a round trip to the scheduler: a flow without maps must not pay it."""

    class CountingRunner(ThreadPoolTaskRunner):
        asked = 0

        @property
        def concurrency(self) -> int:
            type(self).asked += 1
            return 2

    @task
    def double(x: int) -> int:
        return 2 * x

    @flow(task_runner=CountingRunner(2))
    def single() -> int:
        return double.submit(2).result()

    @flow(task_runner=CountingRunner(2))
    def mapped() -> list[int]:
        return double.map(range(50)).result() + double.map(range(5)).result()

    assert single() == 4 and CountingRunner.asked == 0
    assert mapped() == [2 * x for x in range(50)] + [2 * x for x in range(5)] and CountingRunner.asked == 1
