"""Decompression is bounded: a zlib bomb raises before it is inflated."""

from __future__ import annotations

import zlib

import pytest

from legato.core.errors import SerializationError
from legato.serializers import CompressedSerializer, get_serializer
from legato.serializers.compressed import MIN_LIMIT, inflate


def bomb(size: int) -> bytes:
    """``size`` zero bytes, compressed: a full flush resets the history, so one block's output repeats."""
    compressor = zlib.compressobj(9)
    head = compressor.compress(b"") + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(b"\0" * (1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head + block * (size >> 20) + compressor.flush()  # the trailer's checksum is never reached


def test_values_round_trip_through_the_bounded_reader() -> None:
    serializer = get_serializer("compressed/json")
    value = {"rows": [{"n": i, "name": f"row {i}"} for i in range(5000)]}
    assert serializer.loads(serializer.dumps(value)) == value


def test_the_limit_is_a_multiple_of_the_stored_size_with_a_floor_and_a_cap() -> None:
    serializer = CompressedSerializer("json", max_ratio=10, max_size=50 << 20)
    assert serializer.limit(10) == MIN_LIMIT
    assert serializer.limit(1 << 20) == 10 << 20
    assert serializer.limit(100 << 20) == 50 << 20


def test_a_bomb_is_refused() -> None:
    data = bomb(1 << 30)  # 1 GiB of zeros in about 1 MB
    assert len(data) < 2 << 20
    with pytest.raises(SerializationError, match="inflate past"):
        get_serializer("compressed/pickle").loads(data)


def test_exactly_the_limit_inflates_and_one_byte_more_does_not() -> None:
    data = zlib.compress(b"x" * 1000)
    assert inflate(data, 1000) == b"x" * 1000
    with pytest.raises(ValueError, match="inflate past 999"):
        inflate(data, 999)


def test_truncated_and_padded_streams_are_refused() -> None:
    data = zlib.compress(b"hello" * 100)
    with pytest.raises(zlib.error):
        inflate(data[:-3], 1 << 20)
    with pytest.raises(zlib.error):
        inflate(data + b"junk", 1 << 20)


def test_the_environment_raises_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_INFLATE_MAX_RATIO", "2000")
    monkeypatch.setenv("LEGATO_INFLATE_MAX_BYTES", str(512 << 20))
    data = zlib.compress(b"\0" * (64 << 20), 9)
    serializer = CompressedSerializer("pickle")
    assert serializer.limit(len(data)) >= 64 << 20
    with pytest.raises(SerializationError):  # inflated, but zeros are not a pickle
        serializer.loads(data)
    monkeypatch.setenv("LEGATO_INFLATE_MAX_RATIO", "-1")
    with pytest.raises(ValueError, match="positive"):
        CompressedSerializer("pickle")
