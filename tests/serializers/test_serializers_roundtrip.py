"""Every serializer gives back what it was given, for every type it promises.

The values come from hypothesis: nested lists, dicts (with keys of any hashable
promised type), tuples, sets, bytes, datetimes (naive, fixed-offset and zoneinfo,
including skipped and repeated wall times), decimals (NaN included), UUIDs,
complex numbers, big integers and NumPy arrays and scalars. Results are compared
strictly: same types all the way down, same float signs, same UTC offsets.
"""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst

from legato.serializers import CompressedSerializer, get_serializer

ALL = ["pickle", "cloudpickle", "msgpack", "json", "compressed/pickle", "compressed/msgpack", "compressed/json"]

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ---------------------------------------------------------------

# Whole seconds: Python 3.11's fromisoformat reads an offset under a second as UTC.
fixed_offsets = st.integers(min_value=-86399, max_value=86399).map(lambda s: dt.timezone(dt.timedelta(seconds=s)))
zones = st.none() | st.just(dt.timezone.utc) | fixed_offsets | st.timezones()

hashable_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.datetimes(timezones=zones)
    | st.dates()
    | st.times(timezones=st.none() | fixed_offsets)
    | st.timedeltas()
    | st.decimals(allow_nan=False)
    | st.uuids()
    | st.complex_numbers(allow_nan=False)
)
hashables = st.recursive(
    hashable_leaves,
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
leaves = hashable_leaves | st.floats() | st.decimals() | st.complex_numbers()
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        | st.dictionaries(hashables, inner, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.frozensets(hashables, max_size=4)
    ),
    max_leaves=16,
)
arrays = npst.arrays(
    dtype=npst.scalar_dtypes() | npst.byte_string_dtypes() | npst.unicode_string_dtypes(),
    shape=npst.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
numpy_scalars = npst.scalar_dtypes().flatmap(npst.from_dtype)


# --- strict comparison -----------------------------------------------------------


def assert_same(got: Any, want: Any) -> None:
    """Equal, and of the same types all the way down (1 is not True, (1,) is not [1])."""
    assert type(got) is type(want), (got, want)
    if isinstance(want, (np.ndarray, np.generic)):
        # pickle turns some big-endian dtypes native: compare values in native byte order.
        native = want.dtype.newbyteorder("=")
        assert got.dtype.newbyteorder("=") == native and got.shape == want.shape
        assert got.astype(native).tobytes() == want.astype(native).tobytes()
    elif isinstance(want, float):
        assert_same_float(got, want)
    elif isinstance(want, complex):
        assert_same_float(got.real, want.real)
        assert_same_float(got.imag, want.imag)
    elif isinstance(want, Decimal):
        assert got.as_tuple() == want.as_tuple()  # also tells 1.0 from 1.00, and NaNs apart
    elif isinstance(want, (dt.datetime, dt.time)):
        assert got.replace(tzinfo=None) == want.replace(tzinfo=None)
        assert got.utcoffset() == want.utcoffset()
        assert getattr(got.tzinfo, "key", None) == getattr(want.tzinfo, "key", None)
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for got_item, want_item in zip(got, want, strict=True):
            assert_same(got_item, want_item)
    elif isinstance(want, dict):
        assert len(got) == len(want)
        for (got_key, got_value), (want_key, want_value) in zip(got.items(), want.items(), strict=True):
            assert_same(got_key, want_key)
            assert_same(got_value, want_value)
    elif isinstance(want, (set, frozenset)):
        assert len(got) == len(want)
        for want_item in want:
            assert any(same(got_item, want_item) for got_item in got), (got, want_item)
    else:
        assert got == want


def assert_same_float(got: float, want: float) -> None:
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == want and math.copysign(1, got) == math.copysign(1, want)


def same(got: Any, want: Any) -> bool:
    try:
        assert_same(got, want)
    except AssertionError:
        return False
    return True


def round_trip(name: str, value: object) -> object:
    serializer = get_serializer(name)
    data = serializer.dumps(value)
    assert isinstance(data, bytes)
    return serializer.loads(data)


# --- tests ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(value=values)
def test_round_trip(name: str, value: object) -> None:
    assert_same(round_trip(name, value), value)


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(array=arrays, scalar=numpy_scalars)
def test_numpy_round_trip(name: str, array: np.ndarray, scalar: np.generic) -> None:
    value = {"array": array, "scalar": scalar, "nested": [(array.T,)]}
    got: Any = round_trip(name, value)
    assert_same(got, value)
    assert got["array"].flags.writeable
    if "pickle" not in name:
        assert got["array"].dtype.str == array.dtype.str


@pytest.mark.parametrize("name", ["msgpack", "json"])
def test_plain_values_keep_their_natural_shape(name: str) -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": {}}}
    assert_same(round_trip(name, value), value)
    if name == "json":
        assert get_serializer("json").dumps(value) == b'{"a":[1,2.5,"x",null,true],"b":{"c":{}}}'


@pytest.mark.parametrize("name", ["msgpack", "json"])
def test_subclasses_of_native_types_become_their_base(name: str) -> None:
    import collections
    import enum

    class Colour(str, enum.Enum):
        RED = "red"

    class Size(enum.IntEnum):
        BIG = 3

    value = [Colour.RED, Size.BIG, collections.OrderedDict(a=1), bytearray(b"x"), memoryview(b"y")]
    assert_same(round_trip(name, value), ["red", 3, {"a": 1}, b"x", b"y"])


@pytest.mark.parametrize("name", ["msgpack", "json"])
@SETTINGS
@given(value=st.integers(min_value=2**63 - 2, max_value=2**64 + 2) | st.integers().map(lambda i: i * 2**80))
def test_integers_of_any_size(name: str, value: int) -> None:
    assert_same(round_trip(name, -value), -value)
    assert_same(round_trip(name, value), value)


@pytest.mark.parametrize("name", ["cloudpickle", "compressed/cloudpickle"])
@settings(SETTINGS, max_examples=30)
@given(value=values)
def test_closures_round_trip_with_what_they_capture(name: str, value: object) -> None:
    def make() -> Any:
        return lambda: value

    assert_same(round_trip(name, make())(), value)  # type: ignore[operator]


def test_cloudpickle_carries_code_from_main_to_another_process() -> None:
    # The writer runs as __main__, so nothing it defines can be imported by the reader.
    writer = textwrap.dedent(
        """
        import sys
        from legato.serializers import get_serializer

        class Point:
            def __init__(self, x, y):
                self.x, self.y = x, y
            def norm2(self):
                return self.x ** 2 + self.y ** 2

        offset = 10
        def shift(p):
            return Point(p.x + offset, p.y)

        payload = {"cls": Point, "point": Point(3, 4), "shift": shift, "square": lambda n: n * n}
        sys.stdout.buffer.write(get_serializer("cloudpickle").dumps(payload))
        """
    )
    data = subprocess.run([sys.executable, "-c", writer], check=True, capture_output=True, timeout=60).stdout
    payload: Any = get_serializer("cloudpickle").loads(data)
    assert payload["point"].norm2() == 25
    assert payload["shift"](payload["point"]).x == 13
    assert isinstance(payload["cls"](1, 2), payload["cls"])
    assert payload["square"](7) == 49


def test_compression_shrinks_repetitive_data() -> None:
    value = ["the same words again"] * 500
    plain = get_serializer("msgpack").dumps(value)
    assert len(CompressedSerializer("msgpack", level=9).dumps(value)) < len(plain) // 10
    assert len(CompressedSerializer("msgpack", level=0).dumps(value)) > len(plain)
