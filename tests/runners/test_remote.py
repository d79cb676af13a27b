"""The result check the Dask and Ray runners run on their workers, as plain functions (no cluster)."""

from __future__ import annotations

import threading
import tracemalloc
from types import SimpleNamespace
from typing import Any

import pytest

from legato.core.errors import SerializationError
from legato.runners._remote import checked_result, unserializable


def refuse(value: Any) -> object:
    """A backend serializer that accepts nothing (what plain pickling rejects stays rejected)."""
    raise TypeError(f"the backend cannot serialize {type(value).__name__}")


def item(name: str) -> SimpleNamespace:
    return SimpleNamespace(info=SimpleNamespace(name=name), key=f"{name}-key")


def batch(*names: str) -> SimpleNamespace:
    """What the check needs of a :class:`~legato.core.batching.BatchWork`: its items and spans."""
    return SimpleNamespace(items=[item(name) for name in names], spans=[(0, 0)] * len(names))


def test_a_result_that_serializes_is_handed_back_as_it_is():
    numpy = pytest.importorskip("numpy")
    for value in (3, "text", None, {"f": lambda x: x}, numpy.arange(10), [b"x" * 100, bytearray(5)]):
        assert checked_result(item("ok-0"), value, "Dask", refuse) is value


def test_a_result_that_cannot_be_serialized_fails_its_run_by_name():
    with pytest.raises(SerializationError) as caught:
        checked_result(item("make-3"), {"guard": threading.Lock()}, "Ray", refuse)
    message = str(caught.value)
    assert "task run 'make-3'" in message and "cannot be serialized" in message and "Ray worker" in message
    assert "'lock'" in message and "found inside a 'dict'" in message  # the innermost culprit is named


def test_in_a_batch_only_the_elements_that_cannot_be_serialized_fail():
    raised = ValueError("its own failure")
    outcomes = [(True, 1), (True, threading.Lock()), (False, raised), (True, (i for i in range(2)))]
    seconds, checked = checked_result(batch("a-0", "a-1", "a-2", "a-3"), (0.5, outcomes), "Dask", refuse)
    assert seconds == 0.5
    assert checked[0] == (True, 1) and checked[2] == (False, raised)
    for index, kind in ((1, "'lock'"), (3, "'generator'")):
        ok, error = checked[index]
        assert not ok and isinstance(error, SerializationError)
        assert f"task run 'a-{index}'" in str(error) and kind in str(error)


def test_a_batch_that_serializes_is_handed_back_as_it_is():
    result = (0.1, [(True, 1), (False, ValueError("no"))])
    assert checked_result(batch("b-0", "b-1"), result, "Dask", refuse) is result


def test_the_backend_serializer_is_asked_only_about_what_pickling_rejects():
    asked: list[Any] = []

    def accept(value: Any) -> object:
        asked.append(value)
        return b""

    lock = threading.Lock()
    assert unserializable({"plain": [1, 2]}, accept) is None
    assert unserializable(lambda: 1, accept) is None  # cloudpickle carries it
    assert asked == []
    assert unserializable(lock, accept) is None  # a type the user taught the backend
    assert asked == [lock]
    assert isinstance(unserializable(lock, refuse), SerializationError)


def test_the_check_copies_no_large_buffer():
    numpy = pytest.importorskip("numpy")
    values = [b"x" * 50_000_000, bytearray(50_000_000), numpy.zeros(6_250_000), [b"y" * 20_000_000] * 3]
    tracemalloc.start()
    try:
        for value in values:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            assert unserializable(value, refuse) is None
            assert tracemalloc.get_traced_memory()[1] - before < 1_000_000, type(value)
    finally:
        tracemalloc.stop()
