"""Lookup by name, user-registered serializers, the public API and a light import."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator

import pytest

import legato.serializers
from legato.serializers import (
    CloudpickleSerializer,
    CompressedSerializer,
    JSONSerializer,
    MsgpackSerializer,
    PickleSerializer,
    Serializer,
    base,
    get_serializer,
    register_serializer,
)


@pytest.fixture(autouse=True)
def _restore_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(base, "_registry", dict(base._registry))
    yield


class Reversed(Serializer):
    """A toy format: UTF-8 text, reversed."""

    name = "reversed"

    def dumps(self, obj: object) -> bytes:
        return str(obj)[::-1].encode()

    def loads(self, data: bytes) -> object:
        return data.decode()[::-1]


def test_built_ins_are_found_by_name() -> None:
    assert type(get_serializer("pickle")) is PickleSerializer
    assert type(get_serializer("cloudpickle")) is CloudpickleSerializer
    assert type(get_serializer("msgpack")) is MsgpackSerializer
    assert type(get_serializer("json")) is JSONSerializer


def test_an_instance_passes_through() -> None:
    serializer = Reversed()
    assert get_serializer(serializer) is serializer


def test_a_registered_class_is_found_by_its_name() -> None:
    assert register_serializer(Reversed) is Reversed
    serializer = get_serializer("reversed")
    assert isinstance(serializer, Reversed)
    assert serializer.loads(serializer.dumps("abc")) == "abc"


def test_an_instance_can_be_registered_under_another_name() -> None:
    instance = Reversed()
    register_serializer(instance, name="backwards")
    assert get_serializer("backwards") is instance


def test_registering_replaces_a_built_in() -> None:
    register_serializer(Reversed(), name="json")
    assert isinstance(get_serializer("json"), Reversed)


def test_compressed_wraps_any_registered_name() -> None:
    register_serializer(Reversed)
    serializer = get_serializer("compressed/reversed")
    assert serializer == CompressedSerializer(Reversed())
    assert serializer.name == "compressed/reversed"
    assert serializer.loads(serializer.dumps("hello")) == "hello"
    twice = get_serializer("compressed/compressed/json")
    assert twice.loads(twice.dumps([1])) == [1]


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown serializer 'yaml'") as info:
        get_serializer("yaml")
    for known in ["'cloudpickle'", "'json'", "'msgpack'", "'pickle'", "'compressed/<name>'"]:
        assert known in str(info.value)
    with pytest.raises(ValueError, match="unknown serializer 'compressed/yaml'; known serializers: 'cloudpickle'"):
        get_serializer("compressed/yaml")


@pytest.mark.parametrize("bad", [42, None, PickleSerializer])
def test_get_serializer_refuses_other_things(bad: object) -> None:
    with pytest.raises(TypeError):
        get_serializer(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [object(), dict, "json"])
def test_register_refuses_what_is_not_a_serializer(bad: object) -> None:
    with pytest.raises(TypeError):
        register_serializer(bad)  # type: ignore[type-var]


def test_register_needs_a_name() -> None:
    class Nameless(Reversed):
        name = ""

    with pytest.raises(ValueError, match="name"):
        register_serializer(Nameless)


def test_serializers_compare_by_configuration_and_pickle() -> None:
    serializer = CompressedSerializer("msgpack", level=3)
    assert serializer == CompressedSerializer(MsgpackSerializer(), level=3)
    assert serializer != CompressedSerializer("msgpack", level=4)
    assert serializer != CompressedSerializer("json", level=3)
    assert PickleSerializer() != CloudpickleSerializer()
    assert len({PickleSerializer(), PickleSerializer()}) == 1
    assert pickle.loads(pickle.dumps(serializer)) == serializer
    assert repr(serializer) == "CompressedSerializer(MsgpackSerializer(), level=3)"


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(legato.serializers).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert sorted(legato.serializers.__all__) == sorted(public)


def test_import_is_light() -> None:
    # A fresh interpreter: importing the package, and even using msgpack on a
    # payload of builtin types, must not drag in the optional heavy packages.
    code = textwrap.dedent(
        """
        import sys
        import legato.serializers
        print(sorted(m for m in ("cloudpickle", "msgpack", "numpy") if m in sys.modules))
        from legato.serializers import get_serializer
        serializer = get_serializer("compressed/msgpack")
        assert serializer.loads(serializer.dumps({"a": (1, 2.5, b"x")})) == {"a": (1, 2.5, b"x")}
        print(sorted(m for m in ("cloudpickle", "numpy") if m in sys.modules))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]
