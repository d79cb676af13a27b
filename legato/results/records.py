"""The on-disk format of one stored result, and its checks.

A record is one blob (one file, or one object in a bucket)::

    offset  size  content
    0       4     magic  b"LGRS"
    4       1     format version (1)
    5       4     header length H, big-endian
    9       H     header, UTF-8 JSON: {"key", "serializer", "created", "expires", "size", "signed"}
    9+H     size  payload: the result, as the serializer named in the header wrote it
    end-32  32    digest of everything before it: HMAC-SHA256 with the signing key

Every record is signed, whatever its serializer: a JSON or msgpack record
cannot run code, but a forged one would still be a wrong value read as
Cached. Reading checks, in order and before anything is deserialized: the
magic and version, that the lengths add up exactly (a truncated or padded
record fails), that the header says ``"signed": true`` and the HMAC verifies
(header and payload alike), and that the record was written for the key it is
read under (a record copied to another key would answer for other inputs).
The results manager then checks that the record's serializer is the task's.
Any failure is a :class:`RecordError`; the results manager logs it and treats
the record as missing.

Upgrade: legato 0.1.0 wrote JSON and msgpack records with a plain
SHA-256 digest and ``"signed": false``. They are refused as
:class:`UnsignedRecord` (a subclass of :class:`UntrustedRecord`), a miss, and
are rewritten, signed, the next time their task runs. Older pickle-based
records were already signed and still read.

``created`` and ``expires`` are POSIX timestamps (``expires`` may be null);
they are inside the digest, so a record's expiry cannot be pushed back.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass

from legato.results.signing import sign, verify
from legato.serializers import CompressedSerializer, JSONSerializer, MsgpackSerializer, Serializer

MAGIC = b"LGRS"
VERSION = 1
_PREFIX = struct.Struct(">4sBI")
_DIGEST = 32
_MAX_HEADER = 64 * 1024


class RecordError(Exception):
    """A stored record cannot be trusted; it is treated as missing."""


class CorruptRecord(RecordError):
    """The record is truncated, damaged, or not a legato record."""


class UntrustedRecord(RecordError):
    """The record's signature is missing or wrong."""


class UnsignedRecord(UntrustedRecord):
    """The record carries no signature: forged, or written by a legato that signed only pickles."""


@dataclass(frozen=True)
class Record:
    key: str
    serializer: str
    created: float
    expires: float | None
    signed: bool
    payload: bytes

    def is_expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires


def is_safe_to_load(serializer: Serializer) -> bool:
    """Whether loading bytes with ``serializer`` can run no code named in them."""
    if isinstance(serializer, CompressedSerializer):
        return is_safe_to_load(serializer.inner)
    return type(serializer) in (JSONSerializer, MsgpackSerializer)


def encode_record(key: str, serializer: Serializer, payload: bytes, *, created: float, expires: float | None,
                  signing_key: Callable[[], bytes]) -> bytes:
    """One record holding ``payload``, signed with ``signing_key()``."""
    signed = True
    header = json.dumps(
        {"key": key, "serializer": serializer.name, "created": created, "expires": expires,
         "size": len(payload), "signed": signed},
        sort_keys=True, separators=(",", ":"),
    ).encode("utf-8")
    body = _PREFIX.pack(MAGIC, VERSION, len(header)) + header + payload
    return body + sign(signing_key(), body)


def decode_record(data: bytes, *, expected_key: str, signing_key: Callable[[], bytes]) -> Record:
    """The record in ``data``, checked; raises :class:`RecordError` if it cannot be trusted."""
    header, body, digest = _split(data)
    if header.get("signed") is not True:
        if hashlib.sha256(body).digest() != digest:
            raise CorruptRecord("its checksum does not match (damaged or partly written)")
        raise UnsignedRecord("it is not signed (forged, or written by a legato that signed only pickle records; "
                             "it is rewritten, signed, when its task runs)")
    if not verify(signing_key(), body, digest):
        raise UntrustedRecord("its signature does not match this process's results key "
                              "(written with another LEGATO_RESULTS_KEY, damaged, or tampered with)")
    record = _record(header, body[len(body) - header["size"]:] if header["size"] else b"")
    if record.key != expected_key:
        raise CorruptRecord(f"it was written for key {record.key!r}, not for this one")
    return record


def _split(data: bytes) -> tuple[dict[str, object], bytes, bytes]:
    if len(data) < _PREFIX.size + _DIGEST:
        raise CorruptRecord(f"it is {len(data)} bytes long, too short to be a record")
    magic, version, header_length = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise CorruptRecord("it is not a legato result record")
    if version != VERSION:
        raise CorruptRecord(f"it has format version {version}; this legato reads version {VERSION}")
    if header_length > _MAX_HEADER or _PREFIX.size + header_length + _DIGEST > len(data):
        raise CorruptRecord("it is truncated (header)")
    try:
        header = json.loads(data[_PREFIX.size:_PREFIX.size + header_length])
    except ValueError as error:
        raise CorruptRecord(f"its header is not valid JSON: {error}") from None
    if not isinstance(header, dict) or not isinstance(header.get("size"), int) or header["size"] < 0:
        raise CorruptRecord("its header has no valid payload size")
    expected = _PREFIX.size + header_length + header["size"] + _DIGEST
    if len(data) != expected:
        raise CorruptRecord(f"it is {len(data)} bytes long, its header says {expected} (truncated or padded)")
    return header, data[:-_DIGEST], data[-_DIGEST:]


def _record(header: dict[str, object], payload: bytes) -> Record:
    try:
        key, serializer, created, expires = header["key"], header["serializer"], header["created"], header["expires"]
        if not isinstance(key, str) or not isinstance(serializer, str):
            raise TypeError("key and serializer must be strings")
        created_at = float(created)  # type: ignore[arg-type]
        expiry = None if expires is None else float(expires)  # type: ignore[arg-type]
        return Record(key, serializer, created_at, expiry, header.get("signed") is True, payload)
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptRecord(f"its header is incomplete: {error}") from None


__all__ = ["CorruptRecord", "Record", "RecordError", "UnsignedRecord", "UntrustedRecord", "decode_record", "encode_record",
           "is_safe_to_load"]
