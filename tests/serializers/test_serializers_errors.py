"""Every failure is a SerializationError naming the serializer and the type, with the cause chained."""

from __future__ import annotations

import contextlib
import pickle
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legato.core.errors import LegatoError, SerializationError
from legato.serializers import CompressedSerializer, get_serializer

ALL = ["pickle", "cloudpickle", "msgpack", "json", "compressed/pickle", "compressed/msgpack", "compressed/json"]


class Foo:
    pass


def dumps_error(name: str, value: object) -> SerializationError:
    with pytest.raises(SerializationError) as info:
        get_serializer(name).dumps(value)
    error = info.value
    assert isinstance(error, LegatoError) and isinstance(error, TypeError)
    assert error.__cause__ is not None
    return error


def loads_error(name: str, data: Any) -> SerializationError:
    with pytest.raises(SerializationError) as info:
        get_serializer(name).loads(data)
    assert info.value.__cause__ is not None
    return info.value


class Holder:
    def __init__(self) -> None:
        self.items = [1, {"lock": threading.Lock()}]


def test_pickle_names_a_lambda_as_function() -> None:
    error = dumps_error("pickle", lambda: 1)
    assert str(error).startswith(
        f"pickle serializer cannot serialize object of type 'function' ({__name__}."
        "test_pickle_names_a_lambda_as_function.<locals>.<lambda>):"
    )
    assert isinstance(error.__cause__, (pickle.PicklingError, AttributeError))


@pytest.mark.parametrize("name", ["pickle", "cloudpickle", "compressed/cloudpickle"])
def test_a_lock_is_named(name: str) -> None:
    error = dumps_error(name, threading.Lock())
    assert str(error).startswith(
        f"{name.removeprefix('compressed/')} serializer cannot serialize object of type 'lock':"
    )
    assert isinstance(error.__cause__, TypeError)


@pytest.mark.parametrize("name", ["pickle", "cloudpickle"])
def test_the_innermost_culprit_is_named(name: str) -> None:
    message = str(dumps_error(name, {"a": 1, "b": (2, Holder())}))
    assert "of type 'lock' (found inside a 'dict')" in message


def test_pickle_names_a_class_it_cannot_import() -> None:
    class Local:
        pass

    message = str(dumps_error("pickle", [Local()]))
    assert "of type 'type' (" in message and "<locals>.Local) (found inside a 'list')" in message


def test_cloudpickle_names_what_a_closure_holds() -> None:
    lock = threading.Lock()
    message = str(dumps_error("cloudpickle", lambda: lock))
    assert "of type 'lock' (found inside a 'function')" in message


@pytest.mark.parametrize("name", ["msgpack", "json", "compressed/msgpack", "compressed/json"])
def test_an_arbitrary_object_is_named(name: str) -> None:
    inner = name.removeprefix("compressed/")
    error = dumps_error(name, Foo())
    assert str(error).startswith(f"{inner} serializer cannot serialize object of type 'Foo':")
    assert isinstance(error.__cause__, TypeError)
    nested = dumps_error(name, {"x": [(1, {2: Foo()})]})
    assert f"{inner} serializer cannot serialize object of type 'Foo' (found inside a 'dict')" in str(nested)


@pytest.mark.parametrize("name", ["msgpack", "json"])
@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (np.array([object(), 1], dtype=object), "ndarray"),
        (np.zeros(2, dtype=[("a", "i4")]), "ndarray"),
        (np.ma.masked_array([1, 2], mask=[False, True]), "MaskedArray"),
        ({1, Foo()}, "Foo"),
    ],
)
def test_what_would_lose_data_is_refused(name: str, value: object, type_name: str) -> None:
    assert f"of type {type_name!r}" in str(dumps_error(name, value))


def test_a_cycle_is_an_error_not_a_crash() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    for name in ["msgpack", "json"]:
        assert "of type 'list'" in str(dumps_error(name, cycle))


@pytest.mark.parametrize("name", ["pickle", "cloudpickle"])
def test_every_truncation_of_a_pickle_is_refused(name: str) -> None:
    data = get_serializer(name).dumps({"a": [1, 2.5, "x"], "b": (None, b"y")})
    for end in range(len(data)):
        assert f"{name} serializer cannot deserialize {end} bytes" in str(loads_error(name, data[:end]))


@pytest.mark.parametrize("name", ["pickle", "msgpack", "json", "compressed/json"])
def test_loading_something_not_bytes_names_its_type(name: str) -> None:
    assert "cannot deserialize object of type 'int'" in str(loads_error(name, 42))


@pytest.mark.parametrize("name", ["msgpack", "json", "compressed/msgpack", "compressed/pickle"])
@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=64))
def test_garbage_bytes_load_or_raise_serialization_error(name: str, data: bytes) -> None:
    with contextlib.suppress(SerializationError):
        get_serializer(name).loads(data)


@pytest.mark.parametrize("inner", ["pickle", "msgpack", "json"])
def test_corrupted_compressed_bytes(inner: str) -> None:
    serializer = CompressedSerializer(inner)
    data = bytearray(serializer.dumps({"a": list(range(100))}))
    data[len(data) // 2] ^= 0xFF
    error = loads_error(f"compressed/{inner}", bytes(data))
    assert str(error).startswith(f"compressed/{inner} serializer cannot deserialize {len(data)} bytes:")


def test_msgpack_refuses_an_unknown_extension_code() -> None:
    import msgpack

    data = msgpack.packb(msgpack.ExtType(99, b""))
    assert "unknown msgpack extension type code 99" in str(loads_error("msgpack", data))


def test_json_refuses_an_unknown_tag() -> None:
    assert "unknown __legato__ tag 'nope'" in str(loads_error("json", b'{"__legato__":"nope","value":1}'))


def test_compression_level_is_checked() -> None:
    with pytest.raises(ValueError, match="level"):
        CompressedSerializer("json", level=10)
