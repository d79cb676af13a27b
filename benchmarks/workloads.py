"""The workloads as legato flows.

Each workload is a function ``(runner, n) -> value`` that builds a flow on
``runner`` and calls it; the caller times that call, so a measurement runs
from the flow call to the flow's return and includes starting and stopping
the runner (a pool of threads or processes, a client connection to a running
Dask cluster, nothing for a running Ray).

* ``noop_map``: ``noop.map(range(n)).result()``: tasks/s;
* ``chain``: ``x = inc.submit(x)`` ``n`` times, the flow returns ``x``: links/s;
* ``fan``: ``total.submit(noop.map(range(n)))``: a fan-out of ``n`` tasks and
  one task summing them: tasks/s;
* ``sleep_map``: ``nap.map(range(n), unmapped(0.01))``: achieved concurrency
  ``n * 0.01 / wall time``, to compare with the worker count;
* ``one_task``: ``n`` calls of a flow of one no-op task: flows/s (the fixed
  cost of a flow on this runner);
* ``partition_map``: ``block_index.map(arr.to_delayed().ravel(), ...)`` over
  the ``n`` 4 MB blocks of a Dask array (Dask runner only): partitions/s;
  each call maps a fresh array, so no side finds the other's blocks computed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from legato import Flow, task, unmapped

from benchmarks import functions as fn
from benchmarks.settings import PARTITION_ELEMENTS, SLEEP_SECONDS

noop = task(fn.noop, name="noop")
inc = task(fn.inc, name="inc")
total = task(fn.total, name="total")
nap = task(fn.nap, name="nap")
block_index = task(fn.block_index, name="block_index")

#: numbers the arrays of ``partition_map``, on both sides, so each call's blocks are new to Dask
array_numbers = itertools.count()


def fresh_array(n: int) -> tuple[Any, int]:
    """A Dask array of ``n`` blocks never computed before, and where it starts."""
    import dask.array as da

    start = next(array_numbers) * n * PARTITION_ELEMENTS
    return da.arange(start, start + n * PARTITION_ELEMENTS, chunks=PARTITION_ELEMENTS), start


def _noop_map(n: int) -> list[int]:
    return noop.map(range(n)).result()


def _chain(n: int) -> Any:
    x: Any = 0
    for _ in range(n):
        x = inc.submit(x)
    return x


def _fan(n: int) -> Any:
    return total.submit(noop.map(range(n)))


def _sleep_map(n: int) -> list[int]:
    return nap.map(range(n), unmapped(SLEEP_SECONDS)).result()


def _one_task(x: int) -> int:
    return noop.submit(x)


def _partition_map(n: int) -> list[int]:
    arr, start = fresh_array(n)
    return block_index.map(arr.to_delayed().ravel(), start, PARTITION_ELEMENTS).result()


BODIES: dict[str, Callable[[int], Any]] = {
    "noop_map": _noop_map,
    "chain": _chain,
    "fan": _fan,
    "sleep_map": _sleep_map,
    "one_task": _one_task,
    "partition_map": _partition_map,
}


def legato_workload(name: str, runner: Any) -> Callable[[int], Any]:
    """``run(n)``: one call of the workload's flow on ``runner`` (``n`` calls for ``one_task``)."""
    bench = Flow(BODIES[name], name=f"bench-{name}", task_runner=runner)
    if name == "one_task":
        return lambda n: [bench(i) for i in range(n)]
    return bench
