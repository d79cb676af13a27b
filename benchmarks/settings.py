"""What the suite runs: sizes per mode, worker counts, and the targets.

Worker counts are the same for legato and the raw backend it is compared
with, and are written into every result.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

RUNNERS = ("sync", "threads", "processes", "dask", "ray")
SECTIONS = ("throughput", "memory", "startup", "history")

#: workers per runner, on both sides (threads: 4 threads; processes: 2 worker
#: processes; dask: LocalCluster(n_workers=2, threads_per_worker=1); ray: num_cpus=2)
WORKERS = {"sync": 1, "threads": 4, "processes": 2, "dask": 2, "ray": 2}

SLEEP_SECONDS = 0.01

#: elements (int64) per block of the ``partition_map`` workload: 4 MB blocks, so where they go matters
PARTITION_ELEMENTS = 500_000


@dataclass(frozen=True)
class Plan:
    """Sizes of every measurement in one mode."""

    mode: str
    noop_sizes: tuple[int, ...]
    chain_links: int
    fan_size: int
    sleep_tasks: int
    one_task_flows: int
    repeat: int  # runs per throughput measurement; the best counts
    memory_sizes: tuple[int, ...]  # peak RSS
    traced_sizes: tuple[int, ...]  # tracemalloc bytes per task
    startup_repeat: int = 5
    history_size: int = 10_000
    history_repeat: int = 5  # fresh processes
    history_rounds: int = 4  # on/off pairs of flows in each
    partitions: int = 16  # blocks of a Dask array mapped over (partition_map, Dask runner only)
    peer_budget: float = 30.0  # seconds per peer workload (benchmarks.peers.budget)

    def repeat_for(self, n: int) -> int:
        """Runs of a measurement of ``n`` tasks: very large ones run once."""
        return 1 if n >= 100_000 else self.repeat


QUICK = Plan("quick", noop_sizes=(2_000,), chain_links=200, fan_size=1_000, sleep_tasks=40,
             one_task_flows=10, repeat=1, memory_sizes=(100_000,),
             traced_sizes=(10_000,), history_size=2_000, history_repeat=2, history_rounds=3, peer_budget=4.0)
FULL = Plan("full", noop_sizes=(10_000, 100_000), chain_links=1_000, fan_size=10_000, sleep_tasks=200,
            one_task_flows=50, repeat=3, memory_sizes=(100_000, 1_000_000),
            traced_sizes=(100_000, 1_000_000))


@dataclass(frozen=True)
class Target:
    """A goal for one number: ``text`` is printed, ``met(value)`` marks it."""

    text: str
    op: Callable[[float, float], bool]
    bound: float

    def met(self, value: float | None) -> bool | None:
        return None if value is None else bool(self.op(value, self.bound))


AT_LEAST_RAW = Target(">= 1.0x raw", operator.ge, 1.0)
CHAIN = Target(">= 0.5x raw (within 2x)", operator.ge, 0.5)
TWICE_RAW = Target(">= 2.0x raw submit", operator.ge, 2.0)
THRICE_RAW = Target(">= 3.0x raw", operator.ge, 3.0)


#: mapping over the partitions of a Dask array: wall time within 1.2x of ``client.map`` over their futures
PARTITIONS = Target(">= 0.83x raw (within 1.2x)", operator.ge, 1 / 1.2)

#: runners whose chains and one-task flows must match raw since dependents are submitted eagerly (issue #18)
_CLUSTERS = ("dask", "ray")


def throughput_target(runner: str, workload: str, raw_method: str, n: int | None = None) -> Target | None:
    """The target for legato/raw of one workload, or None (the sync runner has none: its raw side is plain calls)."""
    if runner == "sync" or runner == "":
        return None
    if workload == "partition_map":
        return PARTITIONS if runner == "dask" else None
    if workload == "chain":
        return AT_LEAST_RAW if runner in _CLUSTERS else CHAIN
    if workload == "fan":
        return AT_LEAST_RAW if "submit" in raw_method or "remote" in raw_method else None
    if workload == "one_task":
        return AT_LEAST_RAW if runner in _CLUSTERS else None
    if workload != "noop_map":
        return None
    if runner == "threads":
        return THRICE_RAW if n is not None and n >= 100_000 else AT_LEAST_RAW
    if runner in ("processes", "dask", "ray") and ("submit" in raw_method or "remote" in raw_method):
        return TWICE_RAW
    return None


#: targets of the memory, startup and history sections, by measurement name
TARGETS = {
    "memory.peak_rss.1000000": Target("< 400 MB", operator.lt, 400e6),
    "startup.import": Target("< 150 ms", operator.lt, 0.150),
    "startup.one_task_flow": Target("< 20 ms", operator.lt, 0.020),
    "history.overhead": Target("<= 3%", operator.le, 0.03),
}
