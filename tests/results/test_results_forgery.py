"""Forged, foreign and inflating records never become values (issue 14, failure 1).

The attacker can write to the results folder but cannot read the signing key.
They replace one record of a signed cloudpickle run with a record they built
by hand, in a format that needs no signature to load safely (JSON, msgpack),
carrying the right key. Before the fix the run read it as Cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from pathlib import Path

import pytest
from results_support import record_files

from legato import flow, task
from legato.results.records import _PREFIX, MAGIC, VERSION
from legato.runners import SyncTaskRunner
from legato.serializers import get_serializer

executions: list[int] = []


@task
def square(i: int) -> dict[str, int]:
    executions.append(i)
    return {"i": i, "sq": i * i}


@flow(task_runner=SyncTaskRunner())
def squares(n: int) -> list[dict[str, int]]:
    return [f.result() for f in square.map(range(n))]


def forged(key: str, serializer: str, payload: bytes, *, signed: bool = False) -> bytes:
    """A record built by hand, with a plain SHA-256 digest (all an attacker can compute)."""
    header = json.dumps({"key": key, "serializer": serializer, "created": 0.0, "expires": None,
                         "size": len(payload), "signed": signed}).encode()
    body = _PREFIX.pack(MAGIC, VERSION, len(header)) + header + payload
    return body + hashlib.sha256(body).digest()


def header_of(data: bytes) -> dict[str, object]:
    _, _, length = _PREFIX.unpack_from(data)
    return json.loads(data[_PREFIX.size:_PREFIX.size + length])


def first_record(results_root: Path) -> tuple[Path, str]:
    path = next(p for p in record_files(results_root) if p.name != "results.key")
    return path, str(header_of(path.read_bytes())["key"])


@pytest.fixture(autouse=True)
def _clear() -> None:
    executions.clear()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def warnings_log():  # noqa: ANN201 - the legato logger does not propagate once a flow has run
    handler = _Records()
    logger = logging.getLogger("legato.results")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.mark.parametrize("serializer", ["json", "msgpack", "compressed/json", "compressed/msgpack"])
def test_an_unsigned_record_in_a_safe_format_is_a_miss_with_a_warning(
        serializer: str, results_root: Path, warnings_log: _Records) -> None:
    squares(3, run_key="forge")
    assert sorted(executions) == [0, 1, 2]
    path, key = first_record(results_root)
    evil = {"i": 999, "sq": -1}
    path.write_bytes(forged(key, serializer, get_serializer(serializer).dumps(evil)))
    executions.clear()
    assert evil not in squares(3, run_key="forge")
    assert len(executions) == 1  # the forged element ran again, the others were read
    assert any("not signed" in r.getMessage() for r in warnings_log.records if r.levelno == logging.WARNING)


def test_a_record_in_another_serializer_than_the_tasks_is_a_miss(results_root: Path, monkeypatch,
                                                                  warnings_log: _Records) -> None:
    # Signed with the right key, but written as JSON where the task writes cloudpickle.
    from legato.results.records import encode_record
    from legato.results.signing import signing_key

    squares(2, run_key="other-format")
    path, key = first_record(results_root)
    json_serializer = get_serializer("json")
    path.write_bytes(encode_record(key, json_serializer, json_serializer.dumps({"i": 7, "sq": 7}), created=0.0,
                                   expires=None, signing_key=signing_key))
    executions.clear()
    assert {"i": 7, "sq": 7} not in squares(2, run_key="other-format")
    assert len(executions) == 1
    assert any("serializer" in r.getMessage() for r in warnings_log.records)


def test_a_record_copied_under_another_key_is_a_miss(results_root: Path) -> None:
    squares(2, run_key="copy")
    paths = [p for p in record_files(results_root) if p.name != "results.key"]
    assert len(paths) == 2
    paths[1].write_bytes(paths[0].read_bytes())
    executions.clear()
    assert squares(2, run_key="copy") == [{"i": 0, "sq": 0}, {"i": 1, "sq": 1}]
    assert len(executions) == 1


def test_a_decompression_bomb_is_a_miss_without_inflating_it(results_root: Path,
                                                              warnings_log: _Records) -> None:
    import tracemalloc

    @task(result_serializer="compressed/json")
    def small(i: int) -> int:
        executions.append(i)
        return i

    @flow(task_runner=SyncTaskRunner())
    def bombed() -> int:
        return small(1)

    assert bombed(run_key="bomb") == 1
    path, key = first_record(results_root)
    # 1 GiB of spaces inside a JSON string, about 1 MB compressed (a full flush resets
    # the history, so one block's output repeats). Signed, even: a record the key
    # holder wrote is still bounded.
    compressor = zlib.compressobj(9)
    head = compressor.compress(b'"') + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(b" " * (1 << 24)) + compressor.flush(zlib.Z_FULL_FLUSH)
    bomb = head + block * 64 + compressor.compress(b'"') + compressor.flush()
    assert len(bomb) < 2 << 20
    from legato.results.records import encode_record
    from legato.results.signing import signing_key

    path.write_bytes(encode_record(key, get_serializer("compressed/json"), bomb, created=0.0, expires=None,
                                   signing_key=signing_key))
    executions.clear()
    tracemalloc.start()
    try:
        assert bombed(run_key="bomb") == 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert executions == [1]
    assert peak < 400 << 20  # far from the gigabyte the record would inflate to
    assert any("inflate" in r.getMessage() for r in warnings_log.records)


def test_records_of_the_previous_release_are_misses_with_one_warning_then_rewritten_signed(
        results_root: Path, warnings_log: _Records) -> None:
    """legato 0.1.0 wrote JSON/msgpack records unsigned, with a plain SHA-256 digest."""

    @task(result_serializer="json")
    def as_json(i: int) -> dict[str, int]:
        executions.append(i)
        return {"i": i, "sq": i * i}

    @flow(task_runner=SyncTaskRunner())
    def old(n: int) -> list[dict[str, int]]:
        return [f.result() for f in as_json.map(range(n))]

    old(4, run_key="upgrade")
    for path in record_files(results_root):
        if path.name == "results.key":
            continue
        data = path.read_bytes()
        header = header_of(data)
        _, _, length = _PREFIX.unpack_from(data)
        payload = data[_PREFIX.size + length:-32]
        path.write_bytes(forged(str(header["key"]), "json", payload))  # exactly what 0.1.0 wrote
    executions.clear()
    warnings_log.records.clear()
    assert old(4, run_key="upgrade") == [{"i": i, "sq": i * i} for i in range(4)]
    assert sorted(executions) == [0, 1, 2, 3]
    unsigned = [r for r in warnings_log.records if "not signed" in r.getMessage()]
    assert len(unsigned) == 1
    executions.clear()
    assert old(4, run_key="upgrade") == [{"i": i, "sq": i * i} for i in range(4)]
    assert executions == []  # rewritten, signed, and read
    assert all(header_of(p.read_bytes())["signed"] is True
               for p in record_files(results_root) if p.name != "results.key")
