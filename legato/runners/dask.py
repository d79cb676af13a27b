"""``DaskTaskRunner``: tasks run on a Dask distributed cluster (prefect-dask's runner).

::

    flow process                                  Dask cluster
    ─────────────                                 ────────────
    engine ─submit(work, upstream)─▶ client.submit(_run_on_worker, work, *upstream dask futures)
       ▲                                             │ scheduler resolves the upstream futures
       │                                             ▼ to values on the worker that runs the task
       └─ engine callback ◀─ Dask-Callback-Thread ◀─ task finished / erred / cancelled

Data locality: the future this runner returns wraps the Dask future, and a
downstream task is submitted with its upstream's Dask future as a top-level
argument, so Dask moves the data from worker to worker and it never passes
through the flow process. A value reaches the flow process only when someone
asks for it (``future.result()``, or the flow returning it).

Batches of map elements (:mod:`legato.core.batching`) get a second, tiny
Dask task that runs next to the batch's result and says how each element
ended (:func:`~legato.runners._remote.summarize_batch`); the engine reads
that through :meth:`DaskTaskRunner.batch_outcomes`, so mapped values stay on
the cluster too. Each submission gets a Dask key of its own, named after the
task run (``double-3-<run id>-<n>``), so a retry never finds the old result.

Callbacks: Dask calls done callbacks on one thread of its own
(``Dask-Callback-Thread``), never on the client's event loop, so the engine's
callback may call the client. The wrapper answers ``exception()`` for a
finished task from the future's status, without a round trip to the
scheduler; only a failed task costs one (to fetch its exception and
traceback). Hooks (``on_completion``...) run on that thread too, one at a
time: keep them short.

Failures:

* a task that raises fails with its own exception and the remote traceback;
  legato's ``retries`` count these;
* a task whose result cannot be serialized fails with
  :class:`~legato.core.errors.SerializationError` naming the run, on the
  worker, as it returns (see :func:`~legato.runners._remote.checked_result`),
  rather than when Dask first tries to move the result;
* a worker that dies under a task (killed, out of memory) is invisible to
  legato: the scheduler reruns the task on another worker, and recomputes
  finished results that were lost with the worker if they are still needed.
  These reruns are not legato retries and are not counted. Only when the same
  task has been on ``distributed.scheduler.allowed-failures`` dying workers
  (default 3) does Dask give up; the run then fails with
  :class:`~legato.core.errors.WorkerCrashedError` (and legato's ``retries``
  apply to that as to any failure);
* ``timeout_seconds``: the run is marked TimedOut and its Dask future
  cancelled; a task already running on a worker thread cannot be stopped and
  runs on until it returns.

Tasks that submit tasks: on a worker, each task runs with a small engine of
its own bound to the worker's client, so ``other.submit(x)``/``other.map(xs)``
inside a task become Dask tasks too; a task waiting on them secedes from the
worker's thread pool while it waits (so waiting never deadlocks the cluster),
and a task does not return before the runs it submitted are final.

Per-task options come from ``@task(runner_options=...)``: the keys
``resources``, ``workers``, ``allow_other_workers`` and ``priority`` go to
``client.submit``, as does everything under a ``"dask"`` key; other keys
(meant for other runners) are ignored.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

from legato.core.errors import MissingDependencyError, SerializationError, WorkerCrashedError
from legato.runners._remote import (
    Summary,
    checked_result,
    innermost_cause as _root,
    is_batch,
    item_names,
    run_name as _run_name,
    run_with_engine,
    summarize_batch,
    unpack_summary,
)
from legato.runners.base import RunnerFuture, TaskRunner, WorkItem

if TYPE_CHECKING:
    from distributed import Client
    from distributed import Future as DaskFuture

logger = logging.getLogger("legato.runners.dask")

#: numbers Dask keys, so each submission (a retry, a batch sent again) gets a key of its own
_submissions = itertools.count(1)

_SUBMIT_OPTIONS = ("resources", "workers", "allow_other_workers", "priority")


def _require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError(
            "the 'dask' task runner needs the 'distributed' package: pip install \"legato[dask]\""
        ) from error


class DaskTaskRunner(TaskRunner):
    """Run tasks on Dask: a fresh ``LocalCluster``, a cluster class, a scheduler address or a client.

    Only what the runner starts (a cluster, a client) is shut down with it; a
    client passed in, or the cluster behind an ``address``, is left running.
    """

    name = "dask"
    shares_memory = False

    def __init__(
        self,
        address: str | None = None,
        cluster_class: type | str | Callable[..., Any] | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        adapt_kwargs: dict[str, Any] | None = None,
        client: Client | None = None,
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        _require_distributed()
        if address is not None and (cluster_class is not None or cluster_kwargs or adapt_kwargs):
            raise ValueError("DaskTaskRunner: give either address= or cluster_class/cluster_kwargs/adapt_kwargs")
        if client is not None and (address is not None or cluster_class is not None or cluster_kwargs):
            raise ValueError("DaskTaskRunner: client= cannot be combined with address= or a cluster")
        self.address = address
        self.cluster_class = cluster_class
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.adapt_kwargs = dict(adapt_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self._user_client = client
        self._worker_address: str | None = None  # set on runners built inside a Dask worker
        self._reset()

    def _reset(self) -> None:
        self._client: Client | None = None
        self._cluster: Any = None
        self._owns_client = False

    # -- lifecycle

    @property
    def client(self) -> Client:
        """The Dask client tasks are submitted through (the runner must be started)."""
        if self._client is None:
            if self._worker_address is None:
                raise RuntimeError("DaskTaskRunner is not started; use it inside a flow or a `with` block")
            self._client = _worker_client(self._worker_address)
        return self._client

    def start(self) -> None:
        from distributed import Client

        if self._user_client is not None:
            self._client = self._user_client
        elif self.address is not None:
            self._client = Client(self.address, **self.client_kwargs)
            self._owns_client = True
        else:
            self._cluster = self._make_cluster()
            try:
                if self.adapt_kwargs:
                    self._cluster.adapt(**self.adapt_kwargs)
                self._client = Client(self._cluster, **self.client_kwargs)
            except BaseException:
                self._cluster.close()
                self._cluster = None
                raise
            self._owns_client = True
        link = _dashboard_link(self._client) if self._has_dashboard() else None
        if link:
            logger.info("Dask dashboard: %s", link)
        super().start()

    def _has_dashboard(self) -> bool:
        """False for a LocalCluster started with ``dashboard_address=None`` (it serves no dashboard)."""
        if self._cluster is None or self.cluster_class is not None:
            return True
        return self.cluster_kwargs.get("dashboard_address") is not None

    def _make_cluster(self) -> Any:
        cluster_class = _load_class(self.cluster_class)
        kwargs = dict(self.cluster_kwargs)
        if cluster_class is None:
            from distributed import LocalCluster

            cluster_class = LocalCluster
            kwargs.setdefault("processes", True)
            kwargs.setdefault("dashboard_address", None)
            if kwargs["dashboard_address"] is None:  # no dashboard, but Dask still serves /health:
                scheduler_kwargs = dict(kwargs.get("scheduler_kwargs") or {})  # on a free port, not 8787
                scheduler_kwargs.setdefault("dashboard_address", ":0")
                kwargs["scheduler_kwargs"] = scheduler_kwargs
        logger.debug("starting %s(%s)", getattr(cluster_class, "__name__", cluster_class), kwargs)
        return cluster_class(**kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        client, cluster = self._client, self._cluster
        if self._owns_client and client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        self._reset()
        super().shutdown(wait, cancel_futures=cancel_futures)

    # -- work

    def submit(self, work: WorkItem, upstream: Sequence[RunnerFuture] = ()) -> RunnerFuture:
        args = [u.dask_future if isinstance(u, DaskTaskFuture) else u.result() for u in upstream]
        key = f"{work.key}-{next(_submissions)}"  # a retry is a new Dask key, never the old result
        options = _submit_options(work.options)
        client = self.client
        try:
            future = client.submit(_run_on_worker, work, *args, key=key, pure=False, **options)
        except TypeError as error:  # Dask could not serialize the work item
            raise SerializationError(f"task run {_run_name(work)!r} cannot be sent to Dask: {_root(error)}") from error
        if not is_batch(work):
            return DaskTaskFuture(future, _run_name(work))
        summary = client.submit(summarize_batch, future, key=f"{key}-summary", pure=False)
        return DaskTaskFuture(future, _run_name(work), summary, item_names(work))

    def batch_outcomes(self, future: DaskTaskFuture) -> Summary:
        """How each element of a batch ended, without fetching the values (see :mod:`legato.runners._remote`)."""
        if future.summary is None:
            return future.result()
        try:
            summary = future.summary.result()
        except Exception as error:
            raise _translate(error, future.name) from None
        return unpack_summary(summary, future.names or [])

    @property
    def concurrency(self) -> int:
        """Worker threads in the cluster now (the engine sizes map batches by it)."""
        if self._worker_address is not None:  # inside a task: no scheduler round trip per task
            return os.cpu_count() or 1
        try:
            workers = self.client.scheduler_info().get("workers", {})
            return max(1, sum(w.get("nthreads", 1) for w in workers.values()))
        except Exception:  # not started, or a scheduler that cannot tell
            return 1

    def abort(self, future: RunnerFuture) -> None:
        """Cancel the Dask future; a task already running on a worker thread runs on."""
        future.cancel()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Inside a Dask task, secede from the worker's pool while waiting (see module docs)."""
        if event.is_set():
            return True
        if not _in_worker_task():
            return event.wait(timeout)
        from distributed import rejoin, secede

        try:
            secede()
        except (KeyError, ValueError):  # already seceded (worker_client()) or not a pool thread
            return event.wait(timeout)
        try:
            return event.wait(timeout)
        finally:
            rejoin()

    def __repr__(self) -> str:
        if self._user_client is not None:
            return f"DaskTaskRunner(client={self._user_client!r})"
        if self.address is not None:
            return f"DaskTaskRunner(address={self.address!r})"
        return f"DaskTaskRunner(cluster_class={self.cluster_class!r}, cluster_kwargs={self.cluster_kwargs!r})"


class DaskTaskFuture:
    """The engine's view of one Dask future; the Dask future itself is ``dask_future``.

    For a batch of map elements, ``summary`` is a second Dask future, computed
    next to the batch's result, that says how each element ended (see
    :mod:`legato.runners._remote`); callbacks fire once it is ready, and the
    batch's value is fetched at most once.
    """

    __slots__ = ("dask_future", "name", "summary", "names", "_value")

    def __init__(self, dask_future: DaskFuture, name: str, summary: DaskFuture | None = None,
                 names: list[str] | None = None) -> None:
        self.dask_future = dask_future
        self.name = name
        self.summary = summary
        self.names = names
        self._value: Any = _UNSET

    def add_done_callback(self, fn: Callable[[DaskTaskFuture], object], /) -> None:
        (self.summary or self.dask_future).add_done_callback(lambda _future: fn(self))

    def done(self) -> bool:
        return (self.summary or self.dask_future).status in ("finished", "error", "cancelled", "lost")

    def result(self, timeout: float | None = None) -> Any:
        if self._value is not _UNSET:
            return self._value
        try:
            value = self.dask_future.result(timeout)
        except Exception as error:
            raise _translate(error, self.name) from None
        if self.summary is not None:  # a batch: its elements' values are asked for one by one
            self._value = value
        return value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        error = _error_of(self.dask_future, timeout, self.name)
        if error is None and self.summary is not None:
            error = _error_of(self.summary, timeout, self.name)
        return error

    def cancel(self) -> bool:
        self.dask_future.cancel()
        if self.summary is not None:
            self.summary.cancel()
        return True

    def __repr__(self) -> str:
        return f"DaskTaskFuture({self.name!r}, status={self.dask_future.status!r})"


_UNSET: Any = object()


def _error_of(future: DaskFuture, timeout: float | None, name: str) -> BaseException | None:
    """How a Dask future ended, read from its status: a round trip only for a failure."""
    status = future.status
    if status == "pending":
        future.exception(timeout)  # waits
        status = future.status
    if status in ("finished", "lost"):  # lost: computed, then lost with its worker; Dask recomputes it
        return None
    if status == "cancelled":
        raise CancelledError(f"the Dask future of task run {name!r} was cancelled")
    error = future.exception(timeout)
    if error is None:
        return None
    traceback = future.traceback(timeout)
    if traceback is not None and error.__traceback__ is None:
        error = error.with_traceback(traceback)
    return _translate(error, name)


def _translate(error: BaseException, name: str) -> BaseException:
    from distributed.scheduler import KilledWorker

    if isinstance(error, KilledWorker):
        crashed = WorkerCrashedError(
            f"task run {name!r}: the Dask workers running it died {error.args[2] if len(error.args) > 2 else ''} "
            "times (distributed.scheduler.allowed-failures); Dask gave up on it"
        )
        crashed.__cause__ = error
        return crashed
    return error


def _submit_options(options: dict[str, Any]) -> dict[str, Any]:
    if not options:
        return {}
    chosen = {name: options[name] for name in _SUBMIT_OPTIONS if name in options}
    chosen.update(options.get("dask") or {})
    return chosen


def _load_class(spec: Any) -> Any:
    if spec is None or not isinstance(spec, str):
        return spec
    module_name, _, attribute = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"cluster_class must be a class or a dotted path ('dask_jobqueue.SLURMCluster'), got {spec!r}")
    return getattr(importlib.import_module(module_name), attribute)


def _dashboard_link(client: Client) -> str | None:
    try:
        info = client.scheduler_info()
        if "dashboard" not in info.get("services", {}):
            return None
        return client.dashboard_link
    except Exception:  # no dashboard, or a scheduler that cannot tell
        return None


# ---------------------------------------------------------------------- on the worker


def _run_on_worker(work: Any, *upstream_values: Any) -> Any:
    """Run ``work`` on a Dask worker, with an engine of its own for tasks it submits.

    The result stays on the worker, but must be able to leave it: one that
    cannot be serialized fails the run here (a batch: its elements).
    """
    from distributed import get_worker

    runner = DaskTaskRunner()
    runner._worker_address = get_worker().scheduler.address
    runner._started = True
    return checked_result(work, run_with_engine(work, upstream_values, runner), "Dask", _dask_dumps)


def _dask_dumps(value: Any) -> object:
    """Dask's own serialization of ``value``, with the serializers users registered."""
    from distributed.protocol import serialize

    return serialize(value, on_error="raise")


def _worker_client(address: str) -> Client:
    from distributed import get_client

    try:
        return get_client()  # in the task's thread: the worker's own client
    except ValueError:
        return get_client(address)


def _in_worker_task() -> bool:
    from distributed.worker import thread_state

    return getattr(thread_state, "start_time", None) is not None and getattr(thread_state, "key", None) is not None


__all__ = ["DaskTaskFuture", "DaskTaskRunner"]
