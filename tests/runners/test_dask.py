"""DaskTaskRunner: what the contract suite does not cover (data locality, keys, nesting, dead workers)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import CancelledError

import pytest

pytest.importorskip("distributed")

from _cluster import dask_address  # noqa: E402,F401  (session fixture)
from distributed import Client, LocalCluster, default_client  # noqa: E402
from distributed.protocol import dask_deserialize, dask_serialize  # noqa: E402

from legato import flow, task, unmapped  # noqa: E402
from legato.core.errors import MissingDependencyError, SerializationError, WorkerCrashedError  # noqa: E402
from legato.runners import dask as dask_runner  # noqa: E402
from legato.runners.dask import DaskTaskFuture, DaskTaskRunner, _submit_options, _translate  # noqa: E402

# ---------------------------------------------------------------------- tasks (imported by the workers)

from tracked import (  # noqa: E402  (shared with the other backend's tests)
    bad, check_unsendable_results, double_slowly, every_third_fails, inc, label_of, lock_or_value, make_tracked,
    measure,
)  # fmt: skip


@task
def current_key() -> str:
    from distributed import get_worker

    return str(get_worker().get_current_task())


@task
def fan_out(n: int) -> int:
    return sum(f.result() for f in inc.map(range(n)))


@task
def nested_wait(x: int) -> int:
    """Submits a task and waits for it: with 2 worker threads, needs secede() not to deadlock."""
    return inc.submit(x).result() * 10


@task(timeout_seconds=0.3)
def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


@task(retries=2)
def fails_once(path: str) -> str:
    with open(path, "a") as file:
        file.write("attempt\n")
    with open(path) as file:
        if len(file.readlines()) == 1:
            raise RuntimeError("first attempt fails")
    from distributed import get_worker

    return str(get_worker().get_current_task())


class Guarded:
    """Holds a lock, which pickle refuses; Dask serializes it with the functions registered below."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lock = threading.Lock()


@dask_serialize.register(Guarded)
def _dumps_guarded(value: Guarded) -> tuple[dict[str, str], list[bytes]]:
    return {}, [value.label.encode()]


@dask_deserialize.register(Guarded)
def _loads_guarded(header: dict[str, str], frames: list[bytes]) -> Guarded:
    return Guarded(bytes(frames[0]).decode())


@task
def guarded(label: str) -> Guarded:
    return Guarded(label)


class RecordingCluster(LocalCluster):
    instances: list[RecordingCluster] = []

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.adapted: dict[str, object] | None = None
        RecordingCluster.instances.append(self)

    def adapt(self, **kwargs: object) -> object:  # type: ignore[override]
        self.adapted = kwargs
        return super().adapt(**kwargs)


def _runner(address: str) -> DaskTaskRunner:
    return DaskTaskRunner(address=address)


# ---------------------------------------------------------------------- import and dependencies


def test_importing_legato_imports_no_backend():
    code = ("import legato, legato.runners, sys; "
            "assert not {'dask', 'distributed', 'ray'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_distributed_raises_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "legato\[dask\]"'):
        DaskTaskRunner()


def test_settings_are_checked_and_kept_by_duplicate():
    with pytest.raises(ValueError):
        DaskTaskRunner(address="tcp://x:1", cluster_kwargs={"n_workers": 1})
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 1}, adapt_kwargs={"maximum": 2})
    clone = runner.duplicate()
    assert clone is not runner and not clone.started
    assert (clone.cluster_kwargs, clone.adapt_kwargs) == ({"n_workers": 1}, {"maximum": 2})
    with pytest.raises(RuntimeError, match="not started"):
        clone.client  # noqa: B018


def test_submit_options_take_dask_keys_only():
    options = {"num_cpus": 2, "resources": {"GPU": 1}, "dask": {"priority": 5}}
    assert _submit_options(options) == {"resources": {"GPU": 1}, "priority": 5}
    assert _submit_options({}) == {}


# ---------------------------------------------------------------------- running


def test_chains_maps_and_results(dask_address):
    @flow(task_runner=_runner(dask_address))
    def pipeline() -> tuple[int, list[int]]:
        a = inc.submit(1)
        b = inc.submit(a)
        return b.result(), inc.map(inc.map(range(5))).result()

    assert pipeline() == (3, [2, 3, 4, 5, 6])


def test_upstream_data_never_enters_the_flow_process(dask_address, tmp_path):
    log = tmp_path / "unpickled"
    log.touch()

    @flow(task_runner=_runner(dask_address))
    def pipeline() -> tuple[int, list[str], list[str]]:
        big = make_tracked.submit(str(log), 1_000_000)
        sizes = [measure.submit(big) for _ in range(4)]
        total = sum(s.result() for s in sizes)
        before = log.read_text().split()
        big.result()  # control: fetching it here is seen
        return total, before, log.read_text().split()

    total, before, after = pipeline()
    assert total == 4_000_000
    assert str(os.getpid()) not in before
    assert str(os.getpid()) in after


def test_dask_keys_carry_the_task_run_name_and_differ_per_attempt(dask_address, tmp_path):
    @flow(task_runner=_runner(dask_address))
    def keys() -> tuple[str, str]:
        return current_key.submit().result(), fails_once.submit(str(tmp_path / "attempts")).result()

    key, retried_key = keys()
    assert key.startswith("current_key-0-")
    assert retried_key.startswith("fails_once-0-")
    assert (tmp_path / "attempts").read_text().count("attempt") == 2  # the retry was a new Dask task


def test_task_errors_keep_their_type_and_remote_traceback(dask_address):
    @flow(task_runner=_runner(dask_address))
    def failing():
        return bad.submit(3)

    with pytest.raises(KeyError, match="no 3") as caught:
        failing()
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert "bad" in frames


def _note_unpickled(path: str) -> str:
    with open(path, "a") as notes:
        notes.write(f"{os.getpid()}\n")
    return path


class NotesWhereUnpickled:
    """An argument that writes down the process that unpickles it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return _note_unpickled, (self.path,)


@task
def length_of(text: str) -> int:
    return len(text)


def test_work_items_cross_the_scheduler_unopened(dask_address, tmp_path):
    """The scheduler passes a work item on as bytes: only the worker that runs it unpickles its arguments."""
    notes = tmp_path / "unpickled"

    @flow(task_runner=_runner(dask_address))
    def one() -> int:
        return length_of.submit(NotesWhereUnpickled(str(notes)))

    assert one() == len(str(notes))
    with Client(dask_address, set_as_default=False) as client:
        scheduler_pid = client.run_on_scheduler(os.getpid)
        worker_pids = set(client.run(os.getpid).values())
    pids = {int(line) for line in notes.read_text().split()}
    assert pids and pids <= worker_pids and scheduler_pid not in pids


def test_work_that_cannot_be_pickled_fails_at_once_with_the_reason(dask_address):
    @flow(task_runner=_runner(dask_address))
    def unpicklable() -> BaseException:
        return inc.submit(threading.Lock()).result(raise_on_failure=False)

    error = unpicklable()
    assert isinstance(error, SerializationError)
    assert "inc-0" in str(error) and "_thread.lock" in str(error)


def test_a_result_that_cannot_be_serialized_fails_its_run_and_only_its_run(dask_address):
    error = check_unsendable_results(lambda: _runner(dask_address), "Dask worker")


def test_without_the_result_check_an_unsendable_result_stays_on_its_worker_as_completed(dask_address):
    """``check_results=False``: nothing walks the value; it fails only where it would have to move."""

    @flow(task_runner=DaskTaskRunner(address=dask_address, check_results=False))
    def unchecked() -> tuple[str, str, int]:
        kept = lock_or_value.submit(7)
        fine = lock_or_value.submit(3)
        value = fine.result(timeout=30)
        kept.wait(30)
        return kept.state.type.value, fine.state.type.value, value

    assert unchecked() == ("COMPLETED", "COMPLETED", 3)


def test_a_type_registered_with_dask_serialization_passes_the_check(dask_address):
    @flow(task_runner=_runner(dask_address))
    def registered() -> tuple[str, str]:
        made = guarded.submit("kept")
        return label_of.submit(made).result(timeout=30), made.result(timeout=30).label

    assert registered() == ("kept", "kept")


def test_mapped_errors_keep_their_type_and_remote_traceback(dask_address):
    @flow(task_runner=_runner(dask_address))
    def mapped() -> list[object]:
        return every_third_fails.map(range(40)).result(raise_on_failure=False)

    outcomes = mapped()
    assert [x for x in outcomes if isinstance(x, int)] == [x for x in range(40) if x % 3]
    errors = [x for x in outcomes if isinstance(x, BaseException)]
    assert len(errors) == 14 and all(isinstance(e, ValueError) for e in errors)
    assert all("every_third_fails" in str(e.__cause__) for e in errors)  # the remote traceback


def test_a_timed_out_run_does_not_hold_up_the_flow(dask_address):
    @flow(task_runner=_runner(dask_address))
    def timed() -> tuple[str, int]:
        future = sleepy.submit(1.5)
        future.wait()
        return future.state.name, inc.submit(1).result()

    started = time.monotonic()
    assert timed() == ("TimedOut", 2)
    assert time.monotonic() - started < 1.5


def test_tasks_submit_tasks_on_the_workers(dask_address):
    @flow(task_runner=_runner(dask_address))
    def nested() -> tuple[int, list[int]]:
        return fan_out.submit(10).result(), nested_wait.map(range(6)).result()

    assert nested() == (55, [10 * (x + 1) for x in range(6)])


def test_a_user_client_and_an_addressed_cluster_stay_up(dask_address):
    with Client(dask_address) as client:
        @flow(task_runner=DaskTaskRunner(client=client))
        def one() -> int:
            return inc.submit(1).result()

        assert one() == 2
        assert client.status == "running"
        assert client.submit(sum, [1, 2]).result() == 3
        assert len(client.scheduler_info()["workers"]) == 2


# ---------------------------------------------------------------------- one client per process and address


class _Work:
    """The least of a work item, to drive a runner without an engine."""

    def __init__(self, key: str, fn: object, *args: object, options: dict[str, object] | None = None) -> None:
        self.key = key
        self.task_name = key
        self.fn = fn
        self.args = args
        self.options = options or {}

    def __call__(self, *upstream_values: object) -> object:
        return self.fn(*self.args, *upstream_values)  # type: ignore[operator]


def _scheduler_clients(watcher: Client) -> set[str]:
    """The ids of the clients connected to the scheduler."""
    return set(watcher.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.clients)))


def _wait_until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)
    return bool(condition())  # type: ignore[operator]


def _exit_code(pid: int, seconds: float) -> int | None:
    """The child's exit code, or None (and the child killed) if it has not exited within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_flow_runs_on_one_address_share_one_client(dask_address):
    runner = _runner(dask_address)

    @flow(task_runner=runner)
    def one() -> int:
        return inc.submit(1).result(timeout=30)

    with Client(dask_address) as watcher:
        assert one() == 2
        clients = _scheduler_clients(watcher)
        assert one() == 2 and one() == 2
        assert _scheduler_clients(watcher) == clients  # no connection per flow run
    with runner.duplicate() as first:
        shared = first.client
    with runner.duplicate() as second:
        assert second.client is shared
    assert shared.status == "running" and shared.id in clients  # the flows' client, left open after them
    try:
        default = default_client()
    except ValueError:  # no default client at all
        default = None
    assert default is not shared  # it outlives flows, so it never becomes the process's default


def test_set_as_default_gives_each_flow_run_a_client_of_its_own(dask_address):
    runner = DaskTaskRunner(address=dask_address, client_kwargs={"set_as_default": True})
    with runner.duplicate() as first:
        own = first.client
        assert own.submit(sum, [1, 2]).result(timeout=30) == 3
    assert own.status == "closed"
    with runner.duplicate() as second:
        assert second.client is not own


def test_a_shared_client_whose_scheduler_went_away_is_replaced():
    port = _free_port()

    def throwaway() -> LocalCluster:
        return LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                            scheduler_port=port, dashboard_address=None,
                            scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.CRITICAL)

    # timeout: how long the client tries to reconnect before it closes itself (default 30 s)
    runner = DaskTaskRunner(address=f"tcp://127.0.0.1:{port}", client_kwargs={"timeout": "2s"})

    @flow(task_runner=runner)
    def one() -> int:
        return inc.submit(1).result(timeout=30)

    with throwaway():
        assert one() == 2
        with runner.duplicate() as started:
            gone = started.client
    assert _wait_until(lambda: gone.status == "closed", 30), gone.status  # it gave up on the scheduler
    with throwaway():
        assert one() == 2
        with runner.duplicate() as started:
            replacement = started.client
        assert replacement is not gone and replacement.status == "running"
        dask_runner._close_shared_clients()  # before its scheduler goes too


def test_a_closed_shared_client_is_replaced(dask_address):
    runner = _runner(dask_address)
    with runner.duplicate() as started:
        closed = started.client
    closed.close()

    @flow(task_runner=runner)
    def one() -> int:
        return inc.submit(1).result(timeout=30)

    assert one() == 2
    with runner.duplicate() as started:
        assert started.client is not closed and started.client.status == "running"


def test_flows_in_two_threads_share_the_client(dask_address):
    runner = _runner(dask_address)
    both_in = threading.Barrier(2, timeout=30)

    @flow(task_runner=runner)
    def chain(start: int) -> int:
        both_in.wait()  # the two flow runs overlap
        x = inc.submit(start)
        for _ in range(5):
            x = inc.submit(x)
        return x.result(timeout=30)

    results: dict[int, object] = {}

    def call(start: int) -> None:
        try:
            results[start] = chain(start)
        except BaseException as error:  # reported below
            results[start] = error

    threads = [threading.Thread(target=call, args=(start,)) for start in (0, 100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert results == {0: 6, 100: 106}


def test_shutdown_cancels_what_is_still_pending_on_a_shared_client(dask_address):
    with _runner(dask_address).duplicate() as runner:
        done = runner.submit(_Work("done", inc.fn, 0))
        assert done.result(timeout=30) == 1
        stuck = runner.submit(_Work("stuck", inc.fn, options={"resources": {"NOWHERE": 1}}), [done])  # never runs
        client = runner.client
    assert stuck.dask_future.status == "cancelled"  # nothing of the flow stays queued on the cluster
    assert done.dask_future.status == "finished"  # finished results go when their futures are dropped
    assert client.status == "running"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_connects_a_client_of_its_own(dask_address):
    runner = _runner(dask_address)

    @flow(task_runner=runner)
    def one() -> int:
        return inc.submit(1).result(timeout=30)

    assert one() == 2
    with runner.duplicate() as started:
        parents = started.client
    pid = os.fork()
    if pid == 0:  # the child: exit codes say what went wrong
        code = 3
        try:
            inherited = bool(dask_runner._shared)
            value = one()
            with runner.duplicate() as started:
                own = started.client is not parents
            code = 1 if inherited else 2 if value != 2 or not own else 0
            dask_runner._close_shared_clients()
        finally:
            os._exit(code)
    assert _exit_code(pid, 60) == 0  # None: the child hung
    assert one() == 2 and parents.status == "running"  # the parent's client was not touched


def test_a_started_cluster_is_adapted_logged_and_closed(caplog):
    RecordingCluster.instances.clear()
    runner = DaskTaskRunner(
        cluster_class=f"{__name__}.RecordingCluster",
        cluster_kwargs={"n_workers": 1, "processes": False, "dashboard_address": ":0"},
        adapt_kwargs={"minimum": 1, "maximum": 1},
    )

    @flow(task_runner=runner)
    def small() -> int:
        return inc.submit(41).result()

    with caplog.at_level(logging.INFO, logger="legato.runners.dask"):
        assert small() == 42
    cluster = RecordingCluster.instances[-1]
    assert cluster.adapted == {"minimum": 1, "maximum": 1}
    assert cluster.status.name == "closed"
    assert any("Dask dashboard: http" in record.getMessage() for record in caplog.records)


def test_killed_worker_error_becomes_worker_crashed_error():
    from distributed.scheduler import KilledWorker

    error = _translate(KilledWorker("inc-0-abc-1", "tcp://w:1", 3), "inc-0")
    assert isinstance(error, WorkerCrashedError) and "inc-0" in str(error)


# ---------------------------------------------------------------------- dead workers


@pytest.mark.slow
def test_a_worker_killed_mid_map_loses_nothing(tmp_path):
    marker = tmp_path / "started"
    marker.touch()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.CRITICAL)
    with cluster, Client(cluster) as client:
        victim = next(iter(client.run(os.getpid).values()))

        def kill_when_busy() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and marker.read_text().split().count(str(victim)) < 10:
                time.sleep(0.01)
            os.kill(victim, signal.SIGKILL)

        killer = threading.Thread(target=kill_when_busy)
        killer.start()

        @flow(task_runner=DaskTaskRunner(client=client))
        def doubles() -> tuple[list[int], list[int]]:
            futures = double_slowly.map(range(120), marker=unmapped(str(marker)))
            values = futures.result()
            return values, [f.task_run.run_count for f in futures]

        values, run_counts = doubles()
        killer.join()
    assert values == [2 * x for x in range(120)]
    assert set(run_counts) == {1}  # Dask's reruns are not legato retries
    assert str(victim) in marker.read_text().split()


def test_a_cancelled_dask_future_reads_as_cancelled(dask_address):
    with Client(dask_address) as client:
        dask_future = client.submit(inc.fn, 1, pure=False, resources={"NOWHERE": 1})  # never scheduled
        wrapped = DaskTaskFuture(dask_future, "inc-0")
        assert wrapped.cancel()
        deadline = time.monotonic() + 5
        while dask_future.status != "cancelled" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert wrapped.done()
        with pytest.raises(CancelledError):
            wrapped.exception()


def test_mapped_upstream_data_never_enters_the_flow_process(dask_address, tmp_path):
    log = tmp_path / "unpickled"
    log.touch()

    @flow(task_runner=_runner(dask_address))
    def pipeline() -> tuple[int, list[str]]:
        bigs = make_tracked.map(unmapped(str(log)), [100_000] * 8)
        total = sum(measure.map(bigs).result())
        return total, log.read_text().split()

    total, unpickled_in = pipeline()
    assert total == 800_000
    assert str(os.getpid()) not in unpickled_in


# ---------------------------------------------------------------------- run logs from workers


@task
def logs_on_worker(x: int) -> int:
    from legato import get_run_logger

    get_run_logger().info("logged on the worker: %d", x)
    print(f"printed on the worker: {x}")
    return x


def test_run_logs_and_prints_from_dask_workers_reach_the_history(dask_address, monkeypatch):
    """Records made on a worker come back through Dask's event topic and are filed under their task run."""
    from legato.history import list_runs, run_logs

    monkeypatch.setenv("LEGATO_HISTORY", "1")

    @flow(task_runner=DaskTaskRunner(address=dask_address), log_prints=True)
    def on_dask():
        return logs_on_worker.submit(3).result() + sum(logs_on_worker.map([4, 5]).result())

    assert on_dask() == 12
    run_id = list_runs(limit=1)[0].id
    wanted = {"logged on the worker: 3", "printed on the worker: 3", "logged on the worker: 5"}
    deadline = time.monotonic() + 20
    messages: set[str] = set()
    while time.monotonic() < deadline and not wanted <= messages:
        messages = {line.message.split(" - ", 1)[-1] for line in run_logs(run_id) if line.task_run_id}
        time.sleep(0.1)
    assert wanted <= messages, messages


def test_a_dask_runner_on_a_client_equals_its_duplicate_and_not_another_clients(dask_address):
    """Prefect 3: a runner built on an existing client compares equal to its duplicate."""
    with Client(dask_address, set_as_default=False) as one, Client(dask_address, set_as_default=False) as two:
        runner = DaskTaskRunner(client=one)
        assert runner.duplicate() == runner
        assert DaskTaskRunner(client=two) != runner
    assert DaskTaskRunner(address=dask_address) == DaskTaskRunner(address=dask_address)
