"""Peers: the same workloads on other Python task systems, next to legato and raw.

    python -m benchmarks --peers prefect,dask-delayed,joblib

Each peer has sides, one per legato runner it is compared with, on the same
workers as that runner and its raw backend (:mod:`benchmarks.settings`):

=============  ===========================================================================
peer           sides
=============  ===========================================================================
prefect        threads: ``ThreadPoolTaskRunner(max_workers=4)``; processes:
               ``ProcessPoolTaskRunner(max_workers=2)``; dask:
               ``prefect_dask.DaskTaskRunner`` on the suite's ``LocalCluster``; ray:
               ``prefect_ray.RayTaskRunner`` on the suite's Ray. In a child process per
               side (:mod:`benchmarks.peers.prefect_side`).
dask-delayed   threads: ``dask.delayed``, ``compute(scheduler="threads", num_workers=4)``
joblib         threads: ``Parallel(n_jobs=4, prefer="threads")``; processes:
               ``Parallel(n_jobs=2)`` (loky). No chain or fan-in.
=============  ===========================================================================

A runner's sides run after its legato and raw workloads, while its backend
(cluster, Ray) is still up. Every peer workload has a time budget
(:mod:`benchmarks.peers.budget`): a slow peer runs a smaller ``n``, which
its measurement and the tables show. A peer that is not installed is
skipped with one line; a side that fails is recorded and the suite goes on.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks.measure import Measurement, TimedOut, say
from benchmarks.peers.budget import SideResult, run_jobs
from benchmarks.settings import WORKERS, Plan
from benchmarks.throughput import describe

PEERS = ("prefect", "dask-delayed", "joblib")
#: the packages each peer needs, by import name, and how to install them
REQUIRES = {"prefect": ("prefect",), "dask-delayed": ("dask",), "joblib": ("joblib",)}
INSTALL = "pip install prefect prefect-dask prefect-ray joblib"


def missing(peer: str) -> str | None:
    """Why ``peer`` cannot run here (a package is not installed), or None."""
    absent = [name for name in REQUIRES[peer] if importlib.util.find_spec(name) is None]
    return f"not installed ({', '.join(absent)}; {INSTALL})" if absent else None


def status(peers: Iterable[str]) -> dict[str, Any]:
    """The JSON's ``peers`` entry to start from: every requested peer, installed or not (one line each if not)."""
    entries: dict[str, Any] = {}
    for peer in peers:
        why = missing(peer)
        entries[peer] = {"available": why is None, "error": why, "sides": {}}
        if why:
            say(f"{peer}: skipped: {why}")
    return entries


def measure(backend: Any, plan: Plan, jobs: list[tuple[str, int]], entries: dict[str, Any]) -> list[Measurement]:
    """Every installed peer's side for ``backend``'s runner; records each side's errors in ``entries``."""
    measurements: list[Measurement] = []
    for peer, entry in entries.items():
        if not entry["available"]:
            continue
        for runner, measure_side in _sides(peer).items():
            if runner != backend.runner:
                continue
            try:
                method, result = measure_side(backend, plan, jobs)
            except (Exception, TimedOut) as error:
                say(f"{backend.runner:>9} {peer}: failed: {describe(error)}")
                entry["sides"][runner] = {"method": None, "error": describe(error), "errors": {},
                                          "not_applicable": {}}
                continue
            entry["sides"][runner] = {"method": method, "error": None, "errors": result.errors,
                                      "not_applicable": result.not_applicable}
            measurements += result.measurements
    return measurements


def runner_unavailable(runner: str, entries: dict[str, Any], why: str) -> None:
    """Record, for every installed peer with a side on ``runner``, that it did not run because the runner could not."""
    for peer, entry in entries.items():
        if entry["available"] and runner in _side_runners(peer):
            entry["sides"][runner] = {"method": None, "error": f"not run: the {runner} runner is unavailable: {why}",
                                      "errors": {}, "not_applicable": {}}


def _side_runners(peer: str) -> tuple[str, ...]:
    return {"prefect": tuple(_prefect_runners()), "dask-delayed": ("threads",),
            "joblib": ("threads", "processes")}[peer]


Side = Callable[[Any, Plan, list[tuple[str, int]]], tuple[str, SideResult]]


def _sides(peer: str) -> dict[str, Side]:
    if peer == "prefect":
        return {runner: _prefect(runner) for runner in _prefect_runners()}
    if peer == "dask-delayed":
        return {"threads": _in_process("dask-delayed", lambda: _dask_delayed(WORKERS["threads"]))}
    if peer == "joblib":
        return {"threads": _in_process("joblib", lambda: _joblib(WORKERS["threads"], "threads")),
                "processes": _in_process("joblib", lambda: _joblib(WORKERS["processes"], None))}
    raise ValueError(f"unknown peer {peer!r}")


def _prefect_runners() -> dict[str, str | None]:
    """Prefect's runners, without importing Prefect's side before it is needed."""
    from benchmarks.peers.prefect_side import RUNNERS

    return RUNNERS


def _prefect(runner: str) -> Side:
    def side(backend: Any, plan: Plan, jobs: list[tuple[str, int]]) -> tuple[str, SideResult]:
        from benchmarks.peers import prefect_side

        package = prefect_side.RUNNERS[runner]
        if package and importlib.util.find_spec(package) is None:
            raise ModuleNotFoundError(f"{package} is not installed ({INSTALL})")
        return prefect_side.run(runner, WORKERS[runner], backend.workers, backend.address, jobs,
                                plan.peer_budget, plan.repeat)
    return side


def _in_process(peer: str, make: Callable[[], Any]) -> Side:
    def side(backend: Any, plan: Plan, jobs: list[tuple[str, int]]) -> tuple[str, SideResult]:
        workloads = make()
        return workloads.method, run_jobs(
            lambda workload: getattr(workloads, workload, None), jobs, peer=peer, runner=backend.runner,
            method=workloads.method, workers=backend.workers, budget=plan.peer_budget,
            repeat_for=plan.repeat_for, not_applicable=getattr(workloads, "not_applicable", None))
    return side


def _dask_delayed(workers: int) -> Any:
    from benchmarks.peers.dask_delayed import DaskDelayed

    return DaskDelayed(workers)


def _joblib(workers: int, prefer: str | None) -> Any:
    from benchmarks.peers.joblib_side import Joblib

    return Joblib(workers, prefer)
