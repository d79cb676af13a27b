"""The workloads as ``dask.delayed`` graphs on Dask's threaded scheduler.

Compared with legato's thread runner: the same 4 threads
(``dask.compute(..., scheduler="threads", num_workers=4)``), no cluster.
Each call builds the graph and computes it, as a legato flow builds and runs
its tasks; a chain is ``n`` delayed calls each taking the previous one, a
fan-in one delayed call taking the list of the map's, and a one-task "flow"
one ``dask.compute`` of one delayed call.
"""

from __future__ import annotations

from typing import Any

from benchmarks.functions import inc, nap, noop, total
from benchmarks.settings import SLEEP_SECONDS


class DaskDelayed:
    def __init__(self, workers: int) -> None:
        import dask

        self.dask = dask
        self.workers = workers
        self.method = f'dask.delayed, compute(scheduler="threads", num_workers={workers})'

    def _compute(self, *graphs: Any) -> tuple[Any, ...]:
        return self.dask.compute(*graphs, scheduler="threads", num_workers=self.workers)

    def noop_map(self, n: int) -> list[int]:
        delayed = self.dask.delayed(noop, pure=False)
        return list(self._compute([delayed(i) for i in range(n)])[0])

    def chain(self, n: int) -> int:
        delayed = self.dask.delayed(inc, pure=False)
        x: Any = 0
        for _ in range(n):
            x = delayed(x)
        return self._compute(x)[0]

    def fan(self, n: int) -> int:
        delayed = self.dask.delayed(noop, pure=False)
        return self._compute(self.dask.delayed(total, pure=False)([delayed(i) for i in range(n)]))[0]

    def sleep_map(self, n: int) -> list[int]:
        delayed = self.dask.delayed(nap, pure=False)
        return list(self._compute([delayed(i, SLEEP_SECONDS) for i in range(n)])[0])

    def one_task(self, n: int) -> list[int]:
        delayed = self.dask.delayed(noop, pure=False)
        return [self._compute(delayed(i))[0] for i in range(n)]
