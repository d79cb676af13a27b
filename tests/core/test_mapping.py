"""task.map: zipping, broadcasting, defaults, errors."""

from __future__ import annotations

import pytest

from legato import LegatoError, MappingLengthMismatch, MappingMissingIterable, flow, quote, task, unmapped


@task
def combine(x, y=10, z=None):
    return (x, y, z)


@task
def numbers(n):
    return list(range(n))


def run(body):
    @flow
    def pipeline():
        return body()

    return pipeline()


@pytest.mark.parametrize(
    "iterable",
    [[1, 2, 3], (1, 2, 3), range(1, 4), (i for i in [1, 2, 3])],
    ids=["list", "tuple", "range", "generator"],
)
def test_maps_over_any_iterable(iterable):
    assert run(lambda: combine.map(iterable).result()) == [(1, 10, None), (2, 10, None), (3, 10, None)]


def test_zips_equal_length_iterables():
    assert run(lambda: combine.map([1, 2], [3, 4]).result()) == [(1, 3, None), (2, 4, None)]


def test_unmapped_and_quote_and_non_iterables_are_broadcast():
    result = run(lambda: combine.map([1, 2], unmapped([9, 9]), z="same").result())
    assert result == [(1, [9, 9], "same"), (2, [9, 9], "same")]
    result = run(lambda: combine.map([1, 2], y=quote([5])).result())
    assert result == [(1, [5], None), (2, [5], None)]
    assert run(lambda: combine.map([1, 2], 7).result()) == [(1, 7, None), (2, 7, None)]


def test_strings_are_not_mapped_over():
    assert run(lambda: combine.map([1, 2], "ab").result()) == [(1, "ab", None), (2, "ab", None)]


def test_defaults_are_not_mapped():
    @task
    def with_list_default(x, seen=[0, 0, 0, 0]):  # noqa: B006
        return (x, seen)

    assert run(lambda: with_list_default.map([1]).result()) == [(1, [0, 0, 0, 0])]


def test_map_over_a_future_holding_a_list():
    def body():
        upstream = numbers.submit(3)
        return combine.map(upstream).result()

    assert run(body) == [(0, 10, None), (1, 10, None), (2, 10, None)]


def test_map_over_a_state_holding_a_list():
    def body():
        state = numbers(2, return_state=True)
        return combine.map(state).result()

    assert run(body) == [(0, 10, None), (1, 10, None)]


def test_map_over_futures_makes_per_element_edges():
    def body():
        firsts = combine.map([1, 2])
        return combine.map(firsts, y=unmapped(0)).result()

    assert run(body) == [((1, 10, None), 0, None), ((2, 10, None), 0, None)]


def test_no_iterable_raises_mapping_missing_iterable():
    with pytest.raises(MappingMissingIterable, match="at least one iterable") as info:
        run(lambda: combine.map(1, unmapped([1])))
    assert isinstance(info.value, LegatoError) and isinstance(info.value, ValueError)


def test_unequal_lengths_raise_mapping_length_mismatch_naming_lengths():
    with pytest.raises(MappingLengthMismatch, match=r"Got lengths: \{'x': 2, 'y': 3\}") as info:
        run(lambda: combine.map([1, 2], [1, 2, 3]))
    assert isinstance(info.value, ValueError)


def test_empty_map_returns_empty_list():
    assert run(lambda: combine.map([]).result()) == []


def test_map_names_runs_with_their_index():
    def body():
        futures = combine.map([5, 6, 7])
        futures.wait()
        return [(f.task_run.name, f.task_run.map_index) for f in futures]

    assert run(body) == [("combine-0", 0), ("combine-1", 1), ("combine-2", 2)]


def test_map_with_bad_keyword_raises_type_error_naming_the_task():
    with pytest.raises(TypeError, match="combine"):
        run(lambda: combine.map([1], nope=[1]))


def test_an_element_that_cannot_be_made_does_not_strand_the_others():
    @task(task_run_name=lambda x: f"item-{10 // (x - 3)}")
    def fragile(x):
        return x

    @flow
    def pipeline():
        return fragile.map(range(10))

    with pytest.raises(ValueError, match="task_run_name"):
        pipeline()  # returns (with the error) instead of waiting for elements 0-2 forever


def test_map_over_a_generator_starts_tasks_before_it_is_exhausted():
    import threading

    started = threading.Event()
    produced_after_first_start = []

    @task
    def element(i):
        started.set()
        return i

    def items():
        for i in range(20_000):
            if started.is_set():
                produced_after_first_start.append(i)
            yield i

    @flow
    def pipeline():
        return len(element.map(items()).result())

    assert pipeline() == 20_000
    assert produced_after_first_start, "every item was produced before any task started"


def test_unequal_generator_lengths_are_still_caught():
    with pytest.raises(MappingLengthMismatch, match=r"\{'x': 3, 'y': 'more than 3'\}"):
        run(lambda: combine.map((i for i in range(3)), (i for i in range(5))))
    with pytest.raises(MappingLengthMismatch, match=r"\{'x': 4, 'y': 2\}"):
        run(lambda: combine.map([1, 2, 3, 4], (i for i in range(2))))
