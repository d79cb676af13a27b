"""Prefect's side, in a child process: ``python -m benchmarks.peers.prefect_child SPEC``.

``SPEC`` is a JSON object: ``runner`` (threads, processes, dask or ray: the
legato runner compared with), ``address`` (the Dask scheduler's or Ray's),
``workers``, ``jobs`` (``[workload, n]`` pairs), ``budget`` (seconds per
workload) and ``repeat`` (runs at full size). The child builds the Prefect
task runner on the same workers (``ThreadPoolTaskRunner(max_workers=4)``,
``ProcessPoolTaskRunner(max_workers=2)``, ``prefect_dask.DaskTaskRunner`` on
the parent's ``LocalCluster``, ``prefect_ray.RayTaskRunner`` on its Ray),
runs one untimed flow (which starts Prefect's temporary local server), then
the workloads within the budget (:mod:`benchmarks.peers.budget`). Its
stdout holds progress lines (``progress: ...``), then the result as one
JSON line.

Prefect runs here rather than in the suite's process because it configures
logging, starts a server process and keeps event loops of its own; its
environment (``PREFECT_HOME`` and friends) comes from the parent
(:func:`benchmarks.peers.prefect_side.environment`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from benchmarks import functions as fn
from benchmarks.peers.budget import run_jobs
from benchmarks.settings import SLEEP_SECONDS
from benchmarks.subprocess_run import print_result


def task_runner(runner: str, workers: int, address: str | None) -> tuple[Any, str]:
    """Prefect's task runner compared with legato's ``runner``, and how it is set up."""
    if runner == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers), f"ThreadPoolTaskRunner(max_workers={workers})"
    if runner == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=workers), f"ProcessPoolTaskRunner(max_workers={workers})"
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=address), "prefect_dask.DaskTaskRunner(address=<the LocalCluster>)"
    if runner == "ray":
        from prefect_ray import RayTaskRunner

        return RayTaskRunner(address=address), "prefect_ray.RayTaskRunner(address=<the local Ray>)"
    raise ValueError(f"no Prefect runner for {runner!r}")


def workloads(runner: Any) -> dict[str, Callable[[int], Any]]:
    """The workloads of :mod:`benchmarks.workloads`, written as Prefect flows on ``runner``."""
    from prefect import flow, task, unmapped

    options = {"persist_result": False, "log_prints": False}
    noop = task(fn.noop, name="noop", **options)
    inc = task(fn.inc, name="inc", **options)
    total = task(fn.total, name="total", **options)
    nap = task(fn.nap, name="nap", **options)

    @flow(name="bench-noop-map", task_runner=runner, persist_result=False)
    def noop_map(n: int) -> list[int]:
        return noop.map(range(n)).result()

    @flow(name="bench-chain", task_runner=runner, persist_result=False)
    def chain(n: int) -> int:
        x: Any = 0
        for _ in range(n):
            x = inc.submit(x)
        return x.result()

    @flow(name="bench-fan", task_runner=runner, persist_result=False)
    def fan(n: int) -> int:
        return total.submit(noop.map(range(n))).result()

    @flow(name="bench-sleep-map", task_runner=runner, persist_result=False)
    def sleep_map(n: int) -> list[int]:
        return nap.map(range(n), unmapped(SLEEP_SECONDS)).result()

    @flow(name="bench-one-task", task_runner=runner, persist_result=False)
    def one_task(x: int) -> int:
        return noop.submit(x).result()

    return {"noop_map": noop_map, "chain": chain, "fan": fan, "sleep_map": sleep_map,
            "one_task": lambda n: [one_task(i) for i in range(n)]}


#: what starts a progress line on stdout (Prefect's own output goes to stderr, where it may share lines)
PROGRESS = "progress: "


def progress(text: str) -> None:
    print(PROGRESS + text, flush=True)


def main(spec: dict[str, Any]) -> dict[str, Any]:
    runner, method = task_runner(spec["runner"], spec["workers"], spec.get("address"))
    flows = workloads(runner)
    flows["one_task"](1)  # starts the temporary server; not measured
    method = method if method.startswith("prefect_") else f"prefect {method}"
    result = run_jobs(flows.get, [tuple(job) for job in spec["jobs"]], peer="prefect", runner=spec["runner"],
                      method=method, workers=spec.get("workers_text"), budget=spec["budget"],
                      repeat_for=lambda n: spec["repeat"] if n < 100_000 else 1, report=progress)
    return {"method": method, "measurements": [asdict(m) for m in result.measurements],
            "errors": result.errors, "not_applicable": result.not_applicable}


if __name__ == "__main__":
    print_result(main(json.loads(sys.argv[1])))
