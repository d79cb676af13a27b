"""A map's elements in their compact form: futures made on demand, ids and names made when asked for."""

from __future__ import annotations

import pickle
import re

import pytest

import legato
from legato import flow, task
from legato.core.futures import LegatoFuture, LegatoFutureList, wait
from legato.runners.threads import ThreadPoolTaskRunner


@task
def double(x: int) -> int:
    return 2 * x


@task
def total(xs: list[int]) -> int:
    return sum(xs)


def test_a_map_list_gives_futures_equal_each_time_they_are_taken():
    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        futures = double.map(range(5))
        first, again = futures[0], futures[0]
        assert isinstance(first, LegatoFuture) and first == again and hash(first) == hash(again)
        assert first in futures and futures.index(again) == 0 and futures.count(first) == 1
        assert [f.result() for f in futures] == [0, 2, 4, 6, 8]
        assert [f.result() for f in reversed(futures)] == [8, 6, 4, 2, 0]
        assert isinstance(futures[1:3], LegatoFutureList) and futures[1:3].result() == [2, 4]
        assert futures.copy() == futures and list(futures) == futures
        assert {f for f in futures} == set(futures) and len(set(futures)) == 5
        done, not_done = wait(futures)
        assert futures[4] in done and not not_done
        assert all(isinstance(f, LegatoFuture) for f in [*futures, *tuple(futures)])
        a, b, *rest = futures
        assert (a.result(), b.result(), len(rest)) == (0, 2, 3)
        mixed = futures + [double.submit(10)]
        assert isinstance(mixed, LegatoFutureList) and mixed.result() == [0, 2, 4, 6, 8, 20]
        assert futures.pop().result() == 8 and len(futures) == 4
        futures.remove(futures[0])
        assert futures.result() == [2, 4, 6]
        futures.sort(key=lambda f: -f.result())
        assert futures.result() == [6, 4, 2]
        assert re.fullmatch(r"\[LegatoFuture\('double-\d+', state=Completed\)(, .*)?\]", repr(futures))
        return total.submit(double.map([1, 2, 3])).result()

    assert body() == 12


def test_a_future_list_built_by_hand_keeps_its_futures():
    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        made = [double.submit(1), double.submit(2)]
        futures = LegatoFutureList(made)
        assert futures[0] is made[0] and list(futures)[1] is made[1]
        futures.wait()
        return futures.result(timeout=10)

    assert body() == [2, 4]


def test_element_ids_and_names_are_stable_unique_and_like_any_run():
    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        before = double.submit(0)
        futures = double.map(range(2000))
        futures.wait()
        assert [f.task_run_id for f in futures[:3]] == [f.task_run.id for f in futures[:3]]
        return before.task_run, [f.task_run for f in futures]

    before, runs = body()
    ids = [run.id for run in runs]
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    assert len(set(ids)) == 2000 and before.id not in ids
    assert ids == [run.id for run in runs]  # asked again, the same
    assert [run.name for run in runs] == [f"double-{n}" for n in range(1, 2001)]
    assert [run.map_index for run in runs] == list(range(2000))
    info = runs[7].info()
    assert (info.id, info.name, info.map_index) == (ids[7], "double-8", 7)


def test_a_custom_run_name_is_made_at_once():
    named = double.with_options(task_run_name="d-{x}")

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        return [f.task_run.name for f in named.map([3, 4])]

    assert body() == ["d-3", "d-4"]


def test_a_map_list_pickles_as_its_futures_values_resolved_by_the_flow():
    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        futures = double.map([1, 2])
        futures.wait()
        state = pickle.loads(pickle.dumps([f.state for f in futures]))
        return futures, [s.result() for s in state]

    futures, values = body()
    assert values == [2, 4] and futures == [2, 4]


@pytest.mark.parametrize("size", [1, 1500])
def test_a_flow_returning_a_map_list_gives_its_values(size):
    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        return double.map(range(size))

    assert body() == [2 * x for x in range(size)]


def test_elements_keep_the_tags_and_runner_options_of_their_blocks_and_interleaved_names():
    from legato.core.context import runner_options, tags

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        with tags("blue"), runner_options(num_cpus=2):
            futures = double.map(range(3))
        loose = double.map(range(2))
        futures.wait()
        loose.wait()
        return [f.task_run for f in futures], [f.task_run for f in loose]

    tagged, loose = body()
    assert all(run.tags == frozenset({"blue"}) and run.options == {"num_cpus": 2} for run in tagged)
    assert all(run.tags == frozenset() and run.options is None for run in loose)
    assert [run.name for run in tagged + loose] == ["double-0", "double-1", "double-2", "double-3", "double-4"]


def test_an_element_with_a_future_in_its_arguments_is_made_as_a_submitted_run():
    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        first = double.submit(1)
        futures = double.map([first, 5])
        return futures.result(), [f.task_run.upstream_ids() for f in futures]

    values, upstreams = body()
    assert values == [4, 10]


def test_batched_elements_run_in_their_context_with_their_states_and_times():
    from legato.core.context import TaskRunContext

    @task
    def whoami(x: int) -> tuple[str, int]:
        context = TaskRunContext.get()
        return context.task_run.name, context.task_run.map_index

    @task
    async def later(x: int) -> int:
        return x + 1

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        futures = whoami.map(range(3000))
        futures.wait()
        runs = [f.task_run for f in futures]
        return futures.result(), runs, later.map(range(50)).result()

    values, runs, incremented = body()
    assert [index for _, index in values] == list(range(3000))
    assert [name for name, _ in values] == [run.name for run in runs]
    assert incremented == list(range(1, 51))
    for run in runs:
        assert run.state.is_completed() and run.run_count == 1
        assert run.started_at <= run.ended_at and abs(run.state.timestamp.timestamp() - run.ended_at) < 1e-3


def test_on_running_hooks_and_tags_still_see_each_batched_element():
    seen = []
    hooked = double.with_options(on_running=[lambda task, run, state: seen.append(run.map_index)], tags=["t"])

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        return hooked.map(range(500)).result()

    assert body() == [2 * x for x in range(500)]
    assert sorted(seen) == list(range(500))


def test_rare_attributes_cost_a_run_nothing_until_one_is_set():
    from legato.core.graph import NO_UPSTREAMS, TaskRun, release

    run = TaskRun(None, double, "double-0", None)
    assert (run.wait_for, run.dependents, run.retry_state, run.cache_parameters, run.options, run.holds_slot) == (
        NO_UPSTREAMS, None, None, None, None, False)
    run.retry_state = None
    run.holds_slot = False
    assert run._extra is None
    run.retry_state = {"attempt": 1}
    run.holds_slot = True
    assert run.retry_state == {"attempt": 1} and run.holds_slot is True and run.options is None
    release(run)
    assert run.retry_state is None and run.holds_slot is True  # released: what a settled run no longer needs
    assert not hasattr(run, "__dict__")


def test_retries_max_concurrency_and_wait_for_of_elements_keep_working():
    attempts: dict[int, int] = {}

    @task(retries=2)
    def flaky(x: int) -> int:
        attempts[x] = attempts.get(x, 0) + 1
        if attempts[x] < 2 and x % 3 == 0:
            raise ValueError(x)
        return x

    @flow(task_runner=ThreadPoolTaskRunner(2))
    def body():
        gate = double.submit(1)
        return flaky.map(range(30), wait_for=[gate], max_concurrency=4).result()

    assert body() == list(range(30))
    assert all(attempts[x] == (2 if x % 3 == 0 else 1) for x in range(30))


def test_the_readme_example_runs(capsys):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index("\n### Lean map elements (threads)\n")
    block = re.findall(r"```python\n(.*?)```", text[start:text.index("\n## ", start)], re.S)[0]
    exec(compile(block, "README lean", "exec"), {"__name__": "readme"})
    assert "([0, 2, 4], 'double-0', True)" in capsys.readouterr().out
