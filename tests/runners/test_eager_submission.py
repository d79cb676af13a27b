"""Eager submission on Dask and Ray: dependents reach the backend while their upstreams still run.

Eagerness is shown by behaviour, not timing: an upstream blocks until the
test creates its release file, and before releasing it the test checks that
the dependent is already with the backend (Dask: its key is on the
scheduler; Ray: its ObjectRef exists and is not ready) while legato still
shows it Pending. Each dependent logs every run of its function, so "did not
run" is told apart from "ran and failed".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import time
from pathlib import Path
from typing import Any

import pytest

from _cluster import dask_address, ray_session  # noqa: F401  (session fixtures)
from eager_tasks import (
    CodedError, add, always_fails, attempts, describe, fails_first_time, fails_with_code, held, held_fails_once,
    held_then_exits, held_then_fails, plus_one,
)
from legato import allow_failure, flow
from legato.core.errors import WorkerCrashedError

pytestmark = pytest.mark.slow


@pytest.fixture(params=["dask", "ray"])
def eager_runner(request: pytest.FixtureRequest) -> Any:
    if request.param == "dask":
        pytest.importorskip("distributed")
        from legato.runners.dask import DaskTaskRunner

        return DaskTaskRunner(address=request.getfixturevalue("dask_address"))
    pytest.importorskip("ray")
    request.getfixturevalue("ray_session")
    from legato.runners.ray import RayTaskRunner

    return RayTaskRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    return {name: str(tmp_path / name) for name in ("release", "log", "log2", "upstream_log")}


@contextmanager
def releasing(release: str) -> Iterator[None]:
    """The checks inside run while the upstreams are held; they are released whatever the checks say."""
    try:
        yield
    finally:
        Path(release).touch()


def assert_with_backend_not_started(future: Any) -> None:
    """The dependent's work is with the backend, which has not run it; legato shows it Pending."""
    run = future.task_run
    assert run.state.name == "Pending"
    assert run.run_count == 0
    backend_future = run.runner_future
    assert backend_future is not None, "the dependent was not submitted eagerly"
    if type(run.runner).__name__ == "DaskTaskRunner":
        def on_scheduler() -> bool:  # the submission reaches the scheduler moments after client.submit returns
            keys = run.runner.client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])
            return any(run.id in key for key in keys)

        deadline = time.monotonic() + 10  # a hang bound
        while not on_scheduler():
            assert time.monotonic() < deadline, "the dependent's key never reached the scheduler"
            time.sleep(0.01)
        assert backend_future.dask_future.status == "pending"
    else:
        import ray

        ready, _ = ray.wait([backend_future.status_ref], timeout=0)
        assert ready == []


def test_a_chain_reaches_the_backend_before_its_first_link_finishes(eager_runner, files):
    @flow(task_runner=eager_runner)
    def chain() -> tuple[int, list[int]]:
        first = held.submit(files["release"], 1)
        second = plus_one.submit(first, files["log"])
        third = plus_one.submit(second, files["log"])
        with releasing(files["release"]):
            assert_with_backend_not_started(second)
            assert_with_backend_not_started(third)
            assert attempts(files["log"]) == 0
        value = third.result()
        return value, [f.task_run.run_count for f in (first, second, third)]

    assert chain() == (3, [1, 1, 1])
    assert attempts(files["log"]) == 2


def test_an_upstream_failure_makes_the_dependent_not_ready_without_running_it(eager_runner, files):
    @flow(task_runner=eager_runner)
    def failing() -> tuple[str, str, int]:
        upstream = held_then_fails.submit(files["release"])
        dependent = plus_one.submit(upstream, files["log"])
        with releasing(files["release"]):
            assert_with_backend_not_started(dependent)
        dependent.wait(30)
        return upstream.state.name, dependent.state.name, dependent.task_run.run_count

    assert failing(return_state=True).result(raise_on_failure=False) == ("Failed", "NotReady", 0)
    assert attempts(files["log"]) == 0


def test_an_upstream_that_fails_then_succeeds_on_a_retry_feeds_its_dependent(eager_runner, files):
    @flow(task_runner=eager_runner)
    def retried() -> tuple[int, int, int]:
        upstream = held_fails_once.submit(files["release"], files["upstream_log"])
        dependent = plus_one.submit(upstream, files["log"])
        second = plus_one.submit(dependent, files["log"])  # eager on an eager run that will not run
        with releasing(files["release"]):
            assert_with_backend_not_started(dependent)
            assert_with_backend_not_started(second)
        return second.result(), upstream.task_run.run_count, dependent.task_run.run_count

    assert retried() == (42, 2, 1)
    assert attempts(files["log"]) == 2


def test_a_dependent_on_two_upstreams_of_which_one_fails_does_not_run(eager_runner, files):
    @flow(task_runner=eager_runner)
    def two() -> str:
        good = held.submit(files["release"], 1)
        bad = held_then_fails.submit(files["release"])
        dependent = add.submit(good, bad, files["log"])
        with releasing(files["release"]):
            assert_with_backend_not_started(dependent)
        dependent.wait(30)
        return dependent.state.name

    assert two(return_state=True).result(raise_on_failure=False) == "NotReady"
    assert attempts(files["log"]) == 0


def test_allow_failure_and_timeouts_take_the_ordinary_path(eager_runner, files):
    @flow(task_runner=eager_runner)
    def tolerant() -> tuple[str, int]:
        upstream = held_then_fails.submit(files["release"])
        dependent = describe.submit(allow_failure(upstream), files["log"])
        timed = plus_one.with_options(timeout_seconds=60).submit(held.submit(files["release"], 1), files["log2"])
        with releasing(files["release"]):
            assert dependent.task_run.runner_future is None  # waits in the flow process, as before
            assert timed.task_run.runner_future is None
        return dependent.result(), timed.result()

    assert tolerant() == ("ValueError", 2)
    assert attempts(files["log"]) == 1


def test_a_dependent_that_fails_itself_retries_and_its_own_dependent_waits(eager_runner, files):
    @flow(task_runner=eager_runner)
    def own_failures() -> tuple[int, int, str, str, int]:
        upstream = held.submit(files["release"], 5)
        retrying = fails_first_time.submit(upstream, files["log"])
        failing = always_fails.submit(upstream, files["log2"])
        after_failing = plus_one.submit(failing, files["upstream_log"])
        with releasing(files["release"]):
            assert_with_backend_not_started(retrying)
            assert_with_backend_not_started(after_failing)
        after_failing.wait(30)
        return (retrying.result(), retrying.task_run.run_count, failing.state.name,
                after_failing.state.name, failing.task_run.run_count)

    assert own_failures(return_state=True).result(raise_on_failure=False) == (10, 2, "Failed", "NotReady", 1)
    assert attempts(files["log"]) == 2
    assert attempts(files["log2"]) == 1
    assert attempts(files["upstream_log"]) == 0


def test_a_dependent_whose_error_drops_attributes_in_its_pickle_fails_with_it_having_run_once(eager_runner, files):
    """On Dask, an eager task's own error is told from an upstream's by a mark it carries; this one cannot carry it."""

    @flow(task_runner=eager_runner)
    def coded() -> tuple[str, int, Any]:
        upstream = held.submit(files["release"], 7)
        dependent = fails_with_code.submit(upstream, files["log"])
        with releasing(files["release"]):
            assert_with_backend_not_started(dependent)
        dependent.wait(30)
        return dependent.state.name, dependent.task_run.run_count, dependent.state.result(raise_on_failure=False)

    name, run_count, error = coded()
    assert (name, run_count, type(error), error.code) == ("Failed", 1, CodedError, 7)
    assert attempts(files["log"]) == 1  # it ran once: its failure was not read as an upstream's


def test_an_upstream_whose_ray_worker_dies_leaves_its_dependent_not_ready(ray_session, files):
    from legato.runners.ray import RayTaskRunner

    @flow(task_runner=RayTaskRunner())
    def crashing() -> tuple[Any, str]:
        upstream = held_then_exits.submit(files["release"])
        dependent = plus_one.submit(upstream, files["log"])
        with releasing(files["release"]):
            assert_with_backend_not_started(dependent)
        dependent.wait(60)
        upstream.wait(60)
        return type(upstream.state.result(raise_on_failure=False)), dependent.state.name

    assert crashing(return_state=True).result(raise_on_failure=False) == (WorkerCrashedError, "NotReady")
    assert attempts(files["log"]) == 0


# ---------------------------------------------------------------------- the README's example (Task runners, Ray)

from legato import task  # noqa: E402


@task(retries=1, retry_delay_seconds=0)
def flaky_load(marker: str) -> int:
    if not Path(marker).exists():  # fails once, then succeeds on the retry
        Path(marker).touch()
        raise ConnectionError("first try")
    return 20


@task
def double(x: int) -> int:
    return 2 * x


def test_the_readme_example_a_retried_upstream_feeds_its_eager_dependents(ray_session, tmp_path):
    from legato.runners import RayTaskRunner

    @flow(task_runner=RayTaskRunner())
    def pipeline(marker: str) -> int:
        loaded = flaky_load.submit(marker)
        return double.submit(double.submit(loaded))

    assert pipeline(str(tmp_path / "tried")) == 80
