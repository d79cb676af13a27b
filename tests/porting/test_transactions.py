"""Prefect 3's transactions on legato: each test names the Prefect behaviour it pins.

The behaviours were read from Prefect 3.x (``prefect/transactions.py``, its
task engine) and checked by running the same programs on Prefect; where
legato differs on purpose the test says so (README "Coming from Prefect 3").
Records are real files under ``LEGATO_HOME``; the file lock manager is
tested across real processes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from legato import flow, task
from legato.cache_policies import INPUTS
from legato.core.errors import ConfigurationError
from legato.locking import FileSystemLockManager, LockManager, MemoryLockManager
from legato.results import LocalStorage
from legato.transactions import (
    CommitMode,
    IsolationLevel,
    Transaction,
    TransactionState,
    atransaction,
    get_transaction,
    transaction,
)


def _tasks(log):
    """``a`` persists (cache policy INPUTS), ``b`` does not; both log their hooks."""

    @task(cache_policy=INPUTS)
    def a(x):
        log.append(("a ran", x))
        return x

    @a.on_commit
    def a_commit(txn):
        log.append(("a commit",))

    @a.on_rollback
    def a_rollback(txn):
        log.append(("a rollback",))

    @task
    def b(x):
        log.append(("b ran", x))
        return x

    @b.on_commit
    def b_commit(txn):
        log.append(("b commit", txn.get("x", None)))

    @b.on_rollback
    def b_rollback(txn):
        log.append(("b rollback", txn.get("x", None)))

    return a, b


@task
def boom():
    raise RuntimeError("boom")


def _records(home: Path) -> list[str]:
    root = home / "results"
    return sorted(p.name for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")) if root.exists() else []


# ---------------------------------------------------------------------- commit and rollback


def test_task_runs_commit_when_the_block_ends_records_written_after_commit_hooks(legato_home, runner):
    """Prefect: a task run in a transaction stages its record; nothing is written during the block;
    at the end its on_commit hooks run in completion order, then its record is written."""
    log = []
    a, b = _tasks(log)

    @a.on_commit
    def records_at_commit(txn):
        log.append(("records at a's commit", _records(legato_home)))

    @flow(task_runner=runner)
    def pipeline():
        with transaction() as txn:
            a(1)
            b.submit(2).result()
            log.append(("records during", _records(legato_home)))
            log.append(("state during", txn.state))
        return txn

    txn = pipeline()
    assert txn.state is TransactionState.COMMITTED
    assert log == [("a ran", 1), ("b ran", 2), ("records during", []), ("state during", TransactionState.ACTIVE),
                   ("a commit",), ("records at a's commit", []), ("b commit", None)]
    assert len(_records(legato_home)) == 1  # a's record, written at commit
    assert [child.state for child in txn.children] == [TransactionState.COMMITTED] * 2


def test_a_failed_task_rolls_back_the_runs_that_completed_last_first_before_the_flow_sees_it(legato_home):
    """Prefect: when a task run fails, the transaction rolls back at once: the on_rollback hooks of
    the task runs that completed in it run in reverse order, before the error reaches the flow; no
    record of the rolled-back runs is written."""
    log = []
    a, b = _tasks(log)

    @flow
    def pipeline():
        try:
            with transaction() as txn:
                a(10)
                b(20)
                boom()
        except RuntimeError as error:
            log.append(("flow caught", str(error), txn.state))

    pipeline()
    assert log == [("a ran", 10), ("b ran", 20), ("b rollback", None), ("a rollback",),
                   ("flow caught", "boom", TransactionState.ROLLED_BACK)]
    assert _records(legato_home) == []


def test_a_failed_state_rolls_back_and_a_run_completing_afterwards_is_undone_too(legato_home):
    """Prefect: ``boom(return_state=True)`` rolls the transaction back without raising.
    legato (on purpose): a run that completes in a transaction already rolled back is rolled back
    as it completes (its on_rollback hooks run); Prefect runs no hook for it."""
    log = []
    _, b = _tasks(log)

    @flow
    def pipeline():
        with transaction() as txn:
            b(21)
            state = boom(return_state=True)
            log.append(("after failed state", state.type.value, txn.state))
            b(22)
        log.append(("end", txn.state))

    pipeline()
    assert log == [("b ran", 21), ("b rollback", None), ("after failed state", "FAILED", TransactionState.ROLLED_BACK),
                   ("b ran", 22), ("b rollback", None), ("end", TransactionState.ROLLED_BACK)]


def test_a_retry_that_succeeds_rolls_nothing_back(legato_home):
    """legato (on purpose): only a task run's final state counts; Prefect 3 rolls the transaction
    back on the first failed attempt even when a retry then succeeds."""
    log = []
    _, b = _tasks(log)
    attempts = []

    @task(retries=1)
    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first attempt")
        return "ok"

    @flow
    def pipeline():
        with transaction() as txn:
            b(30)
            flaky()
        return txn.state

    assert pipeline() is TransactionState.COMMITTED
    assert log == [("b ran", 30), ("b commit", None)]


def test_an_exception_in_the_block_rolls_back_and_goes_on(legato_home):
    """Prefect: an exception raised in the block rolls the transaction back and is re-raised."""
    log = []
    _, b = _tasks(log)

    @flow
    def pipeline():
        with transaction() as txn:
            b(1)
            raise KeyError("mine")

    with pytest.raises(KeyError):
        pipeline()
    assert log == [("b ran", 1), ("b rollback", None)]


def test_a_failing_commit_hook_rolls_back_only_its_own_run(legato_home, caplog):
    """Prefect: an on_commit hook that raises is logged and rolls back that task run (its on_rollback
    hooks run); the other runs still commit and the transaction ends COMMITTED."""
    log = []
    _, b = _tasks(log)

    @task
    def fragile(x):
        return x

    @fragile.on_commit
    def refuses(txn):
        raise RuntimeError("commit hook fails")

    @fragile.on_rollback
    def fragile_rollback(txn):
        log.append(("fragile rollback",))

    @flow
    def pipeline():
        with transaction() as txn:
            b(8)
            fragile(9)
            b(10)
        return txn

    txn = pipeline()
    assert log == [("b ran", 8), ("b ran", 10), ("b commit", None), ("fragile rollback",), ("b commit", None)]
    assert txn.state is TransactionState.COMMITTED
    assert [c.state for c in txn.children] == [TransactionState.COMMITTED, TransactionState.ROLLED_BACK,
                                               TransactionState.COMMITTED]
    assert "commit hook fails" in caplog.text or "refuses" in caplog.text


def test_a_cached_run_joins_committed_and_runs_no_hooks(legato_home):
    """Prefect: a task run whose record exists is Cached; in a transaction it stages nothing, so
    neither its on_commit nor its on_rollback hooks run."""
    log = []
    a, _ = _tasks(log)

    @flow
    def pipeline(fail: bool):
        with transaction() as txn:
            state = a(5, return_state=True)
            if fail:
                boom(return_state=True)
        return state.name, txn.state

    assert pipeline(False) == ("Completed", TransactionState.COMMITTED)
    log.clear()
    assert pipeline(True) == ("Cached", TransactionState.ROLLED_BACK)
    assert log == []


# ---------------------------------------------------------------------- commit modes, nesting, keys


def test_commit_mode_off_rolls_back_at_the_end(legato_home):
    """Prefect: ``CommitMode.OFF`` never commits: the outermost transaction rolls back when the block ends."""
    log = []
    _, b = _tasks(log)

    @flow
    def pipeline():
        with transaction(commit_mode=CommitMode.OFF) as txn:
            b(50)
        return txn.state

    assert pipeline() is TransactionState.ROLLED_BACK
    assert log == [("b ran", 50), ("b rollback", None)]


def test_an_eager_nested_transaction_commits_when_its_block_ends(legato_home):
    """Prefect: a nested ``CommitMode.EAGER`` transaction commits at the end of its own block; a LAZY
    one waits for the outermost."""
    log = []
    _, b = _tasks(log)

    @flow
    def pipeline():
        with transaction() as outer:
            with transaction(commit_mode=CommitMode.EAGER) as inner:
                b(4)
            log.append(("inner", inner.state))
            with transaction() as lazy:
                b(5)
            log.append(("lazy", lazy.state))
        return outer.state, lazy.state

    assert pipeline() == (TransactionState.COMMITTED, TransactionState.COMMITTED)
    assert log == [("b ran", 4), ("b commit", None), ("inner", TransactionState.COMMITTED), ("b ran", 5),
                   ("lazy", TransactionState.ACTIVE), ("b commit", None)]


def test_a_nested_rollback_rolls_back_the_parent_even_when_caught(legato_home):
    """Prefect: a nested transaction that rolls back rolls its parent back when it ends, even if the
    exception is caught between them; runs completing later are not committed."""
    log = []
    _, b = _tasks(log)

    @flow
    def pipeline():
        with transaction() as outer:
            b(1)
            try:
                with transaction() as inner:
                    b(2)
                    raise ValueError("inner")
            except ValueError:
                log.append(("caught", inner.state, outer.state))
        return outer.state

    assert pipeline() is TransactionState.ROLLED_BACK
    assert log == [("b ran", 1), ("b ran", 2), ("b rollback", None), ("b rollback", None),
                   ("caught", TransactionState.ROLLED_BACK, TransactionState.ROLLED_BACK)]


def test_a_key_writes_a_record_and_a_transaction_on_an_existing_record_starts_committed(legato_home):
    """Prefect: ``transaction(key=...)`` writes a record at its key (in the run's result store) on
    commit; entering it again finds the record and starts COMMITTED: its tasks run, but nothing is
    committed again (no hooks); ``overwrite=True`` ignores the record."""
    log = []
    _, b = _tasks(log)

    @flow
    def pipeline(overwrite: bool = False):
        with transaction(key="load-2026-11-20", overwrite=overwrite) as txn:
            log.append(("committed on entry", txn.is_committed()))
            txn.stage({"rows": 3})
            b(60)
        return txn

    assert pipeline().state is TransactionState.COMMITTED
    assert (legato_home / "results" / "load-2026-11-20").is_file()
    again = pipeline()
    assert again.read().result == {"rows": 3}
    pipeline(overwrite=True)
    assert log == [("committed on entry", False), ("b ran", 60), ("b commit", None),
                   ("committed on entry", True), ("b ran", 60),
                   ("committed on entry", False), ("b ran", 60), ("b commit", None)]


def test_a_record_that_is_not_signed_does_not_commit_a_transaction(legato_home):
    """legato: a transaction record is a signed result record; a forged file at the key is ignored."""
    (legato_home / "results").mkdir(parents=True)
    (legato_home / "results" / "forged").write_bytes(b"LGRS\x01" + b"\x00" * 64)
    with transaction(key="forged") as txn:
        assert not txn.is_committed()
    assert txn.read() is not None  # rewritten, signed


# ---------------------------------------------------------------------- values and context


def test_a_task_body_sees_its_own_transaction_and_its_hooks_see_what_it_set(legato_home, runner):
    """Prefect: inside a task body ``get_transaction()`` is the task run's own transaction; values it
    sets there are seen by its hooks, and ``get`` falls back to the enclosing transaction."""
    seen = []

    @task
    def setter(x):
        txn = get_transaction()
        seen.append(("body", txn.get("outer"), txn is not outer_txn[0]))
        txn.set("x", x)
        return x

    @setter.on_commit
    def show(txn):
        seen.append(("commit hook", txn.get("x"), txn.get("outer")))

    outer_txn = []

    @flow(task_runner=runner)
    def pipeline():
        with transaction() as outer:
            outer_txn.append(outer)
            outer.set("outer", "O")
            assert get_transaction() is outer
            setter.submit(7).result()
        assert get_transaction() is None

    pipeline()
    assert seen == [("body", "O", True), ("commit hook", 7, "O")]


def test_get_and_set_as_prefect(legato_home):
    """Prefect: ``get`` of an unknown name raises ValueError unless a default is given, and returns a
    copy (mutating it does not change the stored value until ``set``)."""
    with transaction() as txn:
        with pytest.raises(ValueError, match="unknown key: nope"):
            txn.get("nope")
        assert txn.get("nope", 5) == 5
        txn.set("rows", [1])
        txn.get("rows").append(2)
        assert txn.get("rows") == [1]
        with transaction() as child:
            assert child.get("rows") == [1] and child.get_parent() is txn


def test_transactions_work_outside_a_flow_and_with_task_options(legato_home):
    """Prefect: ``on_commit=``/``on_rollback=`` are task options (kept by ``with_options``), and a task
    called outside any flow takes part in the transaction around it."""
    log = []

    def committed(txn):
        log.append("committed")

    def rolled_back(txn):
        log.append("rolled back")

    step = task(lambda: 1, name="step", on_commit=[committed], on_rollback=[rolled_back]).with_options(retries=0)
    with transaction():
        step()
    with pytest.raises(KeyError):
        with transaction():
            step()
            raise KeyError("x")
    assert log == ["committed", "rolled back"]


def test_the_block_ends_after_the_runs_submitted_in_it(legato_home):
    """legato (Prefect leaves it unsaid): leaving the block waits for the task runs submitted in it,
    so they commit with it even when nobody asked for their results."""
    log = []
    _, b = _tasks(log)
    release = threading.Event()

    @task
    def slow():
        assert release.wait(10)
        return 1

    @slow.on_commit
    def slow_commit(txn):
        log.append(("slow commit",))

    @flow(task_runner="threads")
    def pipeline():
        with transaction() as txn:
            slow.submit()
            threading.Timer(0.05, release.set).start()
        return txn.state

    assert pipeline() is TransactionState.COMMITTED
    assert log == [("slow commit",)]


def test_atransaction_is_the_same_transaction(legato_home):
    """Prefect: ``async with atransaction()`` commits and rolls back like ``transaction()``."""
    log = []

    async def main():
        async with atransaction() as txn:
            txn.stage(None, on_commit_hooks=[lambda t: log.append("commit")])
        with pytest.raises(KeyError):
            async with atransaction():
                get_transaction().stage(None, on_rollback_hooks=[lambda t: log.append("rollback")])
                raise KeyError
        return txn.state

    assert asyncio.run(main()) is TransactionState.COMMITTED
    assert log == ["commit", "rollback"]


# ---------------------------------------------------------------------- processes


def test_on_a_process_pool_hooks_run_in_the_flow_process_and_records_wait_for_commit(legato_home):
    """legato: on worker processes a task's commit and rollback hooks run in the flow's process once
    its result is back; records are written at commit only (a rolled-back element leaves none)."""
    from legato.task_runners import ProcessPoolTaskRunner

    log = []

    @task(result_storage_key="square-{x}")
    def square(x):
        if x < 0:
            raise ValueError("negative")
        return x * x, os.getpid(), get_transaction() is None

    square.on_commit(lambda txn: log.append(("commit", os.getpid())))
    square.on_rollback(lambda txn: log.append(("rollback", os.getpid())))

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def pipeline(xs):
        with transaction():
            futures = square.map(xs)
            futures.wait()
        return [(f.state.type.value, f.state.result(raise_on_failure=False)) for f in futures]

    outcomes = pipeline([2, 3])
    assert all(kind == "COMPLETED" and pid != os.getpid() and no_txn for kind, (_, pid, no_txn) in outcomes)
    assert log == [("commit", os.getpid())] * 2
    assert _records(legato_home) == ["square-2", "square-3"]
    log.clear()
    assert [kind for kind, _ in pipeline([4, -1])] == ["COMPLETED", "FAILED"]
    assert log == [("rollback", os.getpid())]  # square-4 is undone, whichever finished first
    assert "square-4" not in _records(legato_home)


# ---------------------------------------------------------------------- isolation and locks


def test_serializable_transactions_on_one_key_run_one_after_the_other(legato_home, tmp_path):
    """Prefect: SERIALIZABLE locks the key from entry to commit; the second transaction waits, then
    finds the first one's record and starts committed."""
    store = LocalStorage(tmp_path / "store").with_options(lock_manager=MemoryLockManager())
    order = []
    inside = threading.Event()

    def worker(name):
        with transaction(key="serial", store=store, isolation_level=IsolationLevel.SERIALIZABLE) as txn:
            order.append((name, "in", txn.is_committed()))
            inside.set()
            if name == "A":
                assert not second_entered.wait(0.2)  # B cannot enter while A holds the key
            order.append((name, "out"))

    second_entered = threading.Event()
    first = threading.Thread(target=worker, args=("A",))
    first.start()
    assert inside.wait(10)

    def second():
        with transaction(key="serial", store=store, isolation_level="SERIALIZABLE") as txn:
            second_entered.set()
            order.append(("B", "in", txn.is_committed()))

    other = threading.Thread(target=second)
    other.start()
    first.join(10)
    other.join(10)
    assert order == [("A", "in", False), ("A", "out"), ("B", "in", True)]
    assert not MemoryLockManager().is_locked("serial")


def test_serializable_needs_a_lock_manager(legato_home, tmp_path):
    """Prefect: SERIALIZABLE on a store without a lock manager is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="lock manager"):
        with transaction(key="k", store=LocalStorage(tmp_path), isolation_level=IsolationLevel.SERIALIZABLE):
            pass
    with transaction(isolation_level=IsolationLevel.SERIALIZABLE):  # no key: nothing to lock
        pass


def test_memory_lock_manager_as_prefect():
    """Prefect: ``MemoryLockManager()`` is one instance per process; a holder re-acquires its own lock;
    another waits (``acquire_timeout`` bounds it), releasing a lock one does not hold is a ValueError,
    and ``hold_timeout`` frees a lock by itself."""
    manager = MemoryLockManager()
    assert manager is MemoryLockManager() and isinstance(manager, LockManager)
    assert manager.acquire_lock("m", "h1") and manager.acquire_lock("m", "h1")
    assert not manager.acquire_lock("m", "h2", acquire_timeout=0)
    assert manager.is_locked("m") and manager.is_lock_holder("m", "h1") and not manager.is_lock_holder("m", "h2")
    with pytest.raises(ValueError):
        manager.release_lock("m", "h2")
    manager.release_lock("m", "h1")
    assert not manager.is_locked("m")
    now = [1000.0]
    manager.clock = lambda: now[0]
    try:
        assert manager.acquire_lock("t", "h1", hold_timeout=5)
        assert not manager.acquire_lock("t", "h2", acquire_timeout=0)
        now[0] += 5
        assert manager.acquire_lock("t", "h2", acquire_timeout=0)
        manager.release_lock("t", "h2")
    finally:
        manager.clock = time.monotonic


_HOLDER = textwrap.dedent("""
    import sys
    from legato.locking import FileSystemLockManager
    manager = FileSystemLockManager(sys.argv[1])
    assert manager.acquire_lock("shared-key", "holder-in-child", acquire_timeout=10)
    print("held", flush=True)
    sys.stdin.readline()
    manager.release_lock("shared-key", "holder-in-child")
    print("released", flush=True)
""")


def _start_holder(tmp_path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path / "locks")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_file_lock_manager_excludes_another_process_and_frees_when_it_releases(tmp_path):
    """Prefect: ``FileSystemLockManager(lock_files_directory)`` locks keys across processes;
    legato's holds a real OS lock (flock), so other processes see it and wait."""
    manager = FileSystemLockManager(tmp_path / "locks")
    child = _start_holder(tmp_path)
    try:
        assert manager.is_locked("shared-key")
        assert manager.is_lock_holder("shared-key", "holder-in-child")
        assert not manager.acquire_lock("shared-key", "me", acquire_timeout=0.05)
        child.stdin.write("\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]
        assert manager.acquire_lock("shared-key", "me", acquire_timeout=10)
        assert manager.is_lock_holder("shared-key", "me")
        manager.release_lock("shared-key", "me")
        assert not manager.is_locked("shared-key")
    finally:
        child.kill()
        child.wait(10)


def test_file_lock_manager_frees_the_lock_of_a_killed_holder(tmp_path):
    """legato: a holder killed with SIGKILL leaves no stale lock: the OS drops its file lock."""
    manager = FileSystemLockManager(tmp_path / "locks")
    child = _start_holder(tmp_path)
    assert not manager.acquire_lock("shared-key", "me", acquire_timeout=0)
    child.kill()
    child.wait(10)
    assert manager.acquire_lock("shared-key", "me", acquire_timeout=10)
    manager.release_lock("shared-key", "me")


def test_file_lock_manager_excludes_holders_in_one_process(tmp_path):
    """Prefect: two holders exclude each other whatever process they are in; keys that are not file
    names get a safe lock file name."""
    manager = FileSystemLockManager(tmp_path / "locks")
    key = "runs/../etc/passwd"
    assert manager.acquire_lock(key, "one")
    assert manager.path(key).parent == tmp_path.joinpath("locks").resolve()
    assert not FileSystemLockManager(tmp_path / "locks").acquire_lock(key, "two", acquire_timeout=0)
    with pytest.raises(ValueError):
        manager.release_lock(key, "two")
    manager.release_lock(key, "one")
    assert manager.acquire_lock(key, "two", acquire_timeout=0)
    manager.release_lock(key, "two")


_SERIAL_WRITER = textwrap.dedent("""
    import os, sys, time
    from legato.locking import FileSystemLockManager
    from legato.results import LocalStorage
    from legato.transactions import transaction
    folder, name = sys.argv[1], sys.argv[2]
    store = LocalStorage(os.path.join(folder, "store")).with_options(
        lock_manager=FileSystemLockManager(os.path.join(folder, "locks")))
    with transaction(key="nightly", store=store, isolation_level="SERIALIZABLE") as txn:
        with open(os.path.join(folder, "journal"), "a") as journal:
            journal.write(f"{name} in committed={txn.is_committed()}\\n")
            journal.flush()
            time.sleep(0.3)
            journal.write(f"{name} out\\n")
""")


def test_serializable_transactions_in_two_processes_run_one_after_the_other(tmp_path):
    """Prefect: SERIALIZABLE with a FileSystemLockManager serializes transactions on one key across
    processes; the second finds the first's record and starts committed."""
    children = [subprocess.Popen([sys.executable, "-c", _SERIAL_WRITER, str(tmp_path), name],
                                 env={**os.environ, "LEGATO_HOME": str(tmp_path / "home")}) for name in ("P", "Q")]
    for child in children:
        assert child.wait(60) == 0
    lines = (tmp_path / "journal").read_text().splitlines()
    assert len(lines) == 4
    first, second = lines[0].split()[0], lines[2].split()[0]
    assert lines == [f"{first} in committed=False", f"{first} out", f"{second} in committed=True", f"{second} out"]
    assert not any((tmp_path / "locks").iterdir())  # released: no lock file left behind


def test_transaction_class_is_exported_for_isinstance(legato_home):
    """Prefect: ``get_transaction()`` returns a ``Transaction`` (None outside any)."""
    assert get_transaction() is None
    with transaction() as txn:
        assert isinstance(txn, Transaction) and get_transaction() is txn


def test_runs_in_a_transaction_never_write_records_on_workers(legato_home, tmp_path):
    """legato: a Dask worker may write a missed run's record itself (legato.results.remote); a run in
    a transaction must not, since its record waits for the commit."""
    from types import SimpleNamespace

    from legato.results import ResultsManager
    from legato.results import manager as results_manager

    @task(result_storage=str(tmp_path / "records"), cache_policy=INPUTS)
    def load(x):
        return x

    manager = ResultsManager(None, SimpleNamespace(id="flow-run", parameters={}, name="f"))
    info = SimpleNamespace(id="run-1", name="load-0")
    assert manager.lookup(load, info, {"x": 1}) == (False, None)
    assert manager.worker_records(load, "run-1") is not None
    results_manager.deferred_runs.add("run-1")
    try:
        assert manager.worker_records(load, "run-1") is None
    finally:
        results_manager.deferred_runs.discard("run-1")


def test_runs_still_running_when_another_fails_are_rolled_back_as_they_complete(legato_home):
    """legato (on purpose): on threads, runs that complete after a sibling failed are rolled back
    when they complete, so every completed run is undone whatever the timing (Prefect: no hook)."""
    log = []
    failed = threading.Event()

    @task
    def slow(x):
        assert failed.wait(10)
        return x

    @slow.on_rollback
    def undo(txn):
        log.append("undo")

    @task
    def fails():
        raise RuntimeError("boom")

    @fails.on_failure
    def mark(tsk, run, state):
        failed.set()

    @flow(task_runner="threads")
    def pipeline():
        with transaction() as txn:
            slows = [slow.submit(i) for i in range(2)]
            fails.submit().wait()
            for future in slows:
                future.wait()
        return txn.state

    assert pipeline() is TransactionState.ROLLED_BACK
    assert log == ["undo", "undo"]
