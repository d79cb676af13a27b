"""Dask and runner settings as Prefect 3 (prefect-dask) has them (issue #13, group 14)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from legato import flow, task

pytest.importorskip("distributed")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runners"))
from _cluster import dask_address  # noqa: E402,F401  (the session's LocalCluster)

from legato.runners.dask import DaskTaskRunner  # noqa: E402


@task
def own_key(x: int) -> str:
    from distributed import get_worker

    return get_worker().get_current_task()


def test_dask_task_keys_carry_the_task_name(dask_address):
    """The Dask dashboard groups tasks by key prefix: a legato task's key starts with its task run name,
    so it shows under the task's name (one run and a batch of a map alike)."""
    from distributed.utils import key_split

    @flow(task_runner=DaskTaskRunner(address=dask_address))
    def pipeline():
        return own_key.submit(1).result(), own_key.map(range(3)).result()

    single, mapped = pipeline()
    assert single.startswith("own_key-0-") and key_split(single) == "own_key"
    assert all(key_split(key) == "own_key" for key in mapped)


def test_adapt_kwargs_make_the_cluster_legato_creates_adaptive():
    """prefect-dask: with ``adapt_kwargs`` the runner calls ``cluster.adapt(**adapt_kwargs)`` on the
    cluster it creates (here a real LocalCluster with threads for workers)."""
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 1, "processes": False, "dashboard_address": None},
                            adapt_kwargs={"minimum": 1, "maximum": 2})
    with runner:
        adaptive = runner._cluster._adaptive
        assert adaptive is not None
        assert (adaptive.minimum, adaptive.maximum) == (1, 2)


def test_duplicates_are_equal_unstarted_and_own_their_settings(dask_address):
    """Prefect's ``duplicate()`` builds a new runner from the settings: equal, not started, sharing no
    cluster or client, and changing its settings leaves the original's alone."""
    from legato.runners.threads import ThreadPoolTaskRunner

    original = DaskTaskRunner(cluster_kwargs={"n_workers": 1}, adapt_kwargs={"maximum": 2})
    twin = original.duplicate()
    assert twin == original and twin is not original
    twin.cluster_kwargs["n_workers"] = 4
    twin.adapt_kwargs["maximum"] = 8
    assert original.cluster_kwargs == {"n_workers": 1} and original.adapt_kwargs == {"maximum": 2}
    assert twin != original

    connected = DaskTaskRunner(address=dask_address)
    with connected:
        copy = connected.duplicate()
        assert copy == connected and copy._client is None and not copy._started
    threads = ThreadPoolTaskRunner(max_workers=3)
    assert threads.duplicate() == threads and threads.duplicate().max_workers == 3
