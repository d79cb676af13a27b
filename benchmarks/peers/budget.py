"""Measuring a peer within a time budget: fit ``n`` to the peer's speed.

Some peers run a few hundred tasks per second, or fewer than ten (Prefect
off its thread pool), so the suite's sizes (100k no-ops, 1,000-link chains)
would take hours. For each workload a probe grows by 4x from a few tasks
until one call takes a tenth of the budget (or reaches the requested
``n``; at least two probes, unless one alone takes the whole budget); the measured run then uses the ``n`` the
probes say fits the budget (at most ten times the last probe's),
rounded down to two significant digits, at most the requested one. The
probes, and one warm-up call of one task before them, are discarded. A workload at the
requested ``n`` runs up to ``repeat`` times within the budget, best run
counting, like legato's; a reduced one runs once, and its measurement says
which ``n`` was asked for (``extra["requested_n"]``).

Used in this process for the in-process peers and in Prefect's child
process, so it imports neither legato nor any peer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from benchmarks.measure import Measurement, TimedOut, say, timed
from benchmarks.settings import SLEEP_SECONDS
from benchmarks.throughput import UNITS, check, describe

#: the first probe's size per workload
PROBE_START = {"noop_map": 20, "chain": 10, "fan": 20, "sleep_map": 8, "one_task": 1}
GROWTH = 4


@dataclass
class SideResult:
    """What one peer side measured, and what it could not."""

    measurements: list[Measurement] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # "workload[n]" -> what went wrong
    not_applicable: dict[str, str] = field(default_factory=dict)  # workload -> why


def call_timeout(budget: float) -> float:
    """Seconds one call may take: three budgets and a minute."""
    return 60 + 3 * budget


def nice_floor(value: float) -> int:
    """``value`` rounded down to two significant digits (2,987 -> 2,900), at least 1."""
    if value < 1:
        return 1
    scale = 10 ** max(0, int(math.log10(value)) - 1)
    return max(1, int(value // scale) * scale)


def fit(call: Callable[[int], Any], workload: str, n: int, budget: float) -> tuple[int, float]:
    """The ``n`` (at most the requested one) that one call fits in ``budget``, and that call's estimated seconds.

    The last two probes separate a call's fixed cost (a Prefect flow's start,
    a pool's) from its cost per task, so a peer with a large fixed cost is not
    cut to a handful of tasks.
    """
    k = min(n, PROBE_START[workload])
    check(workload, 1, timed(partial(call, 1), call_timeout(budget))[1])  # warm-up: imports, pools, a first flow
    previous: tuple[int, float] | None = None
    while True:
        seconds, value = timed(partial(call, k), call_timeout(budget))
        check(workload, k, value)
        if k >= n or seconds >= budget or (seconds >= budget / 10 and previous is not None):
            break
        previous, k = (k, seconds), min(n, k * GROWTH)
    per_item, fixed = seconds / k, 0.0
    if previous is not None and seconds > previous[1]:
        per_item = (seconds - previous[1]) / (k - previous[0])
        fixed = max(0.0, seconds - per_item * k)
    if fixed + per_item * n <= budget:
        return n, fixed + per_item * n
    # at most 10x the last probe: a peer's cost per task may grow with n (Prefect's does)
    fitted = min(n, 10 * k, max(k, nice_floor((budget - fixed) / per_item + 1e-6)))  # 899.9999 is 900
    return fitted, fixed + per_item * fitted


def run_jobs(call_for: Callable[[str], Callable[[int], Any] | None], jobs: Iterable[tuple[str, int]], *,
             peer: str, runner: str, method: str, workers: str | None, budget: float,
             repeat_for: Callable[[int], int], not_applicable: dict[str, str] | None = None,
             report: Callable[[str], None] = say) -> SideResult:
    """Every job ``(workload, n)`` on one peer side; never raises for a failing workload.

    ``call_for(workload)`` is the side's ``run(n)`` for that workload, or None
    if it has none (then ``not_applicable`` says why). ``report`` shows a
    progress line per measurement. A workload reduced at
    one ``n`` is not measured again at a larger one: the same measurement
    answers both (``requested_n`` lists them).
    """
    result = SideResult()
    reduced: dict[str, Measurement] = {}
    for workload, n in jobs:
        call = call_for(workload)
        if call is None:
            result.not_applicable[workload] = (not_applicable or {}).get(workload, "does not apply")
            continue
        if workload in reduced and reduced[workload].n is not None and reduced[workload].n < n:
            reduced[workload].extra["requested_n"].append(n)
            continue
        try:
            m = _measure(call, workload, n, peer=peer, runner=runner, method=method, workers=workers,
                         budget=budget, repeat=repeat_for(n), report=report)
        except (Exception, TimedOut) as error:
            result.errors[f"{workload}[{n}]"] = describe(error)
            report(f"{runner:>9} {workload:<9} n={n:<7} {peer:<13} failed: {describe(error)}")
            continue
        result.measurements.append(m)
        if m.extra["reduced"]:
            reduced[workload] = m
    return result


def _measure(call: Callable[[int], Any], workload: str, n: int, *, peer: str, runner: str, method: str,
             workers: str | None, budget: float, repeat: int, report: Callable[[str], None]) -> Measurement:
    fitted, estimate = fit(call, workload, n, budget)
    runs = 1 if fitted < n else max(1, min(repeat, int(budget // max(estimate, 1e-9))))
    times = []
    for _ in range(runs):
        seconds, value = timed(partial(call, fitted), call_timeout(budget))
        check(workload, fitted, value)
        times.append(seconds)
    best = min(times)
    value = fitted * SLEEP_SECONDS / best if workload == "sleep_map" else fitted / best
    m = Measurement("throughput", workload, value, UNITS[workload], method, runner=runner, side="peer", n=fitted,
                    runs=times, workers=workers,
                    extra={"peer": peer, "requested_n": [n], "reduced": fitted < n, "budget_seconds": budget})
    mark = f" (n={fitted:,} of {n:,})" if fitted < n else ""
    report(f"{runner:>9} {workload:<9} n={n:<7} {peer:<13} {value:>12,.1f} {m.unit}  ({method}){mark}")
    return m
