"""ProcessPoolTaskRunner: what the contract suite does not cover (dead workers, kills, logs, serialization)."""

from __future__ import annotations

import functools
import logging
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from concurrent.futures import wait as wait_futures

import psutil
import pytest
import tasks as T
from _leftovers import Leftovers, tagged_processes

from legato import allow_failure, flow, quote, unmapped
from legato.core.errors import CancelledRun, SerializationError, WorkerCrashedError
from legato.core.mainguard import UNGUARDED_MAIN_EXIT
from legato.runners._process_worker import RemoteTraceback
from legato.runners.processes import ProcessPoolTaskRunner

pytestmark = pytest.mark.timeout(60)


def workers() -> list[psutil.Process]:
    """The pool's worker processes: the forkserver's children."""
    server = multiprocessing.forkserver._forkserver._forkserver_pid
    if server is None:
        return []
    try:
        return [p for p in psutil.Process(server).children() if p.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# ---------------------------------------------------------------------- dead workers


def test_a_worker_killed_mid_map_loses_nothing(tmp_path):
    path = str(tmp_path / "started")
    killed: list[int] = []

    def kill_one_worker_after(lines: int) -> None:
        deadline = time.monotonic() + 30
        while len(T.lines(path)) < lines and time.monotonic() < deadline:
            time.sleep(0.005)
        victims = workers()
        if victims:
            killed.append(victims[0].pid)
            victims[0].send_signal(signal.SIGKILL)

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def pipeline(n):
        watcher = threading.Thread(target=kill_one_worker_after, args=(30,))
        watcher.start()
        values = T.slow_index.map(unmapped(path), range(n), unmapped(0.02)).result()
        watcher.join()
        return values

    assert pipeline(120) == list(range(120))
    assert killed, "no worker was killed"
    started = T.lines(path)
    assert set(started) == {str(i) for i in range(120)}  # some ran twice: those the dead worker held
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("how", ["exit", "kill", "segfault"])
def test_a_task_that_always_kills_its_worker_fails_and_the_others_finish(tmp_path, how):
    path = str(tmp_path / "attempts")

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2, crash_retries=2))
    def pipeline():
        alone = T.crash_on.submit(0, 0, how, path)
        mapped = T.crash_on.map(range(12), unmapped(5), unmapped(how), unmapped(path))
        others = T.inc.map(range(20))
        alone.wait()
        mapped.wait()
        return quote(alone), quote(mapped), others.result()

    alone, mapped, others = pipeline()
    assert others == list(range(1, 21))
    assert isinstance(alone.state.data, WorkerCrashedError)
    assert "crash_on-0" in str(alone.state.data)
    assert "gave up after 2 crash retries" in str(alone.state.data)
    assert [f.state.name for f in mapped] == ["Completed"] * 5 + ["Failed"] + ["Completed"] * 6
    assert isinstance(mapped[5].state.data, WorkerCrashedError)
    assert mapped[5].task_run.name in str(mapped[5].state.data)
    assert [f.result() for i, f in enumerate(mapped) if i != 5] == [i for i in range(12) if i != 5]
    # each of the two runs: 1 run + 2 crash retries (a mapped one may also have died inside a batch once)
    assert 6 <= len(T.lines(path)) <= 7


# ---------------------------------------------------------------------- timeouts


def test_a_timeout_kills_the_worker_and_a_fresh_one_takes_over():
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline():
        before = T.pid.submit()
        slow = T.sleep_for.with_options(timeout_seconds=1).submit(60, wait_for=[before])
        after = T.pid.submit(wait_for=[allow_failure(slow)])
        slow.wait()
        return before.result(), quote(slow), after.result()

    started = time.monotonic()
    before, slow, after = pipeline()
    assert time.monotonic() - started < 10
    assert slow.state.name == "TimedOut"
    assert before != after
    assert not psutil.pid_exists(before) or psutil.Process(before).status() == psutil.STATUS_ZOMBIE


def test_timed_out_jobs_still_waiting_for_a_worker_are_dropped():
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline():
        slow = [T.sleep_for.with_options(timeout_seconds=1).submit(60) for _ in range(3)]
        for future in slow:
            future.wait()
        return [f.state.name for f in slow], T.add.submit(1, 1).result()

    started = time.monotonic()
    assert pipeline() == (["TimedOut"] * 3, 2)
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------------- errors and serialization


def test_the_remote_traceback_is_the_cause():
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline():
        future = T.raise_value_error.submit("boom")
        future.wait()
        return quote(future)

    error = pipeline().state.data
    assert type(error) is ValueError
    assert isinstance(error.__cause__, RemoteTraceback)
    assert 'tasks.py", line' in str(error.__cause__) and "raise ValueError(message)" in str(error.__cause__)


def test_an_argument_that_cannot_be_serialized_is_named_and_fails_only_its_run():
    lock = threading.Lock()

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline():
        alone = T.identity.submit(lock)
        mapped = T.identity.map([1, lock, 3])
        alone.wait()
        mapped.wait()
        return quote(alone), quote(mapped)

    alone, mapped = pipeline()
    for future in (alone, mapped[1]):
        error = future.state.data
        assert isinstance(error, SerializationError)
        assert future.task_run.name in str(error) and "argument 'value'" in str(error)
    assert [mapped[0].result(), mapped[2].result()] == [1, 3]


def test_tasks_submitted_inside_a_worker_run_on_threads_there():
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline():
        return T.fan_out_in_worker.submit(6).result(), T.failing_child.submit().result()

    (total, pids, threads), (state_name, error) = pipeline()
    assert total == sum(10 * x for x in range(6))
    assert len(pids) == 1 and pids != {os.getpid()}  # all in the one worker process
    assert all(name.startswith("legato-thread") for name in threads)
    assert (state_name, error) == ("Failed", "ValueError: child 1")


def test_tasks_defined_in_a_function_travel_by_value():
    from legato import task

    offset = 100

    @task
    def shifted(x):
        return x + offset

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline():
        return shifted.submit(1).result(), shifted.map([2, 3]).result()

    assert pipeline() == (101, [102, 103])


# ---------------------------------------------------------------------- logs


def test_logs_and_prints_in_workers_reach_the_flow_process_loggers():
    handler = Records()
    logger = logging.getLogger("legato.task_runs")
    logger.addHandler(handler)
    try:
        @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
        def pipeline():
            return T.chatty.submit(3).result()

        assert pipeline() == 3
    finally:
        logger.removeHandler(handler)
    ours = [r for r in handler.records if getattr(r, "task_run_name", None) == "chatty-0"]
    assert {r.getMessage() for r in ours} >= {"logged 3", "printed 3"}
    assert all(r.process != os.getpid() for r in ours if r.getMessage() in ("logged 3", "printed 3"))


# ---------------------------------------------------------------------- the runner on its own


def test_submit_needs_a_started_runner():
    with pytest.raises(RuntimeError, match="not started"):
        ProcessPoolTaskRunner(1).submit(functools.partial(time.sleep, 0))


def test_shutdown_now_kills_running_work_and_cancels_the_rest():
    leftovers = Leftovers()
    runner = ProcessPoolTaskRunner(max_workers=1)
    runner.start()
    running = runner.submit(functools.partial(time.sleep, 30))
    queued = runner.submit(functools.partial(time.sleep, 30))
    deadline = time.monotonic() + 10
    while not workers() and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.shutdown(wait=False, cancel_futures=True)
    wait_futures([running, queued], timeout=10)
    assert isinstance(running.exception(), CancelledRun)
    assert queued.cancelled() or isinstance(queued.exception(), CancelledRun)
    deadline = time.monotonic() + 5
    while (leftovers.new_processes() or leftovers.new_threads()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers.new_processes() == [] and leftovers.new_threads() == []


def test_start_callbacks_fire_when_the_job_reaches_a_worker():
    # What a timeout should be measured from. A large job (like one with a
    # timeout) only goes to an idle worker: it starts when the first one ends.
    with ProcessPoolTaskRunner(max_workers=1) as runner:
        began = time.monotonic()
        first = runner.submit(functools.partial(time.sleep, 0.5))
        second = runner.submit(functools.partial(len, b"x" * 100_000))
        started: list[float] = []
        second.add_start_callback(lambda future: started.append(time.monotonic() - began))
        assert second.result(timeout=20) == 100_000
        assert first.done() and started and started[0] >= 0.4
        late: list[object] = []
        second.add_start_callback(late.append)
        assert late == [second]


def test_runner_settings_are_checked_and_kept_by_duplicate():
    with pytest.raises(ValueError):
        ProcessPoolTaskRunner(0)
    with pytest.raises(ValueError):
        ProcessPoolTaskRunner(crash_retries=-1)
    with pytest.raises(ValueError):
        ProcessPoolTaskRunner(start_method="teleport")
    runner = ProcessPoolTaskRunner(3, crash_retries=5, serializer="pickle")
    copy = runner.duplicate()
    assert (copy.max_workers, copy.crash_retries, copy.serializer.name, copy.started) == (3, 5, "pickle", False)
    assert copy.name == "processes" and copy.shares_memory is False


def test_spawn_start_method_works():
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1, start_method="spawn"))
    def pipeline():
        return T.add.submit(1, 2).result(), T.double.map([1, 2]).result()

    assert pipeline() == (3, [2, 4])


# ---------------------------------------------------------------------- the main module


SCRIPT = """
import os
from legato import flow, task
from legato.runners.processes import ProcessPoolTaskRunner

@task({task_options})
def double(x):
    return 2 * x

@flow(task_runner=ProcessPoolTaskRunner(max_workers=2, start_method={start_method!r}))
def pipeline(n):
    with open({trace!r}, "a") as file:  # which processes ran the flow
        file.write(f"{{os.getpid()}}\\n")
    return double.map(range(n)).result()

{call}
"""


def run_script(tmp_path, start_method: str, call: str, task_options: str = ""
               ) -> tuple[subprocess.CompletedProcess[str], float, int, list[str]]:
    """Run a script in a subprocess: its outcome, how long it took, its pid, the pids that ran its flow.

    Every process it starts carries a tag in its environment; the test fails
    if any is still alive a few seconds after the script has exited.
    """
    script, trace = tmp_path / "pipeline.py", tmp_path / "flow-runs"
    script.write_text(SCRIPT.format(start_method=start_method, trace=str(trace), call=textwrap.dedent(call),
                                    task_options=task_options))
    tag = uuid.uuid4().hex
    leftovers = Leftovers()
    began = time.monotonic()
    process = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env={**os.environ, "LEGATO_TEST_TAG": tag},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=100)
        elapsed = time.monotonic() - began
        deadline = time.monotonic() + 10
        while (tagged_processes("LEGATO_TEST_TAG", tag) or leftovers.new_processes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tagged_processes("LEGATO_TEST_TAG", tag) == [] and leftovers.new_processes() == []
    finally:  # the script hung, or left processes behind: end them all
        process.kill()
        for left in tagged_processes("LEGATO_TEST_TAG", tag):
            left.kill()
        process.wait()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return result, elapsed, process.pid, T.lines(trace)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_an_unguarded_script_fails_fast_and_says_to_guard_its_flow_call(tmp_path, start_method):
    # Each worker imports the script again (as __mp_main__), which calls the
    # flow again: the worker gives up before the flow runs, and the flow
    # process fails the tasks at once instead of retrying them as crashes.
    result, elapsed, pid, flow_runs = run_script(tmp_path, start_method, "print(pipeline(8))")
    assert result.returncode != 0 and elapsed < 60, (result.returncode, elapsed, result.stderr[-3000:])
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("legato.core.errors.WorkerStartupError: "), result.stderr[-3000:]
    assert 'if __name__ == "__main__":' in last_line and str(tmp_path / "pipeline.py") in last_line
    assert "WorkerCrashedError" not in result.stderr and "crash retry" not in result.stderr
    assert flow_runs == [str(pid)]  # the flow never ran in a worker


@pytest.mark.timeout(150)
def test_task_retries_do_not_apply_when_workers_cannot_start(tmp_path):
    # Every attempt would fail the same way at once: waiting 30 s per retry helps nobody.
    result, elapsed, _, _ = run_script(tmp_path, "forkserver", "print(pipeline(4))",
                                       task_options="retries=3, retry_delay_seconds=30")
    assert result.returncode != 0 and elapsed < 25, (result.returncode, elapsed, result.stderr[-3000:])
    assert "WorkerStartupError" in result.stderr.strip().splitlines()[-1]
    assert "retrying in" not in result.stderr


@pytest.mark.timeout(150)
def test_a_guarded_script_runs_its_flow_once(tmp_path):
    # The workers do import the script (unlike under pytest, whose main module they skip).
    call = """
    if __name__ == "__main__":
        print(pipeline(8))
    """
    result, _, pid, flow_runs = run_script(tmp_path, "forkserver", call)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str([2 * i for i in range(8)]) and flow_runs == [str(pid)]


def test_a_task_that_exits_with_the_startup_code_is_an_ordinary_crash():
    # Only a worker that dies before it said it was ready failed to start.
    with ProcessPoolTaskRunner(max_workers=1, crash_retries=0) as runner:
        crashed = runner.submit(functools.partial(os._exit, UNGUARDED_MAIN_EXIT))
        wait_futures([crashed], timeout=20)
        assert isinstance(crashed.exception(), WorkerCrashedError)
        assert runner.submit(functools.partial(abs, -1)).result(timeout=20) == 1
