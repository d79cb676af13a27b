"""A wrapper that zlib-compresses what another serializer writes.

Worth it for large, repetitive results that are stored or sent over a network;
for small ones the compression costs more time than it saves. It wraps any
serializer, and ``get_serializer("compressed/<name>")`` builds one around the
serializer registered as ``<name>``. zlib is in the standard library and
imported only on first use.

Decompression is bounded, because a few hundred kilobytes of zlib can inflate
to gigabytes (a "zip bomb"): :meth:`CompressedSerializer.loads` inflates at
most ``max(max_ratio * len(data), 1 MiB)`` bytes, and never more than
``max_size``, streaming with ``max_length`` so that nothing larger than the
limit is ever allocated. Data that would inflate further raises
:class:`~legato.core.errors.SerializationError` (a stored result then reads as
a miss with a warning). The defaults, a ratio of 100 and 1 GiB, pass ordinary
results (JSON and pickles compress 3-20x); results that are mostly one
repeated byte compress up to 1000x, and need a serializer built with a higher
``max_ratio``, or the environment variables ``LEGATO_INFLATE_MAX_RATIO`` and
``LEGATO_INFLATE_MAX_BYTES``.
"""

from __future__ import annotations


from legato import config
from legato.serializers.base import Serializer, cannot_deserialize, get_serializer

DEFAULT_MAX_RATIO = 100
DEFAULT_MAX_SIZE = 1 << 30
MIN_LIMIT = 1 << 20  # small payloads may always inflate this far
RATIO_ENV = "LEGATO_INFLATE_MAX_RATIO"
SIZE_ENV = "LEGATO_INFLATE_MAX_BYTES"
_CHUNK = 1 << 20


class InflationLimitExceeded(ValueError):
    """The compressed data inflates beyond the serializer's limit."""


class CompressedSerializer(Serializer):
    """Another serializer's bytes, zlib-compressed; named ``"compressed/<inner name>"``."""

    def __init__(self, inner: Serializer | str, level: int = 6, *, max_ratio: float | None = None,
                 max_size: int | None = None) -> None:
        if type(level) is not int or not -1 <= level <= 9:
            raise ValueError(f"zlib compression level must be an int from -1 to 9, got {level!r}")
        self.inner = get_serializer(inner)
        self.level = level
        self.max_ratio = _positive(max_ratio, RATIO_ENV, DEFAULT_MAX_RATIO, "max_ratio")
        self.max_size = int(_positive(max_size, SIZE_ENV, DEFAULT_MAX_SIZE, "max_size"))
        self.name = f"compressed/{self.inner.name}"

    def dumps(self, obj: object) -> bytes:
        import zlib

        # The inner serializer's SerializationError already names it and the type.
        return zlib.compress(self.inner.dumps(obj), self.level)

    def loads(self, data: bytes) -> object:
        try:
            raw = inflate(data, self.limit(len(data)))
        except Exception as exc:
            raise cannot_deserialize(self.name, data, exc) from exc
        return self.inner.loads(raw)

    def limit(self, stored: int) -> int:
        """How many bytes ``stored`` compressed bytes may inflate to."""
        return int(min(self.max_size, max(self.max_ratio * stored, MIN_LIMIT)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r}, level={self.level})"


def inflate(data: bytes, limit: int) -> bytes:
    """``zlib.decompress(data)``, refusing (before allocating more) output past ``limit`` bytes."""
    import zlib

    decompressor = zlib.decompressobj()
    parts: list[bytes] = []
    total = 0
    pending = memoryview(data)
    while True:
        part = decompressor.decompress(pending, min(_CHUNK, limit - total + 1))
        total += len(part)
        if total > limit:
            raise InflationLimitExceeded(f"it would inflate past {limit} bytes ({len(data)} bytes compressed); "
                                         f"raise max_ratio/max_size ({RATIO_ENV}, {SIZE_ENV}) if it is genuine")
        parts.append(part)
        pending = memoryview(decompressor.unconsumed_tail)
        if decompressor.eof:
            break
        if not pending and not part:
            raise zlib.error("incomplete or truncated stream")
    if decompressor.unused_data:
        raise zlib.error("trailing bytes after the compressed stream")
    return b"".join(parts)


def _positive(value: float | None, env: str, default: float, what: str) -> float:
    if value is None:
        raw = config.inflate_limit(env)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{env} must be a number, got {raw!r}") from None
    if isinstance(value, bool) or not value > 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return value
