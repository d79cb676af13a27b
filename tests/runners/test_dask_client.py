"""``get_dask_client()`` (prefect-dask's helper): a temporary client to the cluster the caller runs on."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("distributed")

from legato import flow, task  # noqa: E402
from legato.runners.dask import DaskTaskRunner, get_async_dask_client, get_dask_client  # noqa: E402
from legato.runners.dask_client import client_kwargs  # noqa: E402


def _worker_address() -> str:
    from distributed import get_worker

    return get_worker().address


@task
def spread_over_the_cluster(n: int) -> tuple[str, list[str], int]:
    """Reaches the whole cluster from inside a task, as prefect-dask's docs show."""
    with get_dask_client(timeout="30s") as client:
        workers = client.gather([client.submit(_worker_address, pure=False) for _ in range(n)])
        total = client.submit(sum, list(range(n))).result(timeout=30)
        return client.scheduler.address, sorted(set(workers)), total


@task
async def spread_async() -> str:
    async with get_async_dask_client() as client:
        future = client.submit(_worker_address, pure=False)
        return await future


def test_a_task_on_a_worker_reaches_the_cluster_it_runs_on(dask_address):
    @flow(task_runner=DaskTaskRunner(address=dask_address))
    def uses_the_cluster():
        return spread_over_the_cluster(8)

    address, workers, total = uses_the_cluster()
    assert address == dask_address
    assert workers and all(w.startswith("tcp://") for w in workers)
    assert total == sum(range(8))


def test_the_async_form_inside_an_async_task(dask_address):
    @flow(task_runner=DaskTaskRunner(address=dask_address))
    async def uses_it_async():
        return await spread_async()

    assert asyncio.run(uses_it_async()).startswith("tcp://")


def test_a_flow_body_on_the_dask_runner_gets_the_runners_cluster(dask_address):
    @flow(task_runner=DaskTaskRunner(address=dask_address))
    def in_the_body():
        with get_dask_client() as client:
            return client.scheduler.address, client.submit(pow, 2, 10).result(timeout=30)

    assert in_the_body() == (dask_address, 1024)


def test_outside_any_run_the_client_would_start_a_local_cluster_and_overrides_win():
    """Outside a flow the address is None (distributed starts a LocalCluster); given kwargs override."""
    assert client_kwargs(False, None, {})["address"] is None
    kwargs = client_kwargs(True, "5s", {"address": "tcp://127.0.0.1:1", "name": "x"})
    assert kwargs == {"address": "tcp://127.0.0.1:1", "asynchronous": True, "set_as_default": False,
                      "timeout": "5s", "name": "x"}
