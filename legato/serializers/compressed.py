"""A wrapper that zlib-compresses what another serializer writes.

Worth it for large, repetitive results that are stored or sent over a network;
for small ones the compression costs more time than it saves. It wraps any
serializer, and ``get_serializer("compressed/<name>")`` builds one around the
serializer registered as ``<name>``. zlib is in the standard library and
imported only on first use. Decompression is not bounded, so, as with pickle,
only load bytes you produced.
"""

from __future__ import annotations

from legato.serializers.base import Serializer, cannot_deserialize, get_serializer


class CompressedSerializer(Serializer):
    """Another serializer's bytes, zlib-compressed; named ``"compressed/<inner name>"``."""

    def __init__(self, inner: Serializer | str, level: int = 6) -> None:
        if type(level) is not int or not -1 <= level <= 9:
            raise ValueError(f"zlib compression level must be an int from -1 to 9, got {level!r}")
        self.inner = get_serializer(inner)
        self.level = level
        self.name = f"compressed/{self.inner.name}"

    def dumps(self, obj: object) -> bytes:
        import zlib

        # The inner serializer's SerializationError already names it and the type.
        return zlib.compress(self.inner.dumps(obj), self.level)

    def loads(self, data: bytes) -> object:
        import zlib

        try:
            raw = zlib.decompress(data)
        except Exception as exc:
            raise cannot_deserialize(self.name, data, exc) from exc
        return self.inner.loads(raw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r}, level={self.level})"
