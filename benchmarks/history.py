"""What recording run history costs: the no-op map with history on and off.

Each try is a fresh interpreter (``python -m benchmarks.history N``) that
runs a 10-task warm-up flow (which creates the history database), then
times one flow of ``noop.map(range(N)).result()`` on the threads runner.
Tries alternate on, off, on, off, ... so load on a shared machine hits both
alike; the best of each counts, and the overhead is ``on / off - 1``. The
flow call includes writing its history (a flow is on disk when it returns).
The CPU time the process spent in the call (all threads) is reported the
same way: it is steadier than wall time on a shared machine, and shows what
recording costs even where a spare core hides it. History goes to the
suite's temporary ``LEGATO_HOME``.
"""

from __future__ import annotations

import sys
import time

from benchmarks.measure import Measurement, say
from benchmarks.settings import WORKERS
from benchmarks.subprocess_run import print_result, run_child


def measure(n: int, repeat: int) -> list[Measurement]:
    runs: dict[str, list[float]] = {"1": [], "0": []}
    cpu: dict[str, list[float]] = {"1": [], "0": []}  # process CPU seconds of the same tries
    for _ in range(repeat):
        for switch, times in runs.items():
            child = run_child(["-m", "benchmarks.history", str(n)], env={"LEGATO_HISTORY": switch})
            times.append(child["seconds"])
            cpu[switch].append(child["cpu_seconds"])
    on, off = min(runs["1"]), min(runs["0"])
    cpu_on, cpu_off = min(cpu["1"]), min(cpu["0"])
    say(f"history n={n}: on {n / on:,.0f} tasks/s, off {n / off:,.0f} tasks/s, overhead {on / off - 1:+.1%} "
        f"(CPU {cpu_on * 1e3:.0f} ms vs {cpu_off * 1e3:.0f} ms, {cpu_on / cpu_off - 1:+.1%})")
    workers = f"{WORKERS['threads']} threads"
    method = "noop_map, fresh process per try, alternating"
    return [
        Measurement("history", "on", n / on, "tasks/s", method, "threads", side="on", n=n, runs=runs["1"],
                    workers=workers),
        Measurement("history", "off", n / off, "tasks/s", method, "threads", side="off", n=n, runs=runs["0"],
                    workers=workers),
        Measurement("history", "overhead", on / off - 1, "ratio", "best on / best off - 1", "threads", n=n,
                    workers=workers),
        Measurement("history", "cpu_overhead", cpu_on / cpu_off - 1, "ratio",
                    "best process CPU on / best off - 1", "threads", n=n, workers=workers,
                    extra={"cpu_on": cpu["1"], "cpu_off": cpu["0"]}),
    ]


def _child(n: int) -> None:
    from legato import flow
    from legato.runners.threads import ThreadPoolTaskRunner

    from benchmarks.workloads import noop

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=WORKERS["threads"]))
    def bench(n: int) -> list[int]:
        return noop.map(range(n)).result()

    bench(10)
    started, cpu_started = time.perf_counter(), time.process_time()
    values = bench(n)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    assert values == list(range(n))
    print_result({"n": n, "seconds": seconds, "cpu_seconds": cpu_seconds})


if __name__ == "__main__":
    _child(int(sys.argv[1]))
