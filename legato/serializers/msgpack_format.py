"""The msgpack serializer: compact, fast, and safe to load from anyone.

Unlike pickle, loading msgpack runs no code named in the data, and other
languages can read it. It carries msgpack's own types (None, bool, int, float,
str, bytes, list, dict with keys of any of the types here) and, as msgpack
extension types, those of :mod:`legato.serializers.extra_types`: tuples, sets,
datetimes, decimals, UUIDs, complex numbers, NumPy arrays and more. Integers
beyond 64 bits get an extension type of their own. Tuples stay tuples because
the packer runs with ``strict_types``, which sends them (and subclasses of
native types, which become their base type) to the ``default`` hook instead of
packing them as lists.
"""

from __future__ import annotations

from legato.serializers.base import (
    Serializer,
    UnsupportedTypeError,
    cannot_deserialize,
    cannot_serialize,
    register_serializer,
    require,
)
from legato.serializers.extra_types import BY_CODE, find_extra_type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_BIG_INT_CODE = 64  # msgpack's own integers stop at 64 bits

# What subclasses of msgpack's native types become (an IntEnum an int, an
# OrderedDict a dict), converted as msgpack itself would without strict_types,
# not through str() or int(), which a subclass may override.
# (Subclasses of bytes are caught earlier, by the "bytes" extra type.)
_NATIVE_BASES: tuple[tuple[type, Callable[[Any], object]], ...] = (
    (dict, dict),
    (list, list),
    (str, str.__str__),
    (int, int.__int__),
    (float, float.__float__),
)

_SUPPORTED = (
    "msgpack carries None, bool, int, float, str, bytes, list, dict, tuple, set, frozenset, "
    "datetime, date, time, timedelta, Decimal, UUID, complex and NumPy arrays and scalars; "
    "use the cloudpickle serializer for other objects"
)


@register_serializer
class MsgpackSerializer(Serializer):
    """msgpack with extension types for the common Python types it lacks."""

    name = "msgpack"

    def dumps(self, obj: object) -> bytes:
        require("msgpack", self.name)
        try:
            return _pack(obj)
        except Exception as exc:
            culprit = exc.unsupported_type if isinstance(exc, UnsupportedTypeError) else type(obj)
            raise cannot_serialize(self.name, obj, culprit, exc) from exc

    def loads(self, data: bytes) -> object:
        require("msgpack", self.name)
        try:
            return _unpack(data)
        except Exception as exc:
            raise cannot_deserialize(self.name, data, exc) from exc


def _pack(obj: object) -> bytes:
    import msgpack

    return msgpack.packb(obj, default=_default, use_bin_type=True, strict_types=True)  # type: ignore[no-any-return]


def _default(value: object) -> object:
    """Encode what msgpack cannot pack itself (it calls this with ``strict_types``)."""
    import msgpack

    if type(value) is int:  # only integers too big for msgpack get here
        size = (value.bit_length() + 8) // 8  # one more bit for the sign
        return msgpack.ExtType(_BIG_INT_CODE, value.to_bytes(size, "big", signed=True))
    extra = find_extra_type(value)
    if extra is not None:
        return msgpack.ExtType(extra.code, _pack(extra.encode(value)))
    for base, convert in _NATIVE_BASES:
        if isinstance(value, base):
            return convert(value)
    raise UnsupportedTypeError(value, _SUPPORTED)


def _unpack(data: bytes) -> object:
    import msgpack

    # strict_map_key=False: keys may be ints, tuples, datetimes... not only str and bytes.
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def _ext_hook(code: int, payload: bytes) -> object:
    if code == _BIG_INT_CODE:
        return int.from_bytes(payload, "big", signed=True)
    extra = BY_CODE.get(code)
    if extra is None:
        raise ValueError(f"unknown msgpack extension type code {code}")
    return extra.decode(_unpack(payload))
