"""What a runner leaves behind: processes, threads, clusters (for the shutdown tests).

A module of its own, not conftest.py: every test folder has a ``conftest``
module, so ``from conftest import ...`` may find another folder's.
"""

from __future__ import annotations

import multiprocessing.forkserver
import multiprocessing.resource_tracker
import threading
from typing import Any

import psutil

#: threads legato starts once per process, not per runner
_PROCESS_WIDE_THREADS = ("legato-timer", "legato-ray-callbacks")


class Leftovers:
    """Processes and threads that appeared since a snapshot and are still alive.

    A process counts if it descends from this one through processes that
    are new themselves, or through the forkserver (the process pool's
    workers are its children); so the workers of a cluster that was running
    before the snapshot (Dask's nanny restarting one, Ray's raylet starting
    one) do not count, and neither do the forkserver itself or
    multiprocessing's resource tracker, which live as long as this process.
    """

    def __init__(self) -> None:
        self.processes = {p.pid for p in _descendants()}
        self.threads = set(threading.enumerate())

    def new_processes(self) -> list[psutil.Process]:
        me = psutil.Process()
        exempt = _service_pids()
        found = []
        for process in _descendants():
            if process.pid in self.processes or process.pid in exempt:
                continue
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    continue
                ancestors = [p.pid for p in process.parents()]
            except psutil.NoSuchProcess:
                continue
            path = ancestors[: ancestors.index(me.pid)] if me.pid in ancestors else ancestors
            if any(pid in self.processes and pid not in exempt for pid in path):
                continue  # a worker of a cluster that was already running
            found.append(process)
        return found

    def new_threads(self) -> list[str]:
        """New legato threads, but for the process-wide ones (the engine's timer, Ray's callback thread)."""
        return [
            t.name for t in threading.enumerate()
            if t not in self.threads and t.is_alive() and t.name.startswith("legato-")
            and not t.name.startswith(_PROCESS_WIDE_THREADS)
        ]


def _descendants() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def _service_pids() -> set[int]:
    pids = {
        getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None),
        getattr(multiprocessing.resource_tracker._resource_tracker, "_pid", None),
    }
    return {pid for pid in pids if pid}


def tagged_processes(variable: str, value: str) -> list[psutil.Process]:
    """Live processes, anywhere, whose environment has ``variable=value``.

    For a test that runs a script in a subprocess with that variable set:
    whatever the script starts inherits it, so it can still be found once
    the script has exited, when a process it left behind has been re-parented
    out of this process's tree (where :class:`Leftovers` looks).
    """
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(variable) == value and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.Error, OSError):  # gone meanwhile, or not ours to read
            continue
    return found


def dask_clusters() -> set[Any]:
    """The Dask clusters alive in this process (a runner given an address must start none)."""
    try:
        from distributed.deploy.spec import SpecCluster
    except ImportError:
        return set()
    return {c for c in SpecCluster._instances if c.status.name not in ("closed", "closing")}


__all__ = ["Leftovers", "dask_clusters", "tagged_processes"]
