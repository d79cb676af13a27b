"""RayTaskRunner's per-task savings keep their promises (issue #18).

A lone task's completion taken by the waiting flow thread, one ``.options()``
handle per task, and task pickles kept across flow runs only for tasks that
capture nothing by value.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("ray")

from _cluster import ray_session  # noqa: E402,F401  (session fixture)

import legato.runners.ray as ray_runner  # noqa: E402
import legato.runners._remote as _remote  # noqa: E402
from legato import flow, task  # noqa: E402
from legato.runners.ray import RayTaskRunner, remote_options  # noqa: E402

pytestmark = pytest.mark.slow

import tasks  # noqa: E402  (importable by the workers)
from tracked import inc  # noqa: E402

#: a task made from an importable function: its pickle only names code (``@task`` tasks are pickled by value)
read_lines = task(tasks.lines, name="lines")


@task
def slow_inc(x: int) -> int:
    time.sleep(3)
    return x + 1


def _runner() -> RayTaskRunner:
    return RayTaskRunner(address="auto")


def test_a_wait_on_the_lone_task_keeps_its_timeout_and_the_task_still_settles(ray_session):
    @flow(task_runner=_runner())
    def waits() -> tuple[float, bool, int]:
        future = slow_inc.submit(1)
        began = time.monotonic()
        future.wait(timeout=0.05)
        waited = time.monotonic() - began
        return waited, future.state.is_completed(), future.result()

    waited, completed_early, value = waits()
    assert waited < 2.5  # the 3 s task was not waited for (a generous bound)
    assert not completed_early
    assert value == 2


def test_one_task_flows_in_a_row_each_get_their_own_result(ray_session):
    @flow(task_runner=_runner())
    def one(x: int) -> int:
        return inc.submit(x)

    assert [one(i) for i in range(5)] == [1, 2, 3, 4, 5]


def test_runs_share_their_tasks_handle_unless_they_carry_ray_options(ray_session, monkeypatch):
    seen: list[tuple[str, bool, object]] = []
    original = ray_runner._handle

    def spy(work, eager):
        handle = original(work, eager)
        seen.append((work.task_name, bool(work.options), handle))
        return handle

    monkeypatch.setattr(ray_runner, "_handle", spy)

    @flow(task_runner=_runner())
    def runs() -> list[int]:
        plain = [inc.submit(1), inc.submit(2)]
        with remote_options(num_cpus=0.5):
            optioned = [inc.submit(3), inc.submit(4)]
        return [f.result() for f in plain + optioned]

    assert runs() == [2, 3, 4, 5]
    plain = [handle for _, options, handle in seen if not options]
    optioned = [handle for _, options, handle in seen if options]
    assert len(plain) == 2 and plain[0] is plain[1]
    assert len(optioned) == 2 and optioned[0] is not optioned[1] and plain[0] not in optioned


def test_an_importable_task_is_pickled_once_a_task_with_captured_values_each_flow_run(ray_session, tmp_path):
    box = {"n": 1}
    path = tmp_path / "lines"
    path.write_text("a\nb\n")

    @task
    def read_box() -> int:  # a closure: cloudpickle captures ``box`` by value
        return box["n"]

    @flow(task_runner=_runner())
    def both() -> tuple[list[str], int]:
        return read_lines.submit(str(path)).result(), read_box.submit().result()

    assert both() == (["a", "b"], 1)
    kept = _remote._lasting_pickles[id(read_lines)][1]
    box["n"] = 2
    assert both() == (["a", "b"], 2)  # the captured value as it is when the flow run begins
    assert _remote._lasting_pickles[id(read_lines)][1] is kept
    assert _remote._lasting_pickles[id(read_box)] == (read_box, None)  # asked once: pickled by value
