"""Memory of mapped no-op tasks on the threads runner.

Each measurement runs in a fresh interpreter so peaks never mix
(``python -m benchmarks.memory N [--tracemalloc]``):

* **peak RSS** after a flow whose body is ``noop.map(range(N)).wait()``; the
  same number read after import and a 10-task warm-up flow is the baseline,
  and ``(peak - baseline) / N`` is the RSS per task. Both
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` and Linux's ``VmHWM`` (from
  ``/proc/self/status``) are recorded; the table uses ``VmHWM`` where there
  is one, because ``ru_maxrss`` survives ``exec``: a child started from this
  (by then large) process reports at least this process's peak, whatever it
  uses itself;
* **traced bytes per task**: the same flow under :mod:`tracemalloc`
  (started after the warm-up), its traced peak divided by N. Tracing slows
  the run down several times and inflates RSS, hence the separate process
  (and, in quick mode, a smaller N: the number is per task).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

from benchmarks.measure import Measurement, peak_rss, say
from benchmarks.settings import WORKERS
from benchmarks.subprocess_run import print_result, run_child

_KIB = 1024 if sys.platform != "darwin" else 1  # ru_maxrss is KiB on Linux, bytes on macOS
_WORKERS = f"{WORKERS['threads']} threads"


def measure(rss_sizes: tuple[int, ...], traced_sizes: tuple[int, ...]) -> list[Measurement]:
    """Peak RSS for each of ``rss_sizes``, traced bytes per task for each of ``traced_sizes``."""
    measurements = []
    for n in rss_sizes:
        child = run_child(["-m", "benchmarks.memory", str(n)])
        source = "vm_hwm" if child["peak"]["vm_hwm"] else "ru_maxrss"
        peak, baseline = child["peak"][source], child["baseline"][source]
        how = "VmHWM" if source == "vm_hwm" else "ru_maxrss"
        measurements += [
            Measurement("memory", f"peak_rss.{n}", peak, "bytes", f"{how}, fresh process", "threads", n=n,
                        runs=[child["seconds"]], workers=_WORKERS,
                        extra={"peak": child["peak"], "baseline": child["baseline"]}),
            Measurement("memory", f"rss_per_task.{n}", (peak - baseline) / n, "bytes/task",
                        f"(peak - baseline {how}) / n", "threads", n=n, workers=_WORKERS),
        ]
        say(f"memory n={n}: peak RSS {peak / 2**20:,.0f} MiB, {(peak - baseline) / n:,.0f} B/task "
            f"(ru_maxrss {child['peak']['ru_maxrss'] / 2**20:,.0f} MiB)")
    for n in traced_sizes:
        child = run_child(["-m", "benchmarks.memory", str(n), "--tracemalloc"])
        measurements.append(Measurement("memory", f"traced_per_task.{n}", child["traced_peak"] / n, "bytes/task",
                                        "tracemalloc peak / n, fresh process", "threads", n=n,
                                        runs=[child["seconds"]], workers=_WORKERS,
                                        extra={"traced_peak": child["traced_peak"]}))
        say(f"memory n={n}: {child['traced_peak'] / n:,.0f} B/task traced")
    return measurements


def _peak_rss() -> dict[str, int | None]:
    return {"ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _KIB, "vm_hwm": peak_rss()}


def _child(n: int, trace: bool) -> None:
    from legato import flow
    from legato.runners.threads import ThreadPoolTaskRunner

    from benchmarks.workloads import noop

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=WORKERS["threads"]))
    def bench(n: int) -> None:
        noop.map(range(n)).wait()

    bench(10)
    baseline = _peak_rss()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    bench(n)
    seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
    print_result({"n": n, "seconds": seconds, "baseline": baseline, "peak": _peak_rss(),
                  "traced_peak": traced_peak})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one memory measurement (a child of python -m benchmarks)")
    parser.add_argument("n", type=int)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    _child(args.n, args.tracemalloc)
