"""The results manager, driven by hand the way the engine drives it."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import threading
import uuid
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pytest
from results_support import TouchOnLoad, make_flow, make_manager, record_files, run_info, run_task

from legato import task
from legato.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE
from legato.results import ResultsManager, render_run_key
from legato.results.records import decode_record, encode_record
from legato.results.signing import signing_key
from legato.serializers import get_serializer

class _Calls(list):  # type: ignore[type-arg]
    """What the tasks here were called with. Not a plain list: TASK_SOURCE hashes plain-data
    globals a task reads, and this one changes on every call."""


calls = _Calls()


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


@task(persist_result=True)
def persisted(x: int) -> int:
    calls.append(x)
    return x * 10


@task(cache_policy=INPUTS)
def by_inputs(x: Any) -> str:
    calls.append(x)
    return f"value-{len(calls)}"


@task
def plain(x: int) -> int:
    calls.append(x)
    return x + 1


# -- who persists --------------------------------------------------------------


def test_plain_tasks_are_not_wanted_unless_something_asks_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not make_manager().wants(plain)
    assert make_manager().wants(persisted) and make_manager().wants(by_inputs)
    assert make_manager(run_key="k").wants(plain)
    assert make_manager(make_flow(persist_result=True)).wants(plain)
    assert make_manager(make_flow(result_storage="memory://x")).wants(plain)
    assert not make_manager(run_key="k").wants(plain.with_options(persist_result=False))
    monkeypatch.setenv("LEGATO_PERSIST_RESULTS", "1")
    assert make_manager().wants(plain)


def test_wants_is_decided_once_per_task_object() -> None:
    manager = make_manager()
    assert manager.wants(persisted)
    persisted_plan = manager._plans[id(persisted)]
    assert manager.wants(persisted) and manager._plans[id(persisted)] is persisted_plan


# -- caching -------------------------------------------------------------------


def test_default_policy_reuses_results_within_one_flow_run_only() -> None:
    manager = make_manager()
    assert run_task(manager, persisted, 3) == ("ran", 30)
    assert run_task(manager, persisted, 3) == ("cached", 30)
    assert run_task(manager, persisted, 4) == ("ran", 40)
    assert run_task(make_manager(), persisted, 3) == ("ran", 30)  # another flow run: RUN_ID differs
    assert calls == [3, 4, 3]


def test_inputs_policy_reuses_results_across_flow_runs() -> None:
    assert run_task(make_manager(), by_inputs, 1) == ("ran", "value-1")
    assert run_task(make_manager(), by_inputs, 1) == ("cached", "value-1")
    assert run_task(make_manager(), by_inputs, 2) == ("ran", "value-2")


def test_two_tasks_with_the_same_inputs_do_not_share_records() -> None:
    @task(cache_policy=INPUTS)
    def other(x: Any) -> str:
        return "other"

    run_task(make_manager(), by_inputs, 1)
    assert run_task(make_manager(), other, 1) == ("ran", "other")


def test_excluded_inputs_do_not_change_the_key() -> None:
    @task(cache_policy=INPUTS - "session")
    def fetch(url: str, session: Any) -> str:
        calls.append(url)
        return url.upper()

    assert run_task(make_manager(), fetch, "a", session=threading.Lock()) == ("ran", "A")
    assert run_task(make_manager(), fetch, "a", session=threading.Lock()) == ("cached", "A")


def test_cache_key_fn_names_the_record(results_root: Path) -> None:
    @task(cache_key_fn=lambda context, parameters: f"squares/{parameters['x']}")
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert run_task(make_manager(), square, 4) == ("ran", 16)
    assert run_task(make_manager(), square, 4) == ("cached", 16)
    assert (results_root / "squares" / "4").is_file()
    assert run_task(make_manager(), square.with_options(cache_key_fn=lambda c, p: None), 4) == ("ran", 16)


def test_cache_key_fn_sees_the_task_run_and_flow_run() -> None:
    seen = []

    def key_fn(context: Any, parameters: dict[str, Any]) -> str:
        seen.append((context.task.name, context.task_run.name, context.flow_run_id, context.flow_parameters))
        return "k"

    manager = make_manager(parameters={"day": 1})
    run_task(manager, plain.with_options(cache_key_fn=key_fn), 1, name="plain-7")
    assert seen == [("plain", "plain-7", manager.flow_run.id, {"day": 1})]


def test_task_source_separates_tasks_with_different_closures() -> None:
    def make(offset: int) -> Any:
        @task(cache_policy=INPUTS + TASK_SOURCE)
        def shift(x: int) -> int:
            calls.append(offset)
            return x + offset

        return shift

    assert run_task(make_manager(), make(1), 10) == ("ran", 11)
    assert run_task(make_manager(), make(2), 10) == ("ran", 12)
    assert run_task(make_manager(), make(1), 10) == ("cached", 11)


def test_unhashable_inputs_warn_and_are_not_cached(warnings_log: pytest.LogCaptureFixture, results_root: Path) -> None:
    lock = threading.Lock()
    manager = make_manager()
    assert run_task(manager, by_inputs, lock) == ("ran", "value-1")
    assert run_task(manager, by_inputs, lock) == ("ran", "value-2")
    assert record_files(results_root) == []
    assert len([r for r in warnings_log.records if "not cached" in r.getMessage()]) == 1  # once per task


def test_numpy_and_pandas_inputs_hash_by_content() -> None:
    assert run_task(make_manager(), by_inputs, np.arange(5))[0] == "ran"
    assert run_task(make_manager(), by_inputs, np.arange(5).copy())[0] == "cached"
    assert run_task(make_manager(), by_inputs, np.arange(1, 6))[0] == "ran"
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert run_task(make_manager(), by_inputs, frame)[0] == "ran"
    assert run_task(make_manager(), by_inputs, frame.copy())[0] == "cached"
    assert run_task(make_manager(), by_inputs, frame.assign(b=["x", "z"]))[0] == "ran"


def test_expired_records_are_misses() -> None:
    expiring = by_inputs.with_options(cache_expiration=dt.timedelta(seconds=60))
    first = make_manager()
    first.clock = lambda: 1_000.0
    run_task(first, expiring, 1)
    later = make_manager()
    later.clock = lambda: 1_059.0
    assert run_task(later, expiring, 1)[0] == "cached"
    later.clock = lambda: 1_060.0
    assert run_task(later, expiring, 1)[0] == "ran"


def test_refresh_cache_recomputes_and_overwrites() -> None:
    run_task(make_manager(), by_inputs, 1)
    assert run_task(make_manager(), by_inputs.with_options(refresh_cache=True), 1) == ("ran", "value-2")
    assert run_task(make_manager(), by_inputs, 1) == ("cached", "value-2")


def test_refresh_cache_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    run_task(make_manager(), by_inputs, 1)
    monkeypatch.setenv("LEGATO_REFRESH_CACHE", "true")
    assert run_task(make_manager(), by_inputs, 1)[0] == "ran"


def test_persist_result_false_turns_caching_off() -> None:
    """(The task warns when it is made, as Prefect's does: tests/porting/test_parity_attributes.py.)"""
    manager = make_manager()
    assert not manager.wants(by_inputs.with_options(persist_result=False))


# -- storage, serializers, keys ----------------------------------------------


def test_result_storage_key_is_formatted_from_parameters_and_run_names() -> None:
    named = plain.with_options(result_storage_key="out/{x}/{parameters[x]}-{task_run.name}.pkl",
                               result_storage=f"memory://{uuid.uuid4().hex}")
    manager = make_manager()
    assert run_task(manager, named, 5, name="plain-0") == ("ran", 6)
    fs = fsspec.filesystem("memory")
    assert fs.exists(f"{named.result_storage}/out/5/5-plain-0.pkl")
    assert run_task(make_manager(), named, 5, name="plain-0") == ("cached", 6)


def test_no_cache_with_a_storage_key_writes_but_never_reads(results_root: Path) -> None:
    write_only = plain.with_options(result_storage_key="latest", cache_policy=NO_CACHE)
    assert run_task(make_manager(), write_only, 1) == ("ran", 2)
    assert run_task(make_manager(), write_only, 2) == ("ran", 3)
    record = decode_record((results_root / "latest").read_bytes(), expected_key="latest", signing_key=signing_key)
    assert get_serializer(record.serializer).loads(record.payload) == 3


def test_fsspec_memory_storage_round_trips() -> None:
    storage = f"memory://{uuid.uuid4().hex}/results"
    on_memory = by_inputs.with_options(result_storage=storage)
    assert run_task(make_manager(), on_memory, 1)[0] == "ran"
    assert run_task(make_manager(), on_memory, 1)[0] == "cached"
    assert fsspec.filesystem("memory").find(storage)


@pytest.mark.parametrize("serializer", ["json", "msgpack", "pickle", "compressed/cloudpickle"])
def test_any_serializer_round_trips(serializer: str) -> None:
    chosen = by_inputs.with_options(result_serializer=serializer)
    assert run_task(make_manager(), chosen, 1) == ("ran", "value-1")
    assert run_task(make_manager(), chosen, 1) == ("cached", "value-1")


def test_flow_options_are_the_tasks_defaults(tmp_path: Path) -> None:
    flow = make_flow(persist_result=True, result_storage=str(tmp_path / "flow-store"), result_serializer="json")
    manager = make_manager(flow)
    run_task(manager, plain, 1)
    assert run_task(manager, plain, 1) == ("cached", 2)
    [path] = record_files(tmp_path / "flow-store")
    assert b'"serializer":"json"' in path.read_bytes()


def test_a_value_that_cannot_be_serialized_is_not_stored(warnings_log: pytest.LogCaptureFixture,
                                                         results_root: Path) -> None:
    @task(cache_policy=INPUTS, result_serializer="json")
    def make_lock(x: int) -> Any:
        return threading.Lock()

    assert run_task(make_manager(), make_lock, 1)[0] == "ran"
    assert record_files(results_root) == []
    assert "not stored" in warnings_log.text


# -- damaged and hostile records ---------------------------------------------


def _only_record(root: Path) -> Path:
    [path] = record_files(root)
    return path


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_damaged_records_are_misses_with_a_warning(damage: str, results_root: Path,
                                                   warnings_log: pytest.LogCaptureFixture) -> None:
    run_task(make_manager(), by_inputs, 1)
    path = _only_record(results_root)
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "flip": data[:-40] + bytes([data[-40] ^ 1]) + data[-39:],
               "empty": b"", "garbage": os.urandom(200)}[damage]
    path.write_bytes(damaged)
    assert run_task(make_manager(), by_inputs, 1) == ("ran", "value-2")
    assert "ignoring stored result" in warnings_log.text
    assert run_task(make_manager(), by_inputs, 1) == ("cached", "value-2")  # the rerun repaired it


def test_a_forged_pickle_record_is_refused_before_unpickling(tmp_path: Path, results_root: Path,
                                                             warnings_log: pytest.LogCaptureFixture) -> None:
    marker = tmp_path / "pwned"
    run_task(make_manager(), by_inputs, 1)
    path = _only_record(results_root)
    key = path.relative_to(results_root).as_posix()
    serializer = get_serializer("cloudpickle")
    path.write_bytes(encode_record(key, serializer, pickle.dumps(TouchOnLoad(marker)), created=0.0, expires=None,
                                   signing_key=lambda: b"not the real key"))
    assert run_task(make_manager(), by_inputs, 1)[0] == "ran"
    assert not marker.exists()
    assert "signature does not match" in warnings_log.text


def test_records_signed_with_a_shared_key_are_read_by_another_home(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    shared = f"memory://{uuid.uuid4().hex}"
    on_shared = by_inputs.with_options(result_storage=shared)
    monkeypatch.setenv("LEGATO_RESULTS_KEY", "team secret")
    run_task(make_manager(), on_shared, 1)
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path / "other-home"))
    assert run_task(make_manager(), on_shared, 1)[0] == "cached"
    monkeypatch.setenv("LEGATO_RESULTS_KEY", "another secret")
    assert run_task(make_manager(), on_shared, 1)[0] == "ran"


# -- failures never fail the task --------------------------------------------


def test_a_write_that_dies_midway_leaves_no_record(results_root: Path, monkeypatch: pytest.MonkeyPatch,
                                                   warnings_log: pytest.LogCaptureFixture) -> None:
    def crash(fd: int) -> None:
        raise OSError("disk on fire")

    manager = make_manager()
    manager.wants(by_inputs)
    signing_key()  # the key file is written before the crash is armed
    monkeypatch.setattr(os, "fsync", crash)
    assert run_task(manager, by_inputs, 1)[0] == "ran"
    assert "could not store" in warnings_log.text
    monkeypatch.undo()
    assert list(results_root.rglob("*")) == [] or record_files(results_root) == []
    assert not [p for p in results_root.rglob("*.tmp")]
    assert run_task(make_manager(), by_inputs, 1)[0] == "ran"


def test_a_broken_storage_is_a_miss_and_a_skipped_write(warnings_log: pytest.LogCaptureFixture) -> None:
    from legato.results.storage import ResultStorage

    class Broken(ResultStorage):
        def read(self, key: str) -> bytes | None:
            raise ConnectionError("bucket unreachable")

        def write(self, key: str, data: bytes) -> None:
            raise ConnectionError("bucket unreachable")

    assert run_task(make_manager(), by_inputs.with_options(result_storage=Broken()), 1) == ("ran", "value-1")
    assert "failed; running it" in warnings_log.text and "could not store" in warnings_log.text


def test_bad_options_turn_results_off_with_one_warning(warnings_log: pytest.LogCaptureFixture) -> None:
    manager = make_manager()
    bad = by_inputs.with_options(result_serializer="no-such-serializer")
    assert not manager.wants(bad) and not manager.wants(bad)
    assert warnings_log.text.count("invalid result options") == 1


# -- run keys ------------------------------------------------------------------


def test_render_run_key() -> None:
    assert render_run_key(None, {}) is None
    assert render_run_key("fixed", {"x": 1}) == "fixed"
    assert render_run_key("{source}-{day}", {"source": "s3", "day": 4}) == "s3-4"
    assert render_run_key(lambda day: f"d{day}", {"day": 4, "other": 1}) == "d4"
    assert render_run_key(lambda **p: None, {"day": 4}) is None
    with pytest.raises(ValueError, match="missing"):
        render_run_key("{missing}", {"day": 4})
    with pytest.raises(ValueError):
        render_run_key(lambda: " ", {})
    with pytest.raises(TypeError):
        render_run_key(3, {})  # type: ignore[arg-type]


def test_a_run_key_resumes_completed_task_runs(results_root: Path) -> None:
    first = make_manager(run_key="batch-1")
    assert [run_task(first, plain, i)[0] for i in range(3)] == ["ran"] * 3
    again = make_manager(run_key="batch-1")
    assert [run_task(again, plain, i) for i in range(4)] == [("cached", 1), ("cached", 2), ("cached", 3), ("ran", 4)]
    assert [run_task(make_manager(run_key="batch-2"), plain, 0)[0]] == ["ran"]
    assert calls == [0, 1, 2, 3, 0]
    assert all(p.relative_to(results_root).parts[:4] == ("runs", "my-flow", "batch-1", "plain")
               for p in record_files(results_root) if "batch-1" in str(p))


def test_a_run_key_from_the_flow_option_is_rendered_from_parameters() -> None:
    flow = make_flow(run_key="{day}")
    manager = make_manager(flow, parameters={"day": "monday"})
    assert manager.run_key == "monday" and manager.flow_run.run_key == "monday"


def test_run_key_records_fall_back_to_the_task_run_name_for_unhashable_inputs(
        warnings_log: pytest.LogCaptureFixture) -> None:
    @task
    def use(lock: Any, n: int) -> int:
        calls.append(n)
        return n

    lock = threading.Lock()
    run_task(make_manager(run_key="k"), use, lock, 1, name="use-0")
    assert run_task(make_manager(run_key="k"), use, lock, 1, name="use-0")[0] == "cached"
    assert run_task(make_manager(run_key="k"), use, lock, 2, name="use-1")[0] == "ran"
    assert "by task run name" in warnings_log.text


def test_a_run_key_and_a_cache_policy_both_apply(results_root: Path) -> None:
    run_task(make_manager(run_key="k"), by_inputs, 1)
    assert len(record_files(results_root)) == 2
    assert run_task(make_manager(), by_inputs, 1)[0] == "cached"  # via the INPUTS record


def test_a_task_that_refuses_persistence_reruns_under_a_run_key() -> None:
    volatile = plain.with_options(persist_result=False)
    run_task(make_manager(run_key="k"), volatile, 1)
    assert run_task(make_manager(run_key="k"), volatile, 1)[0] == "ran"


def test_mapped_runs_are_stored_one_by_one() -> None:
    manager = make_manager(run_key="map")
    infos = [run_info(manager, plain, map_index=i) for i in range(5)]
    for i, info in enumerate(infos[:3]):  # a crash after three of five
        manager.store(plain, info, {"x": i}, i + 1)
    again = make_manager(run_key="map")
    hits = [again.lookup(plain, run_info(again, plain, map_index=i), {"x": i}) for i in range(5)]
    assert hits == [(True, 1), (True, 2), (True, 3), (False, None), (False, None)]


def test_for_flow_run_always_returns_a_manager() -> None:
    flow_run = make_manager().flow_run
    assert isinstance(ResultsManager.for_flow_run(make_flow(), flow_run), ResultsManager)
    assert isinstance(ResultsManager.for_flow_run(None, flow_run), ResultsManager)
