"""Forged and damaged result records, in every serializer: each is a miss, never a value.

A flow with a run key stores one record per element; then one record each is
forged (unsigned), signed with another key, flipped, truncated, copied over
another element's, rewritten by another serializer and, for compressed
formats, replaced by a zlib bomb. The rerun must execute exactly those
elements again and return only right values.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
import zlib
from pathlib import Path

import pytest
from chaos_support import Clock, markers, tally

from legato import flow, task, unmapped
from legato.results.records import _PREFIX, MAGIC, VERSION, decode_record, encode_record
from legato.results.signing import signing_key
from legato.runners import SyncTaskRunner
from legato.serializers import get_serializer

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(60)]

N = 10
SERIALIZERS = ["cloudpickle", "pickle", "json", "msgpack", "compressed/cloudpickle", "compressed/json",
               "compressed/msgpack"]
FAST = {"cloudpickle", "json", "compressed/json"}  # the others in the full run


class TouchOnLoad:
    """A pickle that creates a file when loaded: what a forged pickle record would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (Path(self.path),))


def forged(key: str, serializer: str, payload: bytes) -> bytes:
    header = json.dumps({"key": key, "serializer": serializer, "created": 0.0, "expires": None,
                         "size": len(payload), "signed": False}).encode()
    body = _PREFIX.pack(MAGIC, VERSION, len(header)) + header + payload
    return body + hashlib.sha256(body).digest()


@functools.lru_cache(maxsize=1)
def bomb() -> bytes:
    compressor = zlib.compressobj(9)
    head = compressor.compress(b"") + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(b" " * (1 << 24)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head + block * 64 + compressor.flush()  # 1 GiB inflated


def records_by_element(root: Path, serializer: str) -> dict[int, tuple[Path, str]]:
    found = {}
    chosen = get_serializer(serializer)
    for path in root.rglob("*"):
        if path.is_file() and not path.name.endswith(".tmp"):
            data = path.read_bytes()
            _, _, length = _PREFIX.unpack_from(data)
            key = json.loads(data[_PREFIX.size:_PREFIX.size + length])["key"]
            value = chosen.loads(decode_record(data, expected_key=key, signing_key=signing_key).payload)
            found[value["i"]] = (path, key)
    return found


def damage(serializer: str, records: dict[int, tuple[Path, str]], pwned: Path) -> dict[int, str]:
    """Damage one record per way; returns element -> what was done to it."""
    chosen = get_serializer(serializer)
    pickled = "pickle" in serializer
    evil = TouchOnLoad(str(pwned)) if pickled else {"i": 999, "sq": -1}
    evil_payload = (zlib.compress(pickle.dumps(evil)) if serializer.startswith("compressed/") and pickled
                    else pickle.dumps(evil) if pickled else chosen.dumps(evil))
    other = get_serializer("msgpack" if "json" in serializer else "json")
    ways = {
        0: ("unsigned", lambda p, k: forged(k, serializer, evil_payload)),
        1: ("other key", lambda p, k: encode_record(k, chosen, evil_payload, created=0.0, expires=None,
                                                                  signing_key=lambda: b"the attacker's key")),
        2: ("flipped", lambda p, k: _flipped(p.read_bytes())),
        3: ("truncated", lambda p, k: p.read_bytes()[:-10]),
        4: ("copied", lambda p, k: records[5][0].read_bytes()),
        5: ("other serializer", lambda p, k: encode_record(k, other, other.dumps({"i": 5, "sq": -5}),
                                                               created=0.0, expires=None, signing_key=signing_key)),
    }
    if serializer.startswith("compressed/"):
        ways[6] = ("bomb", lambda p, k: encode_record(k, chosen, bomb(), created=0.0, expires=None,
                                                                      signing_key=signing_key))
    done = {}
    for element, (what, make) in ways.items():
        path, key = records[element]
        replacement = make(path, key)
        path.write_bytes(replacement)
        done[element] = what
    return done


def _flipped(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x40
    return bytes(damaged)


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_damaged_records_are_misses(serializer: str, folder: Path, tmp_path: Path,
                                    request: pytest.FixtureRequest) -> None:
    if serializer not in FAST:
        request.getfixturevalue("full_only")
    @task(result_serializer=serializer)
    def value_of(i: int, where: str) -> dict[str, int]:
        from chaos_tasks import mark

        mark(where, "start", i)
        return {"i": i, "sq": i * i}

    @flow(task_runner=SyncTaskRunner())
    def stored(n: int) -> list[dict[str, int]]:
        return value_of.map(range(n), unmapped(str(folder))).result()

    expected = {i: {"i": i, "sq": i * i} for i in range(N)}
    assert stored(N, run_key="chaos-records") == list(expected.values())
    records = records_by_element(tmp_path / "home" / "results", serializer)
    assert sorted(records) == list(range(N))
    pwned = tmp_path / "pwned"
    damaged = damage(serializer, records, pwned)
    clock = Clock()
    before = markers(folder)
    values = stored(N, run_key="chaos-records")
    executions = markers(folder) - before
    row = tally(f"damaged records ({len(damaged)} ways)", serializer, expected, dict(enumerate(values)),
                executions, clock, note=", ".join(damaged.values()))
    assert row.wrong == 0 and row.lost == 0
    assert dict(executions) == dict.fromkeys(damaged, 1)  # each damaged element ran once more, no other did
    assert not pwned.exists()
    assert stored(N, run_key="chaos-records") == list(expected.values())
    assert markers(folder) - before == executions  # the rewritten records read back
