"""``task.map`` as Prefect 3 has it (``prefect/tasks.py`` ``Task.map``; checked on Prefect 3.9)."""

from __future__ import annotations

import pytest

from legato import MappingLengthMismatch, MappingMissingIterable, flow, task, unmapped


@task
def add(x, y):
    return x + y


@task
def numbers():
    return [1, 2, 3]


@task
def first_plus(x, pair):
    return x + pair


def _run(body):
    return flow(body)()


def test_keyword_iterables_are_zipped_and_unmapped_keywords_broadcast():
    """Prefect: ``add.map(x=[1, 2], y=[3, 4])`` is ``[4, 6]``; ``y=unmapped(10)`` goes whole to each."""
    assert _run(lambda: (add.map(x=[1, 2], y=[3, 4]).result(), add.map(x=[1, 2], y=unmapped(10)).result())) == (
        [4, 6], [11, 12])


def test_unmapped_inside_a_mapped_list_is_unwrapped_per_element():
    """Prefect: an ``unmapped`` *inside* an iterable does not broadcast the iterable; each element
    reaches its call unwrapped (``first_plus.map([1, 2], [unmapped(10), unmapped(20)])`` is ``[11, 22]``)."""
    assert _run(lambda: first_plus.map([1, 2], [unmapped(10), unmapped(20)]).result()) == [11, 22]


def test_mapping_over_a_future_a_state_and_a_list_of_futures():
    """Prefect: a future or state whose value is a list is mapped over its value; a list of futures
    gives each call one future's value."""

    def body():
        over_future = add.map(numbers.submit(), 1).result()
        over_state = add.map(numbers(return_state=True), unmapped(1)).result()
        over_futures = add.map([numbers.submit(), numbers.submit()], unmapped([0])).result()
        return over_future, over_state, over_futures

    assert _run(body) == ([2, 3, 4], [2, 3, 4], [[1, 2, 3, 0], [1, 2, 3, 0]])


def test_unequal_lengths_are_refused_in_prefects_words():
    """Prefect: ``MappingLengthMismatch: Received iterable parameters with different lengths. Parameters
    for map must all be the same length. Got lengths: {'x': 2, 'y': 3}``."""

    def body():
        with pytest.raises(MappingLengthMismatch) as raised:
            add.map([1, 2], [1, 2, 3])
        return str(raised.value)

    assert _run(body).endswith(
        "Received iterable parameters with different lengths. Parameters for map must all be the same length. "
        "Got lengths: {'x': 2, 'y': 3}")


def test_no_iterable_is_refused_in_prefects_words():
    """Prefect: ``MappingMissingIterable: No iterable parameters were received. Parameters for map must
    include at least one iterable. Parameters: {'x': 1, 'y': 2}`` (legato adds what to do about it)."""

    def body():
        with pytest.raises(MappingMissingIterable) as raised:
            add.map(1, "ab")
        return str(raised.value)

    assert ("No iterable parameters were received. Parameters for map must include at least one iterable. "
            "Parameters: {'x': 1, 'y': 'ab'}") in _run(body)


@task
def options(**kwargs):
    return kwargs


@task
def labelled(label, *rest, **kwargs):
    return label, rest, kwargs


def test_each_keyword_given_to_var_kwargs_is_mapped_on_its_own():
    """Prefect (``explode_variadic_parameter``): for a task taking ``**kwargs``, ``map(a=[1, 2], b=[3, 4])``
    maps each keyword like a named parameter and ``unmapped`` broadcasts one; the function gets them
    back in ``kwargs``."""

    def body():
        return (options.map(a=[1, 2], b=[3, 4]).result(), options.map(a=[1, 2], b=unmapped(5)).result(),
                labelled.map(["x", "y"], k=[1, 2], fixed=unmapped([0])).result())

    assert _run(body) == (
        [{"a": 1, "b": 3}, {"a": 2, "b": 4}],
        [{"a": 1, "b": 5}, {"a": 2, "b": 5}],
        [("x", (), {"k": 1, "fixed": [0]}), ("y", (), {"k": 2, "fixed": [0]})],
    )


def test_var_kwargs_keywords_count_toward_equal_lengths():
    """Prefect: a ``**kwargs`` keyword of another length is a ``MappingLengthMismatch`` naming it."""

    def body():
        with pytest.raises(MappingLengthMismatch, match=r"Got lengths: \{'a': 2, 'b': 3\}"):
            options.map(a=[1, 2], b=[1, 2, 3])
        return True

    assert _run(body)
