"""What recording run history costs: the no-op map with history on and off.

Each try is a fresh interpreter (``python -m benchmarks.history N``) that
runs a 10-task warm-up flow (which creates the history database), then
times one flow of ``noop.map(range(N)).result()`` on the threads runner.
Tries alternate on, off, on, off, ... so load on a shared machine hits both
alike; the overhead is ``median on / median off - 1`` (the best of each is
kept too, but a rare fast try of one side swings it by ±15% on a shared
2-core machine, where the median moves a few percent).

A big flow returns before its last rows are written (the writer thread
finishes them moments later), so two more numbers are reported the same
way: ``durable``, from the flow call until its history is all on disk, and
the CPU time the process spent over that span (all threads), which is
steadier than wall time on a shared machine and shows what recording costs
even where a spare core hides it. History goes to the suite's temporary
``LEGATO_HOME``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from benchmarks.measure import Measurement, say
from benchmarks.settings import WORKERS
from benchmarks.subprocess_run import print_result, run_child


def measure(n: int, repeat: int) -> list[Measurement]:
    samples: dict[str, dict[str, list[float]]] = {  # per measure, per switch: one number per try
        key: {"1": [], "0": []} for key in ("seconds", "durable_seconds", "cpu_seconds")
    }
    for _ in range(repeat):
        for switch in ("1", "0"):
            child = run_child(["-m", "benchmarks.history", str(n)], env={"LEGATO_HISTORY": switch})
            for key, by_switch in samples.items():
                by_switch[switch].append(child[key])

    def overhead(key: str, pick: Callable[[list[float]], float]) -> float:
        return pick(samples[key]["1"]) / pick(samples[key]["0"]) - 1

    on, off = (statistics.median(samples["seconds"][s]) for s in ("1", "0"))
    say(f"history n={n} (medians of {repeat}): on {n / on:,.0f} tasks/s, off {n / off:,.0f} tasks/s, "
        f"overhead {overhead('seconds', statistics.median):+.1%} (best of each: {overhead('seconds', min):+.1%}); "
        f"until on disk {overhead('durable_seconds', statistics.median):+.1%}; "
        f"CPU {overhead('cpu_seconds', statistics.median):+.1%}")
    workers = f"{WORKERS['threads']} threads"
    method = "noop_map, fresh process per try, alternating; median of the tries"
    measurements = [
        Measurement("history", "on", n / on, "tasks/s", method, "threads", side="on", n=n,
                    runs=samples["seconds"]["1"], workers=workers),
        Measurement("history", "off", n / off, "tasks/s", method, "threads", side="off", n=n,
                    runs=samples["seconds"]["0"], workers=workers),
    ]
    for name, key, what in (("overhead", "seconds", "flow call"),
                            ("durable_overhead", "durable_seconds", "flow call until history on disk"),
                            ("cpu_overhead", "cpu_seconds", "process CPU, flow call until history on disk")):
        measurements.append(Measurement(
            "history", name, overhead(key, statistics.median), "ratio", f"{what}: median on / median off - 1",
            "threads", n=n, workers=workers,
            extra={"best_of_each": overhead(key, min), "on": samples[key]["1"], "off": samples[key]["0"]},
        ))
    return measurements


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
    seconds = time.perf_counter() - started
    recorder = sys.modules.get("legato.history.recorder")
    if recorder is not None:
        recorder.flush_recorders()
    durable_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    assert values == list(range(n))
    print_result({"n": n, "seconds": seconds, "durable_seconds": durable_seconds, "cpu_seconds": cpu_seconds})


if __name__ == "__main__":
    _child(int(sys.argv[1]))
