"""Records read and written on a worker (legato.results.remote), without a cluster."""

from __future__ import annotations

import pickle
from pathlib import Path

from results_support import make_flow, make_manager, run_info

from legato import task
from legato.results.remote import WorkerRecords, shared_storage
from legato.results.storage import resolve_storage
from legato.serializers import get_serializer


@task
def square(i: int) -> int:
    return i * i


def test_a_missed_lookup_hands_its_records_to_the_worker_which_writes_and_reads_them(results_root: Path) -> None:
    manager = make_manager(make_flow(), run_key="remote")
    info = run_info(manager, square)
    parameters = square.bind((3,), {})
    assert manager.lookup(square, info, parameters) == (False, None)
    records = manager.worker_records(square, info.id)
    assert isinstance(records, WorkerRecords)
    records = pickle.loads(pickle.dumps(records))  # it travels to the worker
    assert records.read() == (False, None)
    records.write(9)
    assert records.read() == (True, 9)
    # the flow process reads what the worker wrote, as any record
    again = make_manager(make_flow(), run_key="remote")
    assert again.lookup(square, run_info(again, square), parameters) == (True, 9)


def test_no_records_for_runs_that_did_not_miss_or_do_not_persist() -> None:
    manager = make_manager(make_flow())
    assert manager.worker_records(square, "never-looked-up") is None


def test_a_worker_never_reads_a_record_it_cannot_trust(results_root: Path) -> None:
    storage = resolve_storage(str(results_root))
    records = WorkerRecords(storage, ("a/b",), ("a/b",), get_serializer("cloudpickle"), None)
    storage.write("a/b", b"LGRS garbage")
    assert records.read() == (False, None)


def test_only_storages_the_workers_share() -> None:
    assert shared_storage(resolve_storage("/tmp/somewhere"))
    assert not shared_storage(resolve_storage("memory://results"))
