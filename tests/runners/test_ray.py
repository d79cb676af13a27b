"""RayTaskRunner: what the contract suite does not cover. Ray starts once per session (slow)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

pytest.importorskip("ray")

from _cluster import ray_session  # noqa: E402,F401  (session fixture)

from legato import flow, quote, task, unmapped  # noqa: E402
from legato.core.errors import MissingDependencyError, SerializationError, WorkerCrashedError  # noqa: E402
from legato.runners._process_worker import RemoteTraceback  # noqa: E402
from legato.runners.ray import RayTaskRunner, remote_options  # noqa: E402

pytestmark = pytest.mark.slow

# ---------------------------------------------------------------------- tasks (imported by the workers)

from tracked import (  # noqa: E402  (shared with the other backend's tests)
    bad, check_unsendable_results, double_slowly, every_third_fails, inc, label_of, lock_or_value, make_tracked,
    measure,
)  # fmt: skip


@task(runner_options={"max_retries": 0})
def dies() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@task(runner_options={"num_cpus": 0.5, "num_workers": 3})
def cpus() -> float:
    import ray

    return ray.get_runtime_context().get_assigned_resources().get("CPU", 0.0)


@task(timeout_seconds=0.5)
def hangs(pid_file: str) -> None:
    with open(pid_file, "w") as file:
        file.write(str(os.getpid()))
    time.sleep(60)


@task
def fan_out(n: int) -> int:
    return sum(inc.map(range(n)).result())


@task
def nested_wait(x: int) -> int:
    """Submits a task and waits for it: with 2 CPUs, needs Ray to lend the waiting task's CPU."""
    return inc.submit(x).result() * 10


class Guarded:
    """Holds a lock, which pickle refuses; Ray serializes it once :func:`guarded` registered how."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lock = threading.Lock()


@task
def guarded(label: str) -> Guarded:
    import ray.util

    # Ray's serializers are per process; the deserializer travels with the value.
    ray.util.register_serializer(Guarded, serializer=lambda value: value.label, deserializer=Guarded)
    return Guarded(label)


class Brittle:
    """Pickles fine, but :func:`brittle` tells Ray to serialize it with a function that fails."""


def _refuse(value: Brittle) -> None:
    raise ValueError("this serializer refuses")


@task
def brittle() -> Brittle:
    import ray.util

    ray.util.register_serializer(Brittle, serializer=_refuse, deserializer=Brittle)
    return Brittle()


def _runner() -> RayTaskRunner:
    return RayTaskRunner(address="auto")


# ---------------------------------------------------------------------- tests


def test_missing_ray_raises_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "legato\[ray\]"'):
        RayTaskRunner()


def test_chains_and_maps_on_a_ray_it_leaves_running(ray_session):
    @flow(task_runner=_runner())
    def pipeline() -> tuple[int, list[int]]:
        a = inc.submit(1)
        return inc.submit(a).result(), inc.map(inc.map(range(5))).result()

    assert pipeline() == (3, [2, 3, 4, 5, 6])
    assert ray_session.is_initialized()


def test_upstream_data_never_enters_the_flow_process(ray_session, tmp_path):
    log = tmp_path / "unpickled"
    log.touch()

    @flow(task_runner=_runner())
    def pipeline() -> tuple[int, list[str], list[str]]:
        big = make_tracked.submit(str(log), 1_000_000)
        total = sum(f.result() for f in [measure.submit(big) for _ in range(3)])
        bigs = make_tracked.map(unmapped(str(log)), [200_000] * 8)  # maps go in batches
        total += sum(measure.map(bigs).result())
        before = log.read_text().split()
        big.result()  # control: fetching it here is seen
        return total, before, log.read_text().split()

    total, before, after = pipeline()
    assert total == 3_000_000 + 1_600_000
    assert str(os.getpid()) not in before
    assert str(os.getpid()) in after


def test_errors_keep_their_type_and_dead_workers_are_named(ray_session):
    @flow(task_runner=_runner())
    def both() -> tuple[BaseException, BaseException, list[object]]:
        first, second = bad.submit(3), dies.submit()
        mapped = every_third_fails.map(range(40))
        return (first.result(raise_on_failure=False), second.result(raise_on_failure=False),
                mapped.result(raise_on_failure=False))

    error, crash, outcomes = both()
    assert isinstance(error, KeyError) and error.args == ("no 3",)
    assert isinstance(error.__cause__, RemoteTraceback) and "in bad" in str(error.__cause__)
    assert isinstance(crash, WorkerCrashedError) and "dies-0" in str(crash)
    assert [x for x in outcomes if isinstance(x, int)] == [x for x in range(40) if x % 3]
    errors = [x for x in outcomes if isinstance(x, BaseException)]
    assert len(errors) == 14 and all(isinstance(e, ValueError) for e in errors)
    assert all("every_third_fails" in str(e.__cause__) for e in errors)


def test_work_that_cannot_be_pickled_fails_at_once_with_the_reason(ray_session):
    @flow(task_runner=_runner())
    def unpicklable() -> BaseException:
        return inc.submit(threading.Lock()).result(raise_on_failure=False)

    error = unpicklable()
    assert isinstance(error, SerializationError)
    assert "inc-0" in str(error) and "_thread.lock" in str(error)


def test_a_result_that_cannot_be_serialized_fails_its_run_and_only_its_run(ray_session):
    error = check_unsendable_results(_runner, "Ray worker")
    assert isinstance(error.__cause__, RemoteTraceback)


def test_without_the_result_check_rays_store_still_fails_an_unsendable_result(ray_session):
    """``check_results=False`` skips legato's walk over the value; Ray's own store still refuses it."""

    @flow(task_runner=RayTaskRunner(address="auto", check_results=False))
    def unchecked() -> tuple[str, int, BaseException]:
        bad = lock_or_value.submit(7)
        fine = lock_or_value.submit(3)
        bad.wait(30)
        return bad.state.type.value, fine.result(timeout=30), bad.result(timeout=30, raise_on_failure=False)

    state_type, value, error = unchecked()
    assert (state_type, value) == ("FAILED", 3)
    assert isinstance(error, BaseException) and not isinstance(error, SerializationError)
    assert "lock" in str(error)


def test_a_type_registered_with_ray_serialization_passes_the_check(ray_session):
    @flow(task_runner=_runner())
    def registered() -> tuple[str, str]:
        made = guarded.submit("kept")
        return label_of.submit(made).result(timeout=30), made.result(timeout=30).label

    assert registered() == ("kept", "kept")


def test_a_value_only_ray_fails_to_serialize_still_fails_its_run(ray_session):
    # legato's check passes it (it pickles); Ray's own serialization fails after the task returned.
    @flow(task_runner=_runner())
    def refused() -> object:
        future = brittle.submit()
        future.wait(timeout=30)
        return quote(future)

    future = refused()
    error = future.state.data
    assert future.state.is_failed() and isinstance(error, ValueError), future.state
    assert str(error) == "this serializer refuses"
    assert isinstance(error.__cause__, RemoteTraceback) and "_refuse" in str(error.__cause__)


def test_runner_options_and_remote_options_reach_ray(ray_session):
    @flow(task_runner=_runner())
    def resources() -> tuple[float, float]:
        declared = cpus.submit()
        with remote_options(num_cpus=0.25):
            overridden = cpus.submit()
            # waits for an upstream, so it reaches Ray later, from a callback thread
            later = cpus.submit(wait_for=[declared])
        return declared.result(), overridden.result(), later.result()

    assert resources() == (0.5, 0.25, 0.25)


def test_a_timed_out_task_is_killed(ray_session, tmp_path):
    import psutil

    pid_file = tmp_path / "pid"

    @flow(task_runner=_runner())
    def times_out() -> str:
        future = hangs.submit(str(pid_file))
        future.wait()
        return future.state.name

    assert times_out() == "TimedOut"
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the Ray worker running the timed-out task is still alive"
        time.sleep(0.05)


def test_tasks_submit_tasks_on_the_workers(ray_session):
    @flow(task_runner=_runner())
    def nested() -> tuple[int, list[int]]:
        return fan_out.submit(10).result(), nested_wait.map(range(4)).result()

    assert nested() == (55, [10 * (x + 1) for x in range(4)])


def test_a_worker_killed_mid_map_loses_nothing(ray_session, tmp_path):
    marker = tmp_path / "started"
    marker.touch()
    killed: list[int] = []

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = marker.read_text().split()
            if len(pids) >= 20:
                victim = int(pids[-1])
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()

    @flow(task_runner=_runner())
    def doubles() -> tuple[list[int], list[int]]:
        futures = double_slowly.map(range(120), marker=unmapped(str(marker)))
        values = futures.result()
        return values, [f.task_run.run_count for f in futures]

    values, run_counts = doubles()
    killer.join()
    assert killed, "no worker was killed"
    assert values == [2 * x for x in range(120)]
    # A batch lost with its worker is rerun by legato, element by element, an attempt each (issue 14);
    # Ray no longer retries batches behind legato's back.
    assert set(run_counts) <= {1, 2}


# ---------------------------------------------------------------------- run logs from workers


@task
def logs_on_ray(x: int) -> int:
    from legato import get_run_logger

    get_run_logger().info("logged on Ray: %d", x)
    print(f"printed on Ray: {x}")
    if x == 2:
        raise ValueError("two")
    return x


def test_run_logs_and_prints_from_ray_workers_reach_the_history(ray_session, monkeypatch):
    """Records made in a Ray task ride back with its status and are filed under their task run."""
    from legato.history import list_runs, run_logs

    monkeypatch.setenv("LEGATO_HISTORY", "1")

    @flow(task_runner=RayTaskRunner(), log_prints=True)
    def on_ray():
        failed = logs_on_ray.submit(2)
        total = logs_on_ray.submit(1).result() + sum(logs_on_ray.map([3, 4]).result())
        failed.wait(30)
        return total, failed.state.is_failed()

    assert on_ray() == (8, True)
    run_id = list_runs(limit=1)[0].id
    messages = {line.message.split(" - ", 1)[-1] for line in run_logs(run_id) if line.task_run_id}
    assert {"logged on Ray: 1", "printed on Ray: 1", "logged on Ray: 2", "printed on Ray: 4"} <= messages, messages
