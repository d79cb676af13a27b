"""Backends shared by the whole test session: one Dask ``LocalCluster``, one Ray.

Both start on first use and stop when the session ends. The fixtures are
thin over process-wide singletons, so a conftest and a test module may both
import them and the session still starts one cluster and one Ray::

    from _cluster import dask_address, ray_session  # noqa: F401  (fixtures)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

_lock = threading.Lock()
_dask: dict[str, Any] = {}
_ray: dict[str, Any] = {}

#: directories tests import from (this folder holds test modules and tasks.py)
_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent


def shared_dask_cluster() -> Any:
    """The session's LocalCluster: 2 worker processes of 1 thread, no dashboard."""
    with _lock:
        if "cluster" not in _dask:
            from distributed import LocalCluster

            _dask["cluster"] = LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=40,
            )
        return _dask["cluster"]


def close_dask_cluster() -> None:
    with _lock:
        cluster = _dask.pop("cluster", None)
    if cluster is not None:
        from legato.runners.dask import _close_shared_clients

        _close_shared_clients()  # legato's clients outlive flow runs: close them while their scheduler is up
        cluster.close()


def shared_ray() -> Any:
    """``ray.init(num_cpus=2)`` once per session; workers can import the test modules."""
    import ray

    with _lock:
        if not ray.is_initialized():
            paths = [str(_HERE), str(_HERE.parent), str(_ROOT)]
            existing = os.environ.get("PYTHONPATH")
            os.environ["PYTHONPATH"] = os.pathsep.join(paths + ([existing] if existing else []))
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            _ray["started"] = True
    return ray


def stop_ray() -> None:
    with _lock:
        started = _ray.pop("started", False)
    if started:
        import ray

        ray.shutdown()


@pytest.fixture(scope="session")
def dask_address() -> Any:
    """The scheduler address of the session's LocalCluster."""
    pytest.importorskip("distributed")
    cluster = shared_dask_cluster()
    yield cluster.scheduler_address
    close_dask_cluster()


@pytest.fixture(scope="session")
def ray_session() -> Any:
    """The ``ray`` module, initialized once for the session."""
    pytest.importorskip("ray")
    yield shared_ray()
    stop_ray()


__all__ = ["dask_address", "ray_session", "shared_dask_cluster", "shared_ray"]
