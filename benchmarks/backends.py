"""One backend per runner, shared by legato and the raw side.

:func:`open_backend` starts what a runner needs once (a Dask
``LocalCluster``, a local Ray) and yields a :class:`Backend`: the legato
runner to give the flows, the raw side(s) to compare with, and the worker
count both use. Dask and Ray reach legato by address, so cluster start-up is
counted on neither side. A runner whose module or backend cannot be imported
raises here; the caller reports it as unavailable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from benchmarks import raw
from benchmarks.settings import WORKERS


@dataclass
class Backend:
    runner: str
    workers: str  # how both sides are set up, for the output
    legato: Any  # the TaskRunner the flows use
    raws: list[Any] = field(default_factory=list)  # first one: the raw side of every workload
    address: str | None = None  # the Dask scheduler's or Ray's, for peers on the same cluster


@contextmanager
def open_backend(name: str) -> Iterator[Backend]:
    opener = {"sync": _sync, "threads": _threads, "processes": _processes, "dask": _dask, "ray": _ray}[name]
    with opener(WORKERS[name]) as backend:
        yield backend


@contextmanager
def _sync(workers: int) -> Iterator[Backend]:
    from legato.runners.sync import SyncTaskRunner

    yield Backend("sync", "this thread", SyncTaskRunner(), [raw.Loop()])


@contextmanager
def _threads(workers: int) -> Iterator[Backend]:
    from legato.runners.threads import ThreadPoolTaskRunner

    yield Backend("threads", f"{workers} threads", ThreadPoolTaskRunner(max_workers=workers), [raw.threads(workers)])


@contextmanager
def _processes(workers: int) -> Iterator[Backend]:
    from legato.runners.processes import ProcessPoolTaskRunner

    runner = ProcessPoolTaskRunner(max_workers=workers)
    sides = [raw.processes(workers, runner.start_method), raw.ChunkedProcessMap(workers, runner.start_method)]
    yield Backend("processes", f"{workers} processes ({runner.start_method})", runner, sides)


@contextmanager
def _dask(workers: int) -> Iterator[Backend]:
    import dask
    from distributed import LocalCluster

    from legato.runners.dask import DaskTaskRunner

    # Both sides: a scheduler busy with 100k single submissions on 2 cores can
    # stay silent longer than the default 30 s, and a client then gives up.
    with dask.config.set({"distributed.comm.timeouts.tcp": "300s"}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.CRITICAL)
        client = raw.DaskClient(cluster.scheduler_address)
        with cluster:
            try:
                runner = DaskTaskRunner(address=cluster.scheduler_address)
                yield Backend("dask", f"LocalCluster(n_workers={workers}, threads_per_worker=1)", runner,
                              [raw.Dask(client), raw.DaskMap(client)], address=cluster.scheduler_address)
            finally:
                client.close()


@contextmanager
def _ray(workers: int) -> Iterator[Backend]:
    import ray

    from legato.runners.ray import RayTaskRunner

    context = ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield Backend("ray", f"ray.init(num_cpus={workers})", RayTaskRunner(address="auto"), [raw.Ray()],
                      address=context.address_info.get("address"))
    finally:
        ray.shutdown()
