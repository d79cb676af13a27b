"""Content hashes: equal values hash alike in any process, different values differ, the rest refuse."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import functools
import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legato.results.hashing import UnhashableError, function_fingerprint, hash_objects


def test_dicts_and_sets_hash_the_same_whatever_their_order() -> None:
    assert hash_objects({"a": 1, "b": [1, 2]}) == hash_objects({"b": [1, 2], "a": 1})
    assert hash_objects({3, 1, 2}) == hash_objects({2, 3, 1})
    assert hash_objects(frozenset("xyz")) == hash_objects(frozenset("zyx"))


def test_equal_looking_values_of_different_types_differ() -> None:
    values = [1, 1.0, True, "1", b"1", (1,), [1], {1}, frozenset({1}), Decimal(1), None, 0, "", ()]
    assert len({hash_objects(v) for v in values}) == len(values)


def test_order_of_sequences_and_of_ordered_dicts_matters() -> None:
    assert hash_objects([1, 2]) != hash_objects([2, 1])
    first = collections.OrderedDict([("a", 1), ("b", 2)])
    assert hash_objects(first) != hash_objects(collections.OrderedDict([("b", 2), ("a", 1)]))


def test_containers_nest_without_ambiguity() -> None:
    assert hash_objects(["ab"]) != hash_objects(["a", "b"])
    assert hash_objects([[1], 2]) != hash_objects([1, [2]])
    assert hash_objects({"a": "b"}) != hash_objects({"b": "a"})


def test_recursive_structures_hash() -> None:
    looped: list[object] = [1]
    looped.append(looped)
    other: list[object] = [1]
    other.append(other)
    assert hash_objects(looped) == hash_objects(other)
    assert hash_objects(looped) != hash_objects([1, [1]])


def test_numpy_arrays_hash_by_content_dtype_and_shape() -> None:
    a = np.arange(12).reshape(3, 4)
    assert hash_objects(a) == hash_objects(a.copy())
    assert hash_objects(a[:, ::2]) == hash_objects(np.ascontiguousarray(a[:, ::2]))
    assert hash_objects(np.asfortranarray(a)) == hash_objects(a)
    changed = a.copy()
    changed[2, 3] = -1
    assert len({hash_objects(x) for x in (a, changed, a.astype(np.float64), a.reshape(4, 3))}) == 4
    days = np.array(["2024-01-01", "2024-01-02"], dtype="M8[D]")
    assert hash_objects(days[:1]) != hash_objects(days[1:])
    assert hash_objects(np.array([{"a": 1}], dtype=object)) != hash_objects(np.array([{"a": 2}], dtype=object))
    assert hash_objects(np.float64(1.5)) != hash_objects(np.float32(1.5))


def test_pandas_objects_hash_by_content() -> None:
    df = pd.DataFrame({"x": [1, 2, 3], "s": ["a", "b", "c"]})
    assert hash_objects(df) == hash_objects(df.copy())
    changed = df.copy()
    changed.loc[1, "s"] = "z"
    renamed = df.rename(columns={"x": "y"})
    reindexed = df.set_axis([10, 11, 12])
    assert len({hash_objects(x) for x in (df, changed, renamed, reindexed, df["x"], df.index)}) == 6
    # pandas' own row hashes go by str(): 1 and "1" must not collide here.
    assert hash_objects(pd.Series([1, "1"], dtype=object)) != hash_objects(pd.Series(["1", 1], dtype=object))
    assert hash_objects(pd.Series([[1], [2]])) != hash_objects(pd.Series([[1], [3]]))


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Plain:
    def __init__(self, value: object) -> None:
        self.value = value


def test_value_types_and_plain_objects_hash_by_value() -> None:
    assert hash_objects(Point(1, 2)) == hash_objects(Point(1, 2)) != hash_objects(Point(2, 1))
    assert hash_objects(Color.RED) != hash_objects(Color.BLUE)
    assert hash_objects(Plain({"a", "b"})) == hash_objects(Plain({"b", "a"})) != hash_objects(Plain({"a"}))
    assert hash_objects(dt.date(2024, 1, 1)) != hash_objects(dt.date(2024, 1, 2))
    assert hash_objects(Path("/a/b")) != hash_objects(Path("/a/c"))
    Pair = collections.namedtuple("Pair", "a b")
    assert hash_objects(Pair(1, 2)) != hash_objects((1, 2))


def test_what_has_no_stable_encoding_is_refused() -> None:
    with pytest.raises(UnhashableError) as caught:
        hash_objects({"ok": 1, "lock": threading.Lock()})
    assert caught.value.unhashable_type.__name__ == "lock"
    with pytest.raises(UnhashableError):
        hash_objects(Plain(threading.Lock()))
    with pytest.raises(UnhashableError):
        hash_objects(x for x in range(3))


def test_functions_hash_by_code_and_closure() -> None:
    def make(k: int):  # noqa: ANN202
        def add(x: int) -> int:
            return x + k

        return add

    assert function_fingerprint(make(1)) == function_fingerprint(make(1))
    assert function_fingerprint(make(1)) != function_fingerprint(make(2))
    assert hash_objects(functools.partial(make, 1)) != hash_objects(functools.partial(make, 2))
    add_one, times_two = (lambda x: x + 1), (lambda x: x * 2)  # same line, same source text
    assert function_fingerprint(add_one) != function_fingerprint(times_two)


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=6) | st.binary(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    | st.frozensets(st.integers() | st.text(max_size=4), max_size=4),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(plain, st.randoms(use_true_random=False))
def test_rebuilding_dicts_in_another_order_keeps_the_hash(value: object, random: object) -> None:
    def shuffled(v: object) -> object:
        if isinstance(v, dict):
            items = list(v.items())
            random.shuffle(items)  # type: ignore[attr-defined]
            return {k: shuffled(x) for k, x in items}
        if isinstance(v, list):
            return [shuffled(x) for x in v]
        return v

    assert hash_objects(value) == hash_objects(shuffled(value))


def test_hashes_do_not_depend_on_the_process_or_its_hash_seed() -> None:
    code = (
        "import numpy as np; from legato.results.hashing import hash_objects; "
        "print(hash_objects({'a', 'b', 'c', 'd'}, {'k': frozenset('xyz')}, np.arange(5)))"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                       capture_output=True, text=True, check=True, timeout=60).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == hash_objects({"a", "b", "c", "d"}, {"k": frozenset("xyz")}, np.arange(5))
