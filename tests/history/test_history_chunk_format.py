"""Format 3 chunks: a map's ids and names as the rule they follow, packed arrays, and checks on read."""

from __future__ import annotations

import msgpack
import pytest

from legato import flow, task
from legato.core.graph import SharedIdentity, element_id, shared_identity
from legato.history.chunks import Chunk, FromMapIndex, UnreadableChunk, load, unpack, unpack_columns
from legato.history.observer import _task_rows
from legato.runners.threads import ThreadPoolTaskRunner


@task
def square(x: int) -> int:
    return x * x


@task(task_run_name="sq-{x}")
def named_square(x: int) -> int:
    return x * x


def _settled_runs(the_task, n: int) -> list:
    kept: list = []

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def mapped() -> None:
        futures = the_task.map(range(n))
        futures.wait()
        kept.extend(f.task_run for f in futures)

    mapped()
    return kept


def test_a_maps_elements_share_the_identity_their_ids_and_names_follow_from(monkeypatch):
    monkeypatch.setenv("LEGATO_HISTORY", "0")
    runs = _settled_runs(square, 50)
    shared = shared_identity(runs)
    assert shared.id_base is not None and shared.task_name == "square"
    assert [element_id(shared.id_base, run.map_index) for run in runs] == [run.id for run in runs]
    assert [f"square-{shared.name_offset + run.map_index}" for run in runs] == [run.name for run in runs]


def test_runs_with_names_of_their_own_share_no_name_rule(monkeypatch):
    monkeypatch.setenv("LEGATO_HISTORY", "0")
    runs = _settled_runs(named_square, 5)
    assert shared_identity(runs).task_name is None
    assert shared_identity(runs[:1] + _settled_runs(square, 3)) == SharedIdentity(None, None, None)


def test_a_maps_chunk_holds_no_string_per_id_or_name_and_reads_back_the_runs_own(monkeypatch):
    monkeypatch.setenv("LEGATO_HISTORY", "0")
    runs = _settled_runs(square, 2_000)
    chunk = Chunk()
    chunk.extend(*_task_rows(runs))
    blob = chunk.pack()
    assert runs[1234].id.encode() not in blob and b"square-" not in blob
    assert len(blob) < 2_000 * 30  # 8-byte start, end and map index each, and little else
    columns, errors, tags, _ = unpack_columns(blob)
    assert columns["id"] == [run.id for run in runs] and columns["name"] == [run.name for run in runs]
    assert columns["started_at"] == [run.started_at for run in runs]
    assert columns["map_index"] == list(range(2_000)) and (errors, tags) == ({}, {})


def test_a_chunk_mixing_a_map_with_other_runs_lists_every_id_and_name():
    chunk = Chunk()

    def rule_columns() -> list:  # fresh lists each time: a chunk takes the lists it is given
        return [FromMapIndex(id_base=2**64 - 2), FromMapIndex(name_prefix="t", name_offset=10), ["t", "t", "t"],
                [0, 1, 2], ["COMPLETED"] * 3, ["Completed"] * 3, [1] * 3, [1.0, 2.0, None], [2.0, 3.0, 4.0]]

    chunk.extend(rule_columns(), {}, {})
    chunk.add(("own", "other-0", "other", None, "FAILED", "Failed", 2, 5.0, 6.0), "ValueError: x", [], [])
    chunk.extend(rule_columns(), {}, {})
    runs = list(unpack(chunk.pack())[0])
    expected_ids = [element_id(2**64 - 2, i) for i in range(3)]
    assert [r["id"] for r in runs] == [*expected_ids, "own", *expected_ids]
    assert expected_ids[2] == "0000000000000000"  # the base wraps at 64 bits, as a run's own id does
    assert [r["name"] for r in runs] == ["t-10", "t-11", "t-12", "other-0", "t-10", "t-11", "t-12"]
    assert [r["started_at"] for r in runs] == [1.0, 2.0, None, 5.0, 1.0, 2.0, None]  # a None keeps the list
    assert runs[3]["error"] == "ValueError: x" and runs[3]["map_index"] is None


def _chunk_blob(**changes) -> bytes:
    data = {"v": 3, "n": 2, "columns": [
        {"id_base": 7}, {"name_prefix": "t", "name_offset": 0}, {"all": "t"}, {"i8": (0).to_bytes(8, "little")
                                                                            + (1).to_bytes(8, "little")},
        {"all": "COMPLETED"}, {"all": "Completed"}, {"all": 1}, [1.0, 2.0], [2.0, 3.0],
    ], "errors": {}, "tags": {}, "edges": []}  # fmt: skip
    data.update(changes)
    return msgpack.packb(data)


def test_a_well_formed_format_3_chunk_reads():
    assert load(_chunk_blob())["columns"][0] == [element_id(7, 0), element_id(7, 1)]


@pytest.mark.parametrize(("changes", "says"), [
    ({"v": 99}, "unknown format 99"),
    ({"n": -1}, "invalid row count"),
    ({"columns": [[]] * 3}, "3 columns, not 9"),
    ({"columns": [{"id_base": 7}, ["a", "b"], ["t", "t"], {"i8": b"\0" * 15}, *[["x", "y"]] * 5]},
     "15 bytes of map_index for 2 runs"),
    ({"columns": [{"id_base": -1}, *[["x", "y"]] * 8]}, "id column this legato cannot read"),
    ({"columns": [{"id_base": 7}, *[["x", "y"]] * 8]}, "derives its ids from map indexes it does not hold"),
    ({"columns": [["a"], *[["x", "y"]] * 8]}, "1 id values for 2 runs"),
    ({"errors": [1]}, "errors of type list"),
])  # fmt: skip
def test_a_damaged_or_foreign_chunk_is_refused_saying_what_is_wrong(changes, says):
    with pytest.raises(UnreadableChunk, match=says):
        load(_chunk_blob(**changes))


def test_bytes_that_are_not_msgpack_are_refused():
    with pytest.raises(UnreadableChunk, match="damaged \\(not valid msgpack"):
        load(b"\xc1 not msgpack")


@task(tags=["heavy"])
def tagged_square(x: int) -> int:
    return x * x


def test_a_maps_elements_made_under_tags_are_recorded_with_them(monkeypatch):
    from legato import tags

    monkeypatch.setenv("LEGATO_HISTORY", "0")
    kept: list = []

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def mapped() -> None:
        with tags("nightly"):
            futures = tagged_square.map(range(20))
        futures.wait()
        kept.extend(f.task_run for f in futures)

    mapped()
    assert shared_identity(kept).tags == {"heavy", "nightly"}
    _, _, recorded_tags = _task_rows(kept)
    assert recorded_tags == {i: ["heavy", "nightly"] for i in range(20)}


def test_a_chunk_of_format_2_still_reads():
    """Format 2 (lists and constant columns) is what the previous legato wrote."""
    blob = msgpack.packb({"v": 2, "n": 2, "columns": [
        ["a", "b"], ["t-0", "t-1"], {"all": "t"}, [0, 1], {"all": "COMPLETED"}, {"all": "Completed"}, {"all": 1},
        [1.0, 2.0], [1.5, 2.5],
    ], "errors": {}, "tags": {1: ["x"]}, "edges": [["a", "b"]]})  # fmt: skip
    runs, chunk_edges = unpack(blob)
    assert [(r["id"], r["name"], r["ended_at"], r["tags"]) for r in runs] == [
        ("a", "t-0", 1.5, []), ("b", "t-1", 2.5, ["x"])]
    assert chunk_edges == [("a", "b")]
