"""The task runner contract: the one thing legato asks of a backend.

A runner executes *work items* somewhere (this thread, a thread pool, worker
processes, a Dask or Ray cluster) and reports back through futures that
behave like :class:`concurrent.futures.Future`. It knows nothing of graphs,
retries, states or mapping: the engine hands it only work that is ready to
run, and decides everything else itself.

::

    engine ──submit(work, upstream)──▶ runner ──▶ backend
       ▲                                 │
       └──── future.add_done_callback ◀──┘

``work(*upstream_values)`` runs the task once and returns its value or
raises. ``upstream`` holds, for each upstream value the work needs, the
future *this runner* returned for that upstream: a runner that keeps data
where it was computed passes its backend handles on (Dask futures, Ray
object refs) so dependent data never travels through the flow process; a
runner in the flow's own memory simply takes ``future.result()``.

What crosses a process or machine boundary is serialized with
:mod:`legato.serializers`; a runner never picks a pickler itself.

Everything the engine asks of a runner is declared on :class:`TaskRunner`
with a default (the engine's side is :class:`legato.core.contracts.Runner`):

=======================  =========================================  ==================
member                   the engine uses it to                      default
=======================  =========================================  ==================
``shares_memory``        pass live objects, let tasks submit        ``False``
``reports_start``        count timeouts from the start              ``False``
``batches``              send a map's elements in batches           ``True``
``submits_eagerly``      submit dependents before upstreams end     ``False``
``concurrency``          size batches, bound batches in flight      ``max_workers`` or CPUs
``batch_target_seconds`` aim each batch at this duration            0.01 s shared, 0.05 s
``submit``               start a work item or a batch               (abstract)
``submit_eager``         start work whose upstreams still run       (not supported)
``batch_outcomes``       read how each element of a batch ended     ``future.result()``
``abort``                stop timed-out or cancelled work           ``future.cancel()``
``wait``                 block a thread without holding a worker    ``event.wait``
``adopt``                take Dask partitions / Ray refs as inputs  compute them here
``prefetch``             fetch a list of results in one round trip  nothing
=======================  =========================================  ==================
"""

from __future__ import annotations

import abc
import copy
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable


from legato.core.contracts import RunnerFuture, StartReportingFuture


def _backends_loaded() -> bool:
    modules = sys.modules
    return "dask" in modules or "ray" in modules or "distributed" in modules


class WorkItem(Protocol):
    """One attempt of one task run, ready to execute (see :mod:`legato.core.work`)."""

    key: str
    task_name: str
    options: dict[str, Any]

    def __call__(self, *upstream_values: Any) -> Any: ...


class TaskRunner(abc.ABC):
    """Base class of every task runner.

    Subclasses implement :meth:`submit`, and usually :meth:`start` and
    :meth:`shutdown`. A runner is used as a context manager by the flow that
    owns it; :meth:`duplicate` gives an unstarted copy with the same settings
    (each flow run, and each subflow, starts its own).
    """

    #: name for ``task_runner="..."`` and ``LEGATO_TASK_RUNNER``
    name: ClassVar[str] = "base"
    #: tasks run in the flow's own process, so work items are not serialized
    #: and a task may submit more tasks to the flow's engine directly
    shares_memory: ClassVar[bool] = False
    #: its futures have ``add_start_callback(fn)``, called when a worker starts the
    #: task; timeouts then count from the start instead of from submission
    reports_start: ClassVar[bool] = False
    #: the engine sends many elements of a map in one call (:mod:`legato.core.batching`);
    #: a runner that runs work inline at ``submit`` gains nothing from it
    batches: ClassVar[bool] = True
    #: :meth:`submit_eager` is supported: the engine may hand the backend a dependent run at once,
    #: with the futures of upstreams still running, so the backend starts it when its inputs exist
    submits_eagerly: ClassVar[bool] = False
    #: the size of a pool of workers, where the runner has one (the default :attr:`concurrency`)
    max_workers: int | None = None

    _started: bool = False

    def start(self) -> None:
        """Acquire the backend (threads, processes, a cluster client)."""
        self._started = True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Release the backend; only what :meth:`start` acquired."""
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    @property
    def concurrency(self) -> int:
        """How many tasks run at once; sizes the batches of maps (asked once per flow run, on first need)."""
        return max(1, int(self.max_workers or os.cpu_count() or 1))

    @property
    def batch_target_seconds(self) -> float:
        """How long one batch of a map should take: short where a call is cheap, longer where it costs ms."""
        return 0.01 if self.shares_memory else 0.05

    @abc.abstractmethod
    def submit(self, work: WorkItem, upstream: Sequence[RunnerFuture] = ()) -> RunnerFuture:
        """Start ``work(*values_of(upstream))`` and return a future for its value."""

    def submit_eager(self, work: WorkItem, upstream: Sequence[RunnerFuture]) -> RunnerFuture:
        """Start ``work`` once the upstream futures (some still in flight) have succeeded.

        Only called where :attr:`submits_eagerly` is true, for single work
        items (never batches). The backend resolves the upstreams itself and
        runs ``work`` as soon as they exist, without a round trip through the
        flow process. If an upstream does not succeed, ``work`` must not run:
        the future then reports
        :class:`~legato.core.errors.EagerAttemptNotRun` as its exception,
        and the engine dispatches the run the ordinary way later. Otherwise
        the future behaves as one :meth:`submit` returned (it may carry
        ``started_at``, the worker's start time, once done).
        """
        raise NotImplementedError(f"{type(self).__name__} does not submit eagerly")

    def batch_outcomes(self, future: RunnerFuture) -> tuple[float, list[tuple[bool, Any]]]:
        """How each element of a finished batch ended: ``(seconds, [(ok, value_or_error), ...])``.

        Batches (:class:`legato.core.batching.BatchWork`) carry many elements
        of a map in one call. A runner that keeps results remote overrides
        this to report success or failure per element without fetching the
        values (``value`` may then be a placeholder; the engine fetches a
        value only when someone asks for it).
        """
        return future.result()

    def abort(self, future: RunnerFuture) -> None:
        """Stop a submitted work item if the backend can (used for timeouts)."""
        future.cancel()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Block the calling thread until ``event`` is set; return whether it was.

        Runners whose workers may wait on other tasks override this so a
        waiting task does not hold a worker slot.
        """
        return event.wait(timeout)

    def prefetch(self, futures: Sequence[RunnerFuture]) -> None:
        """Fetch the values of finished futures in one go before ``result()`` asks for each (a hint).

        Called by ``LegatoFutureList.result()`` on runners that do not share
        the flow's memory; by default nothing: each value comes when asked.
        """

    def adopt(self, value: Any) -> Any:
        """``value`` with the backends' lazy inputs in it (Dask partitions, Ray refs) replaced.

        Called for each argument of ``submit``/``map`` before the runs are
        made (:mod:`legato.core.adoption`). By default they are computed in
        the flow process and passed as values (:mod:`legato.partitioning`);
        the Dask and Ray runners compute them on their cluster instead and
        hand them to the tasks as upstream futures. Free unless Dask or Ray
        has been imported.
        """
        if not _backends_loaded():
            return value
        from legato.partitioning import adopt_value

        return adopt_value(value, self._adopters())

    def _adopters(self) -> dict[str, Any]:
        """Handlers by kind of lazy value (see :func:`legato.partitioning.adopt_value`); the rest compute locally."""
        return {}

    def duplicate(self) -> TaskRunner:
        """An unstarted runner with the same settings, as Prefect's (which builds a new one from them).

        Settings held in containers (``cluster_kwargs``, ``init_kwargs``) are
        copied, so changing the duplicate's leaves this runner's as they are.
        """
        clone = copy.copy(self)
        for name, value in vars(clone).items():
            if not name.startswith("_") and isinstance(value, (dict, list, set)):
                setattr(clone, name, copy.copy(value))
        clone._started = False
        clone._reset()
        return clone

    def _reset(self) -> None:
        """Drop backend state after a shallow copy (see :meth:`duplicate`)."""

    def settings(self) -> dict[str, Any]:
        """What this runner was configured with: its public attributes (backend state is private)."""
        return {name: value for name, value in vars(self).items() if not name.startswith("_")}

    def __eq__(self, other: object) -> bool:
        """Runners of one class with the same settings are equal (as Prefect's), started or not."""
        if not isinstance(other, TaskRunner):
            return NotImplemented
        return type(self) is type(other) and self.settings() == other.settings()

    #: identity hashing stays: a runner is used as a key while it runs, and equal runners are still two runners
    __hash__ = object.__hash__

    def __enter__(self) -> TaskRunner:
        if not self._started:
            self.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.shutdown(wait=exc_type is None, cancel_futures=exc_type is not None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


__all__ = ["RunnerFuture", "StartReportingFuture", "TaskRunner", "WorkItem"]
