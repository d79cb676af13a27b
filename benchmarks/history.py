"""What recording run history costs: the no-op map with history on and off.

Each try is a fresh interpreter (``python -m benchmarks.history N ROUNDS``)
that runs a warm-up flow with history on (which creates the database) and
one with it off, then ``ROUNDS`` pairs of flows of
``noop.map(range(N)).result()`` on the threads runner, one with history on
and one off, in alternating order (on-off, off-on, ...). Legato reads
``LEGATO_HISTORY`` at each flow call, so both sides run in the same process.

Why pairs in one process: on a shared 2-core machine, separate processes of
the same code differ by ±10% (memory layout, other tenants' load), more
than the cost being measured; an earlier version of this benchmark (one
side per process, median of 7 each) moved by ±7% between runs. Two flows
run back to back in one process see the same machine. Each pair gives a
ratio; the overhead is the median of all pairs' ratios, minus 1.

A big flow returns before its last rows are written (the writer thread
finishes them moments later), so two more numbers are reported the same
way: ``durable``, from the flow call until its history is all on disk, and
the CPU time the process spent over that span (all threads), which is
steadier than wall time on a shared machine and shows what recording costs
even where a spare core hides it. History goes to the suite's temporary
``LEGATO_HOME``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from benchmarks.measure import Measurement, say
from benchmarks.settings import WORKERS
from benchmarks.subprocess_run import print_result, run_child

_KEYS = ("seconds", "durable_seconds", "cpu_seconds")


def measure(n: int, repeat: int, rounds: int = 4) -> list[Measurement]:
    """``repeat`` fresh processes of ``rounds`` on/off pairs each."""
    samples: dict[str, dict[str, list[float]]] = {key: {"1": [], "0": []} for key in _KEYS}
    for _ in range(repeat):
        child = run_child(["-m", "benchmarks.history", str(n), str(rounds)])
        for key, by_switch in samples.items():
            for switch in by_switch:
                by_switch[switch].extend(child[switch][key])

    def overhead(key: str) -> float:
        return statistics.median(on / off for on, off in zip(samples[key]["1"], samples[key]["0"], strict=True)) - 1

    pairs = len(samples["seconds"]["1"])
    on, off = (statistics.median(samples["seconds"][s]) for s in ("1", "0"))
    say(f"history n={n} ({pairs} on/off pairs in {repeat} processes): on {n / on:,.0f} tasks/s, "
        f"off {n / off:,.0f} tasks/s, overhead {overhead('seconds'):+.1%}; "
        f"until on disk {overhead('durable_seconds'):+.1%}; CPU {overhead('cpu_seconds'):+.1%}")
    workers = f"{WORKERS['threads']} threads"
    method = f"noop_map, {rounds} on/off pairs per fresh process, {repeat} processes; median of the flows"
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
            "history", name, overhead(key), "ratio", f"{what}: median over on/off pairs of on / off - 1",
            "threads", n=n, workers=workers,
            extra={"on": samples[key]["1"], "off": samples[key]["0"]},
        ))
    return measurements


def _child(n: int, rounds: int) -> None:
    from legato import flow
    from legato.runners.threads import ThreadPoolTaskRunner

    from benchmarks.workloads import noop

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=WORKERS["threads"]))
    def bench(n: int) -> list[int]:
        return noop.map(range(n)).result()

    def timed(switch: str) -> dict[str, float]:
        os.environ["LEGATO_HISTORY"] = switch
        started, cpu_started = time.perf_counter(), time.process_time()
        values = bench(n)
        seconds = time.perf_counter() - started
        recorder = sys.modules.get("legato.history.recorder")
        if recorder is not None:
            recorder.flush_recorders()
        durable_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        assert values == list(range(n))
        return {"seconds": seconds, "durable_seconds": durable_seconds, "cpu_seconds": cpu_seconds}

    for switch in ("1", "0"):  # warm-up: the database, the thread pool, the code paths of both sides
        os.environ["LEGATO_HISTORY"] = switch
        bench(min(n, 1_000))
    result: dict[str, dict[str, list[float]]] = {switch: {key: [] for key in _KEYS} for switch in ("1", "0")}
    for round_ in range(rounds):
        for switch in ("1", "0") if round_ % 2 == 0 else ("0", "1"):
            for key, value in timed(switch).items():
                result[switch][key].append(value)
    print_result(result)


if __name__ == "__main__":
    _child(int(sys.argv[1]), int(sys.argv[2]))
