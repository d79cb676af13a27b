"""The JSON serializer: readable by people and by anything, safe to load.

It writes the standard library's JSON, and carries the types JSON lacks (those
of :mod:`legato.serializers.extra_types`, and bytes) as tagged objects::

    {"__legato__": "datetime", "value": "2024-01-01T00:00:00+00:00"}

A dict whose keys are not all strings, or that has a ``"__legato__"`` key of its
own, is written as a tagged list of ``[key, value]`` pairs, so every dict comes
back as it went in; dicts with string keys are written as plain JSON objects.
Non-finite floats are written as ``NaN`` and ``Infinity``, as Python's json
does: they round-trip, but strict JSON readers refuse them.

Objects are converted to plain JSON values before ``json.dumps`` sees them,
because its ``default`` hook is never called for tuples or dict keys.
"""

from __future__ import annotations

from legato.serializers.base import (
    Serializer,
    UnsupportedTypeError,
    cannot_deserialize,
    cannot_serialize,
    register_serializer,
)
from legato.serializers.extra_types import BY_TAG, find_extra_type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

TAG = "__legato__"

# What subclasses of JSON's types become (an IntEnum an int, an OrderedDict a dict),
# converted without str() or int(), which a subclass may override.
_NATIVE_BASES: tuple[tuple[type, Callable[[Any], object]], ...] = (
    (str, str.__str__),
    (int, int.__int__),
    (float, float.__float__),
)

_SUPPORTED = (
    "json carries None, bool, int, float, str, bytes, list, dict, tuple, set, frozenset, "
    "datetime, date, time, timedelta, Decimal, UUID, complex and NumPy arrays and scalars; "
    "use the cloudpickle serializer for other objects"
)


@register_serializer
class JSONSerializer(Serializer):
    """The standard library's JSON, with tagged objects for the types JSON lacks."""

    name = "json"

    def dumps(self, obj: object) -> bytes:
        import json

        try:
            text = json.dumps(to_json(obj), separators=(",", ":"), check_circular=False)
        except Exception as exc:
            culprit = exc.unsupported_type if isinstance(exc, UnsupportedTypeError) else type(obj)
            raise cannot_serialize(self.name, obj, culprit, exc) from exc
        return text.encode("ascii")  # json.dumps escapes everything beyond ASCII

    def loads(self, data: bytes) -> object:
        import json

        try:
            return json.loads(data, object_hook=from_tagged)
        except Exception as exc:
            raise cannot_deserialize(self.name, data, exc) from exc


def to_json(obj: object) -> Any:
    """``obj`` as plain JSON values, with extra types and odd dicts as tagged objects."""
    cls = type(obj)
    if obj is None or cls is str or cls is int or cls is float or cls is bool:
        return obj
    if cls is list:
        return [to_json(item) for item in obj]  # type: ignore[attr-defined]
    if cls is dict:
        return _dict_to_json(obj)  # type: ignore[arg-type]
    if isinstance(obj, (bytearray, memoryview)):
        obj = bytes(obj)
    extra = find_extra_type(obj)
    if extra is not None:
        return {TAG: extra.tag, "value": to_json(extra.encode(obj))}
    if isinstance(obj, dict):
        return _dict_to_json(dict(obj))
    if isinstance(obj, list):
        return [to_json(item) for item in obj]
    for base, convert in _NATIVE_BASES:
        if isinstance(obj, base):
            return convert(obj)
    raise UnsupportedTypeError(obj, _SUPPORTED)


def _dict_to_json(obj: dict[Any, Any]) -> dict[str, Any]:
    if TAG not in obj and all(type(key) is str for key in obj):
        return {key: to_json(value) for key, value in obj.items()}
    return {TAG: "dict", "value": [[to_json(key), to_json(value)] for key, value in obj.items()]}


def from_tagged(obj: dict[str, Any]) -> object:
    """Undo :func:`to_json` for one JSON object (json calls this innermost first)."""
    tag = obj.get(TAG)
    if tag is None:
        return obj
    value = obj["value"]
    if tag == "dict":
        return {key: item for key, item in value}
    extra = BY_TAG.get(tag)
    if extra is None:
        raise ValueError(f"unknown {TAG} tag {tag!r}")
    return extra.decode(value)
