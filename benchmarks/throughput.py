"""Throughput: every workload on one runner, legato and raw, back to back.

For each runner the backend is opened once (:mod:`benchmarks.backends`) and
warmed up (50 no-op tasks on each side, legato first so the process runner's
forkserver preloads its worker module). Then each workload runs ``repeat``
times, alternating legato and raw so load changes on a shared machine hit
both sides alike; the best run counts. The peak RSS of this process during
each side's runs is kept too (``extra["process_peak_rss"]``, Linux only).
Every run's value is checked, so a
fast wrong answer fails instead of being reported, and every run has a
deadline (:func:`call_timeout`): a run that hangs is reported as such, and
if the runner then fails the warm-up again its remaining workloads are
skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from benchmarks.measure import Measurement, TimedOut, peak_rss, reset_peak_rss, say, timed
from benchmarks.settings import SLEEP_SECONDS, Plan

UNITS = {"noop_map": "tasks/s", "chain": "links/s", "fan": "tasks/s", "sleep_map": "concurrency",
         "one_task": "flows/s", "partition_map": "partitions/s"}
#: workloads only some runners run (the others skip them)
ONLY_ON = {"partition_map": ("dask",)}
WORKLOADS = tuple(UNITS)


def call_timeout(n: int) -> float:
    """Seconds one call of ``n`` tasks may take: a minute, plus 5 ms per task (200 tasks/s)."""
    return 60 + 0.005 * n


@dataclass
class RunnerResult:
    runner: str
    available: bool
    workers: str | None = None
    error: str | None = None
    errors: dict[str, str] = field(default_factory=dict)  # workload -> what went wrong
    measurements: list[Measurement] = field(default_factory=list)


def run(runner: str, plan: Plan, workloads: Collection[str] = WORKLOADS, sizes: Collection[int] = (),
        peers: dict[str, Any] | None = None) -> RunnerResult:
    """The ``workloads`` of ``plan`` on ``runner``; never raises for a broken runner.

    ``sizes`` replaces the plan's no-op map sizes. ``peers`` (the status
    entries of :func:`benchmarks.peers.status`) run the same workloads on
    the same backend afterwards; their measurements have ``side="peer"``.
    """
    from benchmarks.backends import open_backend

    stack = ExitStack()
    try:
        backend = stack.enter_context(open_backend(runner))
        _warm_up(backend)
    except (Exception, TimedOut) as error:  # missing package, a runner mid-rewrite, a cluster that won't start
        say(f"{runner}: unavailable: {describe(error)}")
        _close(stack, runner, {})
        if peers:
            from benchmarks import peers as peer_sides

            peer_sides.runner_unavailable(runner, peers, describe(error))
        return RunnerResult(runner, available=False, error=describe(error))
    result = RunnerResult(runner, available=True, workers=backend.workers)
    try:
        for workload, n in _jobs(plan, sizes):
            if workload not in workloads or runner not in ONLY_ON.get(workload, (runner,)):
                continue
            try:
                result.measurements += _measure(backend, workload, n, plan.repeat_for(n))
            except (Exception, TimedOut) as error:
                say(f"{runner} {workload} n={n}: failed: {describe(error)}")
                result.errors[f"{workload}[{n}]"] = describe(error)
                if isinstance(error, TimedOut) and not _still_works(backend):
                    result.errors["skipped"] = "the remaining workloads: the runner no longer works after a timeout"
                    break
        if peers:
            from benchmarks import peers as peer_sides

            jobs = [(workload, n) for workload, n in _jobs(plan, sizes) if workload in workloads]
            result.measurements += peer_sides.measure(backend, plan, jobs, peers)
    finally:
        _close(stack, runner, result.errors)
    return result


def _close(stack: ExitStack, runner: str, errors: dict[str, str]) -> None:
    """Shut the backend down; one that fails to (a Dask client that lost its scheduler) loses no numbers."""
    try:
        stack.close()
    except Exception as error:  # noqa: BLE001
        say(f"{runner}: shutting down failed: {describe(error)}")
        errors["shutdown"] = describe(error)


def _still_works(backend: Any) -> bool:
    try:
        _warm_up(backend)
    except (Exception, TimedOut):
        return False
    return True


def _jobs(plan: Plan, sizes: Collection[int]) -> Iterator[tuple[str, int]]:
    for n in sizes or plan.noop_sizes:
        yield "noop_map", n
    yield "chain", plan.chain_links
    yield "fan", plan.fan_size
    yield "sleep_map", plan.sleep_tasks
    yield "one_task", plan.one_task_flows
    yield "partition_map", plan.partitions


def _warm_up(backend: Any) -> None:
    from benchmarks.workloads import legato_workload

    for call in [legato_workload("noop_map", backend.legato), *(side.noop_map for side in backend.raws)]:
        check("noop_map", 50, timed(partial(call, 50), call_timeout(50))[1])


def _measure(backend: Any, workload: str, n: int, repeat: int) -> list[Measurement]:
    """Every side of ``workload``, alternating, ``repeat`` times.

    A raw side that fails (a backend's own client giving up, say) is dropped,
    and its error kept in legato's measurement (``extra["raw_failed"]``);
    legato's side failing fails the workload.
    """
    from benchmarks.workloads import legato_workload

    sides: list[tuple[str, str, Callable[[int], Any]]] = [
        ("legato", repr(backend.legato), legato_workload(workload, backend.legato))]
    sides += [("raw", side.method, getattr(side, workload)) for side in backend.raws if hasattr(side, workload)]
    runs: list[list[float]] = [[] for _ in sides]
    peaks: list[list[int]] = [[] for _ in sides]
    failed: dict[int, str] = {}  # raw sides that failed: index -> why
    for _ in range(repeat):
        for index, (times, rss, (side, method, call)) in enumerate(zip(runs, peaks, sides)):
            if index in failed:
                continue
            reset_peak_rss()
            try:
                seconds, value = timed(partial(call, n), call_timeout(n))
            except (Exception, TimedOut) as error:
                if side == "legato":
                    raise
                failed[index] = describe(error)
                say(f"{backend.runner:>9} {workload:<9} n={n:<7} raw    failed: {failed[index]}  ({method})")
                continue
            rss.append(peak_rss() or 0)
            check(workload, n, value)
            times.append(seconds)
    measurements = []
    for index, ((side, method, _), times, rss) in enumerate(zip(sides, runs, peaks)):
        if not times:
            continue
        m = _measurement(backend, workload, n, side, method, times)
        m.extra["process_peak_rss"] = max(rss) or None
        measurements.append(m)
        peak = m.extra["process_peak_rss"]
        say(f"{backend.runner:>9} {workload:<9} n={n:<7} {m.side:<6} {m.value:>12,.1f} {m.unit}  ({m.method})"
            + (f"  peak RSS {peak / 2**20:,.0f} MiB" if peak else ""))
    if failed:
        measurements[0].extra["raw_failed"] = {sides[index][1]: why for index, why in failed.items()}
    return measurements


def _measurement(backend: Any, workload: str, n: int, side: str, method: str, runs: list[float]) -> Measurement:
    best = min(runs)
    value = n * SLEEP_SECONDS / best if workload == "sleep_map" else n / best
    return Measurement("throughput", workload, value, UNITS[workload], method, runner=backend.runner, side=side,
                       n=n, runs=runs, workers=backend.workers)


def check(workload: str, n: int, value: Any) -> None:
    expected = {"chain": n, "fan": n * (n - 1) // 2}.get(workload, list(range(n)))
    if value != expected:
        raise AssertionError(f"{workload}({n}) returned a wrong value: {str(value)[:80]}")


def describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 300 else text[:297] + "..."
