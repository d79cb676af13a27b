"""``get_dask_client()`` / ``get_async_dask_client()``: prefect-dask's way to reach the cluster from a task.

A task that works on a Dask collection (``ddf.describe()``) should compute it
on the whole cluster, not on the one worker thread it runs on::

    @task
    def summarize(path):
        with get_dask_client() as client:
            return client.compute(dd.read_parquet(path).describe()).result()

The temporary client connects to the scheduler of wherever the caller runs:

* inside a task on a Dask worker: that worker's scheduler;
* in a flow run on a :class:`~legato.runners.dask.DaskTaskRunner`: the
  runner's cluster (its ``client_kwargs`` are inherited);
* anywhere else: a new local cluster, as ``distributed.Client()`` makes, so
  the same code runs in a test or a notebook.

The keyword arguments given override the inherited ones, as in prefect-dask.
One difference: prefect-dask makes ``get_dask_client()`` asynchronous inside
an ``async def`` flow or task, where a ``with`` block cannot use it; here the
sync form is always synchronous and the async form always asynchronous.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

Timeout = int | float | str | timedelta | None


def client_kwargs(asynchronous: bool, timeout: Timeout, overrides: dict[str, Any]) -> dict[str, Any]:
    """The ``distributed.Client`` arguments for a temporary client made where the caller runs."""
    from legato.core.context import FlowRunContext

    kwargs: dict[str, Any] = {}
    address = None
    worker = _dask_worker()
    flow_context = FlowRunContext.get()
    if worker is not None:
        address = worker.scheduler.address
    elif flow_context is not None:
        runner = getattr(flow_context.engine, "runner", None)
        if getattr(runner, "name", None) == "dask":
            kwargs.update(runner.client_kwargs)
            address = runner.client.scheduler.address
    kwargs.pop("set_as_default", None)  # a temporary client never replaces the user's default
    kwargs.update(address=address, asynchronous=asynchronous, set_as_default=False)
    if timeout is not None:
        kwargs["timeout"] = timeout
    kwargs.update(overrides)
    return kwargs


def _dask_worker() -> Any:
    """The Dask worker this code runs on, or None."""
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:  # distributed's answer outside a worker
        return None


@contextmanager
def get_dask_client(timeout: Timeout = None, **client_kwargs_: Any) -> Iterator[Any]:
    """A temporary synchronous ``distributed.Client`` to the cluster the caller runs on (closed after)."""
    from distributed import Client

    with Client(**client_kwargs(False, timeout, client_kwargs_)) as client:
        yield client


@asynccontextmanager
async def get_async_dask_client(timeout: Timeout = None, **client_kwargs_: Any) -> AsyncIterator[Any]:
    """``async with get_async_dask_client() as client:`` the asynchronous form of :func:`get_dask_client`."""
    from distributed import Client

    async with Client(**client_kwargs(True, timeout, client_kwargs_)) as client:
        yield client


__all__ = ["get_async_dask_client", "get_dask_client"]
