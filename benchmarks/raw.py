"""The workloads on the raw backends, written the plain way for each.

Every class has one method per workload of :mod:`benchmarks.workloads`,
taking ``n`` and returning the same value as the legato flow:

=============  ====================================================================
class          how
=============  ====================================================================
``Loop``       plain calls in this thread (compared with the sync runner)
``Pool``       ``ThreadPoolExecutor`` / ``ProcessPoolExecutor``: ``submit`` per
               task, then ``result()`` per future; a chain link waits for the
               previous result; the fan-in is submitted once every result is in.
               The pool is created and shut down inside each call, as a legato
               flow starts and stops its runner.
``Dask``       ``client.submit(..., pure=False)`` per task then ``client.gather``;
               futures passed as arguments, so Dask resolves the dependencies.
``Ray``        ``ray.remote(f).remote(...)`` per task then ``ray.get``; object
               refs passed as top-level arguments.
=============  ====================================================================

Two more raw sides for the no-op map only, the fastest plain ways to map:
``ProcessPoolExecutor.map(chunksize=...)`` (:class:`ChunkedProcessMap`) and
``client.map`` (:class:`DaskMap`, also the raw side of ``partition_map``:
``client.compute`` of the blocks, then ``client.map`` over their futures).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from benchmarks.functions import block_index, inc, nap, noop, total, total_of
from benchmarks.settings import PARTITION_ELEMENTS, SLEEP_SECONDS


class Loop:
    method = "plain calls"

    def noop_map(self, n: int) -> list[int]:
        return [noop(i) for i in range(n)]

    def chain(self, n: int) -> int:
        x = 0
        for _ in range(n):
            x = inc(x)
        return x

    def fan(self, n: int) -> int:
        return total([noop(i) for i in range(n)])

    def sleep_map(self, n: int) -> list[int]:
        return [nap(i, SLEEP_SECONDS) for i in range(n)]

    def one_task(self, n: int) -> list[int]:
        return [noop(i) for i in range(n)]


class Pool:
    def __init__(self, make_pool: Callable[[], Executor], method: str) -> None:
        self.make_pool = make_pool
        self.method = method

    def noop_map(self, n: int) -> list[int]:
        with self.make_pool() as pool:
            futures = [pool.submit(noop, i) for i in range(n)]
            return [f.result() for f in futures]

    def chain(self, n: int) -> int:
        x = 0
        with self.make_pool() as pool:
            for _ in range(n):
                x = pool.submit(inc, x).result()
        return x

    def fan(self, n: int) -> int:
        with self.make_pool() as pool:
            futures = [pool.submit(noop, i) for i in range(n)]
            return pool.submit(total, [f.result() for f in futures]).result()

    def sleep_map(self, n: int) -> list[int]:
        with self.make_pool() as pool:
            futures = [pool.submit(nap, i, SLEEP_SECONDS) for i in range(n)]
            return [f.result() for f in futures]

    def one_task(self, n: int) -> list[int]:
        values = []
        for i in range(n):
            with self.make_pool() as pool:
                values.append(pool.submit(noop, i).result())
        return values


class ChunkedProcessMap:
    """``ProcessPoolExecutor.map(noop, range(n), chunksize=...)``: no-op map only."""

    def __init__(self, workers: int, method: str = "forkserver") -> None:
        self.workers = workers
        self.context = multiprocessing.get_context(method)
        self.method = f"ProcessPoolExecutor.map(chunksize=n/{4 * workers})"

    def noop_map(self, n: int) -> list[int]:
        chunksize = max(1, n // (4 * self.workers))
        with ProcessPoolExecutor(self.workers, mp_context=self.context) as pool:
            return list(pool.map(noop, range(n), chunksize=chunksize))


def threads(workers: int) -> Pool:
    return Pool(lambda: ThreadPoolExecutor(workers), "ThreadPoolExecutor.submit + result")


def processes(workers: int, method: str = "forkserver") -> Pool:
    """Same start method as legato's process runner (forkserver), so start-up costs compare."""
    context = multiprocessing.get_context(method)
    return Pool(lambda: ProcessPoolExecutor(workers, mp_context=context), "ProcessPoolExecutor.submit + result")


class DaskClient:
    """The raw sides' Dask client, made again if it lost the scheduler.

    100,000 ``Client.submit`` calls on 2 cores can keep the scheduler busy past
    Dask's TCP timeout; the client then gives up for good, and every raw
    workload after it would fail too. A fresh client lets them run.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        self._client: Any = None

    def get(self) -> Any:
        from distributed import Client

        if self._client is None or self._client.status != "running":
            self.close()
            self._client = Client(self.address, set_as_default=False)
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close(timeout=10)
            except Exception:  # noqa: BLE001  (a client that lost its scheduler may fail to close)
                pass


class Dask:
    method = "Client.submit + gather"

    def __init__(self, client: DaskClient) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        return self._client.get()

    def _submit(self, f: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(f, *args, pure=False)

    def noop_map(self, n: int) -> list[int]:
        return self.client.gather([self._submit(noop, i) for i in range(n)])

    def chain(self, n: int) -> int:
        x: Any = 0
        for _ in range(n):
            x = self._submit(inc, x)
        return x.result()

    def fan(self, n: int) -> int:
        return self._submit(total, [self._submit(noop, i) for i in range(n)]).result()

    def sleep_map(self, n: int) -> list[int]:
        return self.client.gather([self._submit(nap, i, SLEEP_SECONDS) for i in range(n)])

    def one_task(self, n: int) -> list[int]:
        return [self._submit(noop, i).result() for i in range(n)]


class DaskMap:
    """``client.map(noop, range(n))`` then ``client.gather``: no-op map only."""

    method = "Client.map + gather"

    def __init__(self, client: DaskClient) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        return self._client.get()

    def noop_map(self, n: int) -> list[int]:
        return self.client.gather(self.client.map(noop, range(n), pure=False))

    def partition_map(self, n: int) -> list[int]:
        """``client.compute`` of the blocks, then ``client.map`` over their futures (legato's partition map)."""
        from benchmarks.workloads import fresh_array

        arr, start = fresh_array(n)
        blocks = self.client.compute(arr.to_delayed().ravel().tolist())
        return self.client.gather(self.client.map(block_index, blocks, start=start, size=PARTITION_ELEMENTS,
                                                  pure=False))


class Ray:
    method = "ray.remote + ray.get"

    def __init__(self) -> None:
        import ray

        self.ray = ray
        self.noop, self.inc, self.nap, self.total_of = (ray.remote(f) for f in (noop, inc, nap, total_of))

    def noop_map(self, n: int) -> list[int]:
        return self.ray.get([self.noop.remote(i) for i in range(n)])

    def chain(self, n: int) -> int:
        x: Any = 0
        for _ in range(n):
            x = self.inc.remote(x)
        return self.ray.get(x)

    def fan(self, n: int) -> int:
        return self.ray.get(self.total_of.remote(*[self.noop.remote(i) for i in range(n)]))

    def sleep_map(self, n: int) -> list[int]:
        return self.ray.get([self.nap.remote(i, SLEEP_SECONDS) for i in range(n)])

    def one_task(self, n: int) -> list[int]:
        return [self.ray.get(self.noop.remote(i)) for i in range(n)]
