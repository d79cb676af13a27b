"""The record format: what reads back, and everything that must not."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
from results_support import TouchOnLoad

from legato.results.records import (
    MAGIC,
    VERSION,
    CorruptRecord,
    RecordError,
    UnsignedRecord,
    UntrustedRecord,
    _PREFIX,
    decode_record,
    encode_record,
)
from legato.serializers import get_serializer

KEY = b"k" * 32


def key_fn() -> bytes:
    return KEY


def record(value: object = {"a": [1, 2]}, serializer: str = "cloudpickle", key: str = "some/key",
           expires: float | None = None) -> bytes:
    chosen = get_serializer(serializer)
    return encode_record(key, chosen, chosen.dumps(value), created=100.0, expires=expires, signing_key=key_fn)


def raw_record(header: dict[str, object], payload: bytes, digest: bytes | None = None) -> bytes:
    """A record built by hand, as an attacker with write access could."""
    head = json.dumps(header).encode()
    body = _PREFIX.pack(MAGIC, VERSION, len(head)) + head + payload
    return body + (digest if digest is not None else hashlib.sha256(body).digest())


@pytest.mark.parametrize("serializer", ["cloudpickle", "pickle", "json", "msgpack", "compressed/json"])
def test_records_read_back(serializer: str) -> None:
    read = decode_record(record(serializer=serializer), expected_key="some/key", signing_key=key_fn)
    assert get_serializer(read.serializer).loads(read.payload) == {"a": [1, 2]}
    assert read.created == 100.0 and read.expires is None
    assert read.signed  # every format, not only those that would run code on loading


def test_every_truncation_and_any_extra_byte_is_refused() -> None:
    data = record()
    for length in range(len(data)):
        with pytest.raises(CorruptRecord):
            decode_record(data[:length], expected_key="some/key", signing_key=key_fn)
    with pytest.raises(CorruptRecord):
        decode_record(data + b"\0", expected_key="some/key", signing_key=key_fn)


@pytest.mark.parametrize("serializer", ["cloudpickle", "json"])
def test_every_flipped_byte_is_refused(serializer: str) -> None:
    data = record(serializer=serializer)
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        with pytest.raises(RecordError):
            decode_record(bytes(damaged), expected_key="some/key", signing_key=key_fn)


def test_a_record_moved_to_another_key_is_refused() -> None:
    with pytest.raises(CorruptRecord, match="written for key"):
        decode_record(record(key="a"), expected_key="b", signing_key=key_fn)


def test_a_record_signed_with_another_key_is_refused_before_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    serializer = get_serializer("pickle")
    forged = encode_record("k", serializer, pickle.dumps(TouchOnLoad(marker)), created=0.0, expires=None,
                           signing_key=lambda: b"the attacker's key")
    with pytest.raises(UntrustedRecord):
        decode_record(forged, expected_key="k", signing_key=key_fn)
    assert not marker.exists()


def test_an_unsigned_pickle_record_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(TouchOnLoad(marker))
    header = {"key": "k", "serializer": "pickle", "created": 0, "expires": None, "size": len(payload), "signed": False}
    with pytest.raises(UntrustedRecord):
        decode_record(raw_record(header, payload), expected_key="k", signing_key=key_fn)
    # Claiming a format that cannot run code does not help: unsigned is unsigned.
    header["serializer"] = "json"
    with pytest.raises(UnsignedRecord):
        decode_record(raw_record(header, payload), expected_key="k", signing_key=key_fn)
    assert not marker.exists()


@pytest.mark.parametrize("serializer", ["json", "msgpack", "compressed/json"])
def test_an_unsigned_record_in_a_safe_format_is_refused(serializer: str) -> None:
    payload = get_serializer(serializer).dumps({"i": 999})
    header = {"key": "k", "serializer": serializer, "created": 0, "expires": None, "size": len(payload),
              "signed": False}
    with pytest.raises(UnsignedRecord):
        decode_record(raw_record(header, payload), expected_key="k", signing_key=key_fn)
    # An unsigned record whose plain checksum is wrong is damaged, not merely old.
    with pytest.raises(CorruptRecord):
        decode_record(raw_record(header, payload, digest=b"\0" * 32), expected_key="k", signing_key=key_fn)


def test_a_record_claiming_to_be_signed_with_a_plain_checksum_is_refused() -> None:
    payload = get_serializer("json").dumps(1)
    header = {"key": "k", "serializer": "json", "created": 0, "expires": None, "size": len(payload), "signed": True}
    with pytest.raises(UntrustedRecord):
        decode_record(raw_record(header, payload), expected_key="k", signing_key=key_fn)


def test_the_attack_payload_does_run_when_trusted(tmp_path: Path) -> None:
    # The control for the two tests above: the payload really would create the file.
    marker = tmp_path / "pwned"
    serializer = get_serializer("pickle")
    trusted = encode_record("k", serializer, pickle.dumps(TouchOnLoad(marker)), created=0.0, expires=None,
                            signing_key=key_fn)
    serializer.loads(decode_record(trusted, expected_key="k", signing_key=key_fn).payload)
    assert marker.exists()


def test_expiry_is_part_of_the_record() -> None:
    read = decode_record(record(expires=150.0), expected_key="some/key", signing_key=key_fn)
    assert not read.is_expired(149.9) and read.is_expired(150.0)
