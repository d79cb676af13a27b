"""Mapping over the partitions of Dask collections and over Ray refs (legato.partitioning).

On the Dask runner the partitions are computed on the cluster and each
mapped run takes its partition there; on Ray the refs go to the tasks; on
the other runners they are computed in the flow process and passed. Where
the data went is proved with :class:`tracked.Tracked` values, which write the
pid of every process that unpickles them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

dask = pytest.importorskip("dask")
pytest.importorskip("distributed")

import dask.array as da  # noqa: E402
import dask.bag as db  # noqa: E402
import numpy as np  # noqa: E402

from _cluster import dask_address, ray_session  # noqa: E402,F401  (session fixtures)
from tracked import Tracked, measure  # noqa: E402

import legato  # noqa: E402
from legato import flow, task, unmapped  # noqa: E402
from legato.core.errors import PartitionError  # noqa: E402
from legato.runners.base import TaskRunner  # noqa: E402

LOCAL = ["sync", "threads", "processes"]


@task
def block_sum(block: Any, offset: float = 0) -> float:
    return float(np.asarray(block).sum()) + offset


@task
def frame_stats(frame: Any) -> dict[str, float]:
    return {"rows": len(frame), "total": float(frame["x"].sum())}


@task
def doubled(frame: Any) -> Any:
    return frame.assign(x=frame["x"] * 2)


@task
def count_items(items: Any) -> int:
    return len(list(items))


def make_tracked_partition(log: str, size: int) -> Tracked:
    with open(log + ".made", "a") as file:  # where the partition was computed
        file.write(f"{os.getpid()}\n")
    return Tracked(log, size)


def broken_partition(i: int) -> np.ndarray:
    if i == 2:
        raise ZeroDivisionError(f"partition {i} is broken")
    return np.arange(3)


def counted(log: str) -> np.ndarray:
    with open(log, "a") as file:
        file.write(f"{os.getpid()}\n")
    return np.ones(2)


def _frame(partitions: int = 4) -> Any:
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    return dd.from_pandas(pd.DataFrame({"x": np.arange(40, dtype="float64")}), npartitions=partitions)


def _run(runner: TaskRunner, body: Any) -> Any:
    return flow(task_runner=runner)(body)()


# ---------------------------------------------------------------------- each kind of collection, on each runner


@pytest.mark.parametrize("runner", [*LOCAL, "dask"], indirect=True)
def test_maps_over_the_blocks_of_a_dask_array(runner: TaskRunner) -> None:
    arr = da.arange(100, chunks=10)

    def body() -> list[float]:
        return block_sum.map(arr.to_delayed().ravel()).result()

    assert _run(runner, body) == [float(sum(range(i, i + 10))) for i in range(0, 100, 10)]


@pytest.mark.parametrize("runner", [*LOCAL, "dask"], indirect=True)
def test_maps_over_the_partitions_of_a_dask_dataframe(runner: TaskRunner) -> None:
    ddf = _frame()

    def body() -> list[dict[str, float]]:
        return frame_stats.map(legato.partitions(ddf)).result()

    stats = _run(runner, body)
    assert [s["rows"] for s in stats] == [10, 10, 10, 10]
    assert sum(s["total"] for s in stats) == float(sum(range(40)))


@pytest.mark.parametrize("runner", ["threads", "dask"], indirect=True)
def test_maps_over_the_partitions_of_a_dask_bag(runner: TaskRunner) -> None:
    bag = db.from_sequence(range(10), npartitions=3)

    def body() -> list[int]:
        return count_items.map(bag.to_delayed()).result()

    counts = _run(runner, body)
    assert sum(counts) == 10 and len(counts) == 3


@pytest.mark.parametrize("runner", ["threads", "dask"], indirect=True)
def test_an_unmapped_partition_goes_whole_to_every_run_and_is_computed_once(runner: TaskRunner, tmp_path: Path) -> None:
    log = tmp_path / "computed.log"
    shared = dask.delayed(counted, pure=False)(str(log))
    arr = da.ones(6, chunks=2)

    def body() -> list[float]:
        return block_sum.map(arr.to_delayed().ravel(), offset=unmapped(shared.sum())).result()

    assert _run(runner, body) == [4.0, 4.0, 4.0]
    assert len(log.read_text().split()) == 1


@pytest.mark.parametrize("runner", ["threads", "dask"], indirect=True)
def test_submit_takes_a_partition_as_an_argument(runner: TaskRunner) -> None:
    part = da.arange(5, chunks=5).to_delayed().ravel()[0]

    def body() -> float:
        return block_sum.submit(part).result()

    assert _run(runner, body) == 10.0


@pytest.mark.parametrize("runner", ["threads", "dask"], indirect=True)
def test_dask_futures_of_another_client_are_fetched_and_passed(runner: TaskRunner, dask_address: str) -> None:
    from distributed import Client

    with Client(dask_address, set_as_default=False) as client:
        futures = [client.scatter(np.arange(n)) for n in (2, 3)]

        def body() -> list[float]:
            return block_sum.map(futures).result()

        assert _run(runner, body) == [1.0, 3.0]


def test_partitions_takes_only_dask_collections() -> None:
    arr = da.arange(4, chunks=2)
    assert len(legato.partitions(arr)) == 2
    assert legato.partitions([1, 2]) == [1, 2]
    with pytest.raises(TypeError, match="Dask collection"):
        legato.partitions(object())


# ---------------------------------------------------------------------- where the data goes


@pytest.mark.parametrize("runner", ["dask"], indirect=True)
def test_dask_partitions_never_reach_the_flow_process(runner: TaskRunner, tmp_path: Path) -> None:
    log = tmp_path / "unpickled.log"
    parts = [dask.delayed(make_tracked_partition, pure=False)(str(log), 100_000) for _ in range(6)]

    def body() -> list[int]:
        futures = measure.map(parts)
        futures.wait()
        assert all(f.task_run.runner_future.summary is None for f in futures)  # one Dask task each, never batched
        return futures.result()

    assert _run(runner, body) == [100_000] * 6
    made = set(Path(f"{log}.made").read_text().split())
    unpickled = set(log.read_text().split()) if log.exists() else set()
    assert made and str(os.getpid()) not in made  # computed on the workers...
    assert str(os.getpid()) not in unpickled  # ...and measured there (or moved worker to worker), never fetched


@pytest.mark.parametrize("runner", ["ray"], indirect=True)
def test_ray_refs_go_to_the_tasks_without_the_flow_process(runner: TaskRunner, tmp_path: Path) -> None:
    import ray

    log = tmp_path / "unpickled.log"
    refs = [ray.put(Tracked(str(log), 50_000)) for _ in range(4)]  # put pickles; it does not unpickle here

    def body() -> list[int]:
        return measure.map(refs).result()

    assert _run(runner, body) == [50_000] * 4
    pids = set(log.read_text().split())
    assert pids and str(os.getpid()) not in pids


@pytest.mark.parametrize("runner", ["threads"], indirect=True)
def test_ray_refs_on_another_runner_are_fetched_and_passed(runner: TaskRunner, ray_session: Any) -> None:
    import ray

    refs = [ray.put(np.arange(i)) for i in range(1, 4)]

    def body() -> list[float]:
        return block_sum.map(refs).result()

    assert _run(runner, body) == [0.0, 1.0, 3.0]


# ---------------------------------------------------------------------- failures


@pytest.mark.parametrize("runner", ["dask"], indirect=True)
def test_a_partition_that_fails_on_dask_fails_its_run_naming_it(runner: TaskRunner) -> None:
    parts = [dask.delayed(broken_partition)(i) for i in range(4)]

    def body() -> list[Any]:
        states = block_sum.map(parts, return_state=True)
        return [(s.type.value, s.result(raise_on_failure=False)) for s in states]  # plain values: the flow completes

    outcomes = _run(runner, body)
    assert [kind for kind, _ in outcomes] == ["COMPLETED", "COMPLETED", "FAILED", "COMPLETED"]
    error = outcomes[2][1]
    assert isinstance(error, PartitionError)
    assert "partition 2" in str(error) and "partition 2 is broken" in str(error)
    assert isinstance(error.__cause__, ZeroDivisionError)


@pytest.mark.parametrize("runner", ["ray"], indirect=True)
def test_a_ray_object_that_fails_fails_its_run_naming_it(runner: TaskRunner) -> None:
    import ray

    refs = [ray.put(np.arange(3)), ray.remote(broken_partition).remote(2)]

    def body() -> list[Any]:
        states = block_sum.map(refs, return_state=True)
        return [(s.type.value, s.result(raise_on_failure=False)) for s in states]

    outcomes = _run(runner, body)
    assert outcomes[0] == ("COMPLETED", 3.0)
    kind, error = outcomes[1]
    assert kind == "FAILED" and isinstance(error, PartitionError)
    assert "partition 1" in str(error) and "partition 2 is broken" in str(error)


@pytest.mark.parametrize("runner", ["threads", "processes"], indirect=True)
def test_a_partition_that_fails_locally_fails_the_map_naming_it(runner: TaskRunner) -> None:
    parts = [dask.delayed(broken_partition)(i) for i in range(4)]

    def body() -> Any:
        return block_sum.map(parts).result()

    with pytest.raises(PartitionError, match=r"partition 2 .*partition 2 is broken"):
        _run(runner, body)


# ---------------------------------------------------------------------- back to a collection


@pytest.mark.parametrize("runner", ["threads", "dask"], indirect=True)
def test_mapped_results_come_back_as_a_dask_dataframe(runner: TaskRunner) -> None:
    ddf = _frame()

    def body() -> float:
        futures = doubled.map(legato.partitions(ddf))
        result = legato.partitions.to_dask_dataframe(futures, meta=ddf._meta)
        return float(legato.partitions.compute(result["x"].sum()))  # on the cluster holding the partitions

    assert _run(runner, body) == 2.0 * sum(range(40))


@pytest.mark.parametrize("runner", ["dask"], indirect=True)
def test_to_dask_bag_wraps_the_runs_dask_futures(runner: TaskRunner) -> None:
    bag = db.from_sequence(range(6), npartitions=2)

    @task
    def plus_one(items: Any) -> list[int]:
        return [x + 1 for x in items]

    def body() -> list[int]:
        futures = plus_one.map(bag.to_delayed())
        result = legato.partitions.to_dask_bag(futures)
        return sorted(legato.partitions.compute(result))

    assert _run(runner, body) == [1, 2, 3, 4, 5, 6]


# ---------------------------------------------------------------------- examples/partitions_parquet.py


def test_the_parquet_example_runs_on_the_session_cluster(dask_address: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The example as written, but on the session's cluster rather than a LocalCluster of its own (seconds)."""
    pytest.importorskip("pyarrow")
    import importlib.util

    from legato.runners.dask import DaskTaskRunner

    path = Path(__file__).resolve().parents[2] / "examples" / "partitions_parquet.py"
    spec = importlib.util.spec_from_file_location("partitions_parquet_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    monkeypatch.setattr(example, "parquet_report",
                        example.parquet_report.with_options(task_runner=DaskTaskRunner(address=dask_address)))
    report = example.main()
    assert report["partitions"] == 4 and report["rows"] == 4000


@pytest.mark.parametrize("runner", ["dask"], indirect=True)
def test_a_future_lists_result_fetches_the_values_in_one_gather(runner: TaskRunner) -> None:
    arr = da.arange(8, chunks=2)

    def body() -> tuple[list[float], list[bool]]:
        futures = block_sum.map(arr.to_delayed().ravel())
        futures.wait()
        fetched_before = [f.task_run.runner_future._value is not _unset() for f in futures]
        values = futures.result()
        assert not any(fetched_before)
        return values, [f.task_run.runner_future._value is not _unset() for f in futures]

    values, fetched = _run(runner, body)
    assert values == [1.0, 5.0, 9.0, 13.0] and all(fetched)


def _unset() -> Any:
    from legato.runners.dask import _UNSET

    return _UNSET
