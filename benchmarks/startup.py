"""Start-up costs, each the best of several tries.

* ``import``: ``import legato`` timed around the import statement, in a
  fresh interpreter each try;
* ``one_task_flow``: in a fresh interpreter, right after ``import legato``
  and defining a task and a flow (default runner), the first call of a flow
  that submits that one task and returns its value; ``one_task_flow_warm``
  is the second call in the same interpreter. Measured with run history off
  (as the throughput runs) and, as ``..._history``, with it on;
* ``first_task``: in this process, on the threads runner, from the flow call
  to the moment the flow's only task starts (the task records
  ``time.perf_counter()`` into a list).
"""

from __future__ import annotations

import sys
import time

from benchmarks.measure import Measurement, say
from benchmarks.settings import WORKERS
from benchmarks.subprocess_run import print_result, run_child

_IMPORT = "import time; t = time.perf_counter(); import legato; print(time.perf_counter() - t)"


def measure(repeat: int) -> list[Measurement]:
    return [_import_time(repeat), *_one_task_flow(repeat, history=False), *_one_task_flow(repeat, history=True),
            _first_task(max(repeat, 10))]


def _import_time(repeat: int) -> Measurement:
    runs = [float(run_child(["-c", _IMPORT])) for _ in range(repeat)]
    say(f"startup: import legato {min(runs) * 1e3:.0f} ms")
    return Measurement("startup", "import", min(runs), "s", "import legato, fresh process", runs=runs)


def _one_task_flow(repeat: int, history: bool) -> list[Measurement]:
    env = {"LEGATO_HISTORY": "1" if history else "0"}
    children = [run_child(["-m", "benchmarks.startup"], env=env) for _ in range(repeat)]
    cold, warm = [c["cold"] for c in children], [c["warm"] for c in children]
    suffix = "_history" if history else ""
    method = f"first flow call after import, history {'on' if history else 'off'}, fresh process"
    say(f"startup: one-task flow{suffix} {min(cold) * 1e3:.1f} ms cold, {min(warm) * 1e3:.1f} ms warm")
    return [Measurement("startup", f"one_task_flow{suffix}", min(cold), "s", method, "threads", runs=cold),
            Measurement("startup", f"one_task_flow_warm{suffix}", min(warm), "s",
                        method.replace("first", "second"), "threads", runs=warm)]


def _first_task(repeat: int) -> Measurement:
    from legato import flow, task
    from legato.runners.threads import ThreadPoolTaskRunner

    started: list[float] = []

    @task
    def record() -> None:
        started.append(time.perf_counter())

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=WORKERS["threads"]))
    def bench() -> None:
        record.submit()

    runs = []
    for _ in range(repeat + 1):  # the first call is a warm-up
        called = time.perf_counter()
        bench()
        runs.append(started.pop() - called)
    runs = runs[1:]
    say(f"startup: flow call to first task start {min(runs) * 1e3:.2f} ms")
    return Measurement("startup", "first_task", min(runs), "s", "flow call to task start, threads, in process",
                       "threads", runs=runs, workers=f"{WORKERS['threads']} threads")


def _child() -> None:
    """One fresh-interpreter try of ``one_task_flow``."""
    from legato import flow, task

    @task
    def one(x: int) -> int:
        return x

    @flow
    def bench(x: int) -> int:
        return one.submit(x)

    times = []
    for x in range(2):
        called = time.perf_counter()
        assert bench(x) == x
        times.append(time.perf_counter() - called)
    print_result({"cold": times[0], "warm": times[1], "modules": len(sys.modules)})


if __name__ == "__main__":
    _child()
