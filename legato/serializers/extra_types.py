"""The types beyond their own that the msgpack and JSON serializers carry.

Both formats know only None, booleans, numbers, strings, lists and maps (msgpack
adds bytes), yet task results are often tuples, sets, datetimes, decimals, UUIDs
or NumPy arrays. Each :class:`ExtraType` says how to turn one such object into a
value made of things the format already handles (which may hold further extra
types: the format encodes them in turn) and back. msgpack stores the result as
``ExtType(code, payload)``; JSON as ``{"__legato__": tag, "value": value}``.
Keeping one table for both formats means they carry exactly the same types.

Types are recognised without importing their modules: an object can only be a
``Decimal`` if :mod:`decimal` is already in :data:`sys.modules`, so looking there
keeps ``import legato.serializers`` (and every ``dumps``) from importing
decimal, uuid or numpy. Decoders import what they need when they run.
"""

from __future__ import annotations

import sys

from legato.serializers.base import UnsupportedTypeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable
    from typing import Any


class ExtraType:
    """How one type beyond a format's own is encoded, recognised by module and name."""

    __slots__ = ("code", "decode", "encode", "module", "qualname", "tag")

    def __init__(
        self,
        tag: str,
        code: int,
        module: str,
        qualname: str,
        encode: Callable[[Any], Any],
        decode: Callable[[Any], Any],
    ) -> None:
        self.tag = tag  # the name JSON stores
        self.code = code  # the msgpack ExtType code (0-127 are the application's)
        self.module = module
        self.qualname = qualname
        self.encode = encode
        self.decode = decode

    def resolve(self) -> type | None:
        """The type, if its module is imported; otherwise no object can be one."""
        module = sys.modules.get(self.module)
        return None if module is None else getattr(module, self.qualname, None)


# Datetimes keep their wall time and UTC offset; a zoneinfo zone also keeps its
# key, written after the offset as in RFC 9557: "2024-03-31T02:30:00+01:00[Europe/Paris]".
# (Python 3.11's fromisoformat reads back an offset of less than a second as UTC.)
def _encode_datetime(value: dt.datetime) -> str:
    key = getattr(value.tzinfo, "key", None) if _is_zoneinfo(value.tzinfo) else None
    return value.isoformat() if key is None else f"{value.isoformat()}[{key}]"


def _is_zoneinfo(tzinfo: object) -> bool:
    zoneinfo = sys.modules.get("zoneinfo")
    return zoneinfo is not None and isinstance(tzinfo, zoneinfo.ZoneInfo)


def _decode_datetime(text: str) -> dt.datetime:
    import datetime

    iso, _, key = text.partition("[")
    parsed = datetime.datetime.fromisoformat(iso)
    if not key:
        return parsed
    import zoneinfo

    zoned = parsed.replace(tzinfo=zoneinfo.ZoneInfo(key.rstrip("]")))
    # fold picks the offset of an ambiguous or skipped wall time: keep the one written.
    return zoned if zoned.utcoffset() == parsed.utcoffset() else zoned.replace(fold=1)


def _decode_date(text: str) -> dt.date:
    import datetime

    return datetime.date.fromisoformat(text)


def _decode_time(text: str) -> dt.time:
    import datetime

    return datetime.time.fromisoformat(text)


def _decode_timedelta(parts: list[int]) -> dt.timedelta:
    import datetime

    days, seconds, microseconds = parts
    return datetime.timedelta(days, seconds, microseconds)


def _decode_decimal(text: str) -> object:
    import decimal

    return decimal.Decimal(text)


def _decode_uuid(text: str) -> object:
    import uuid

    return uuid.UUID(text)


def _decode_complex(parts: list[float]) -> complex:
    real, imag = parts
    return complex(real, imag)


def _encode_bytes(value: bytes) -> str:
    import binascii

    return binascii.b2a_base64(value, newline=False).decode("ascii")


def _decode_bytes(text: str) -> bytes:
    import binascii

    return binascii.a2b_base64(text)


def _check_numpy_dtype(value: Any) -> None:
    # dtype.str loses the fields of a structured dtype, and an object array holds
    # Python objects no bytes can carry: refuse both rather than lose data.
    if value.dtype.hasobject or value.dtype.fields is not None:
        reason = f"NumPy dtype {value.dtype} cannot be stored as raw bytes; use a pickle serializer"
        raise UnsupportedTypeError(value, reason)


def _encode_ndarray(array: Any) -> list[Any]:
    import numpy

    if type(array) is not numpy.ndarray:  # a subclass (masked array, matrix) would lose what makes it one
        raise UnsupportedTypeError(array, "only plain numpy.ndarray is supported, not its subclasses")
    _check_numpy_dtype(array)
    return [array.dtype.str, list(array.shape), array.tobytes()]


def _decode_ndarray(parts: list[Any]) -> Any:
    import numpy

    dtype_str, shape, raw = parts
    dtype = numpy.dtype(dtype_str)
    if not raw:  # frombuffer refuses empty buffers of zero-sized items
        return numpy.empty(shape, dtype)
    # A bytearray keeps the array writable, as pickle's arrays are.
    return numpy.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)


def _encode_numpy_scalar(scalar: Any) -> list[Any]:
    _check_numpy_dtype(scalar)
    return [scalar.dtype.str, scalar.tobytes()]


def _decode_numpy_scalar(parts: list[Any]) -> Any:
    import numpy

    dtype_str, raw = parts
    return numpy.frombuffer(raw, dtype=numpy.dtype(dtype_str))[0]


# Order matters for subclasses: NumPy's scalars first (float64 is a float,
# complex128 a complex), datetime before date.
EXTRA_TYPES: tuple[ExtraType, ...] = (
    ExtraType("ndarray", 12, "numpy", "ndarray", _encode_ndarray, _decode_ndarray),
    ExtraType("numpy_scalar", 13, "numpy", "generic", _encode_numpy_scalar, _decode_numpy_scalar),
    ExtraType("tuple", 1, "builtins", "tuple", list, tuple),
    ExtraType("set", 2, "builtins", "set", list, set),
    ExtraType("frozenset", 3, "builtins", "frozenset", list, frozenset),
    ExtraType("datetime", 4, "datetime", "datetime", _encode_datetime, _decode_datetime),
    ExtraType("date", 5, "datetime", "date", lambda value: value.isoformat(), _decode_date),
    ExtraType("time", 6, "datetime", "time", lambda value: value.isoformat(), _decode_time),
    ExtraType(
        "timedelta",
        7,
        "datetime",
        "timedelta",
        lambda value: [value.days, value.seconds, value.microseconds],
        _decode_timedelta,
    ),
    ExtraType("decimal", 8, "decimal", "Decimal", str, _decode_decimal),
    ExtraType("uuid", 9, "uuid", "UUID", str, _decode_uuid),
    ExtraType("complex", 10, "builtins", "complex", lambda value: [value.real, value.imag], _decode_complex),
    ExtraType("bytes", 11, "builtins", "bytes", _encode_bytes, _decode_bytes),
)

BY_TAG: dict[str, ExtraType] = {extra.tag: extra for extra in EXTRA_TYPES}
BY_CODE: dict[int, ExtraType] = {extra.code: extra for extra in EXTRA_TYPES}

# type -> its ExtraType, or None for "none applies"; filled as types are met.
# Sound to cache: a class's bases are fixed when it is created, and its module
# (and so those bases' modules) is imported by then.
_found: dict[type, ExtraType | None] = {}


def find_extra_type(obj: object) -> ExtraType | None:
    """The :class:`ExtraType` that encodes ``obj``, or None if there is none."""
    cls = type(obj)
    try:
        return _found[cls]
    except KeyError:
        pass
    found = None
    for extra in EXTRA_TYPES:
        resolved = extra.resolve()
        if resolved is not None and isinstance(obj, resolved):
            found = extra
            break
    _found[cls] = found
    return found
