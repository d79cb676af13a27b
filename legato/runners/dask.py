"""``DaskTaskRunner``: tasks run on a Dask distributed cluster (prefect-dask's runner).

::

    flow process                                  Dask cluster
    ─────────────                                 ────────────
    engine ─submit(work, upstream)─▶ client.submit(_run_on_worker, check, work, *upstream futures)
       ▲                                             │ scheduler resolves the upstream futures
       │                                             ▼ to values on the worker that runs the task
       └─ engine callback ◀─ Dask-Callback-Thread ◀─ task finished / erred / cancelled

Work items cross the scheduler as the bytes of their pickle (:func:`_pack`):
given the object, the scheduler would unpickle and pickle it again for
every task, on its event loop.

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
callback may call the client. They are registered through the future's state
object rather than ``Future.add_done_callback`` (a coroutine on the loop per
future; see :mod:`legato.runners._dask_callbacks`), on the same thread. The wrapper answers ``exception()`` for a
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
  rather than when Dask first tries to move the result. The check walks the
  value once, as pickling it would; ``check_results=False`` skips it, for
  results that are large and never leave their worker, and then such a run
  reads Completed and fails only where its value is fetched or moved;
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

Clients: a runner given an ``address`` connects once per process, not once
per flow run (connecting costs tens of milliseconds, as much as a small flow):
the flow runs of a process with the same ``address`` and ``client_kwargs``
submit through one shared ``Client``, from any thread (distributed's client
is thread-safe). Because it outlives flows, the shared client is never made
the default client (``set_as_default=False``, as in prefect-dask), so
``dask.compute`` and ``get_client()`` in the flow process do not change
behind the user's back; ``client_kwargs={"set_as_default": True}`` opts out
of sharing, for a client per flow run that is the default while the run
lasts, as before. The shared client is replaced when it stops running (its
scheduler went away, someone closed it), closed when the interpreter exits,
and never used by a forked child, which connects anew. If its cluster goes
away while the process lives on, Dask's client retries for its connect
timeout, then logs that it could not reconnect and closes itself.

At shutdown a runner closes only what it started (a ``LocalCluster`` and its
client, or a client of its own). On a shared or a user's client it cancels
the Dask futures it submitted that are still pending, so nothing the flow
gave up on stays queued on a cluster that outlives it; finished results are
released as always, when the last future holding them is dropped.

Per-task options come from ``@task(runner_options=...)``: the keys
``resources``, ``workers``, ``allow_other_workers`` and ``priority`` go to
``client.submit``, as does everything under a ``"dask"`` key; other keys
(meant for other runners) are ignored.

Map of this module (top to bottom): :class:`DaskTaskRunner` (start and
shutdown, submitting work items and batches, batch outcomes, concurrency);
:class:`DaskTaskFuture` (the engine's view of a Dask future) and how a
failure is read and translated (``_error_of``, ``_translate``); submit
options and cluster classes; the process's shared clients (``_Shared``,
``_shared_client`` and their closing, also after a fork); and what runs on a
Dask worker (``_run_on_worker``, ``_dask_dumps``, ``_worker_client``).
"""

from __future__ import annotations

import atexit
import importlib
import itertools
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

from legato.core.errors import EagerAttemptNotRun, MissingDependencyError, SerializationError, WorkerCrashedError
from legato.runners._dask_callbacks import when_done
from legato.runners._worker_logs import forward_from_dask_worker, subscribe_dask
from legato.runners._remote import (
    Summary,
    TaskPickles,
    checked_result,
    install_print_redirect_if_asked,
    innermost_cause as _root,
    is_batch,
    item_names,
    run_name as _run_name,
    run_with_engine,
    summarize_batch,
    unpack_summary,
)
from legato.runners.base import RunnerFuture, TaskRunner, WorkItem
from legato.runners.dask_client import get_async_dask_client, get_dask_client

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
    With an ``address``, flow runs of one process share one client per
    ``(address, client_kwargs)``, connected on first use, replaced if it stops
    running and closed at interpreter exit (see the module docs);
    ``client_kwargs={"set_as_default": True}`` gives each flow run a client of
    its own instead. A started ``LocalCluster`` or cluster class stays per flow
    run, as does its client.
    """

    name = "dask"
    shares_memory = False
    submits_eagerly = True

    def __init__(
        self,
        address: str | None = None,
        cluster_class: type | str | Callable[..., Any] | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        adapt_kwargs: dict[str, Any] | None = None,
        client: Client | None = None,
        client_kwargs: dict[str, Any] | None = None,
        check_results: bool = True,
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
        #: check on the worker that each result can be serialized (see the module docs)
        self.check_results = check_results
        self._user_client = client
        self._worker_address: str | None = None  # set on runners built inside a Dask worker
        self._reset()

    def _reset(self) -> None:
        self._client: Client | None = None
        self._cluster: Any = None
        self._owns_client = False
        #: what this runner submitted and the engine still holds: cancelled at shutdown if still pending
        self._submitted: weakref.WeakSet[DaskTaskFuture] = weakref.WeakSet()
        self._submitted_lock = threading.Lock()
        self._results: Any = None  # the flow run's ResultsManager, once found (see _worker_records)
        self._task_pickles = TaskPickles()  # each task pickled once per flow run or process (see legato.runners._remote)

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

        shared_kwargs = self._shared_client_kwargs()
        announce = True
        if self._user_client is not None:
            self._client = self._user_client
        elif self.address is not None and shared_kwargs is not None:
            self._client = _shared_client(self.address, shared_kwargs)
            announce = False  # the link was logged once, when the shared client connected
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
        _subscribe_logs(self._client)
        link = _dashboard_link(self._client) if announce and self._has_dashboard() else None
        if link:
            logger.info("Dask dashboard: %s", link)
        super().start()

    def settings(self) -> dict[str, Any]:
        """A runner built on a client compares by that client (its duplicate uses the same one)."""
        return {**super().settings(), "client": self._user_client}

    def _shared_client_kwargs(self) -> dict[str, Any] | None:
        """``client_kwargs`` for the process's shared client, or None if each flow run needs a client of its own.

        A client set as the default changes what ``dask.compute`` does in the
        whole process; scoped to a flow run that was the user's choice, but a
        shared client would keep it after the flow, so asking for it opts out.
        """
        if self.client_kwargs.get("set_as_default"):
            return None
        return {**self.client_kwargs, "set_as_default": False}

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
        try:
            if self._owns_client and client is not None:
                client.close()  # releases everything the flow submitted
            elif client is not None:
                self._cancel_pending(client)  # a client that stays open: only what is still queued
            if cluster is not None:
                cluster.close()
        finally:
            self._reset()
            super().shutdown(wait, cancel_futures=cancel_futures)

    def _cancel_pending(self, client: Client) -> None:
        """Cancel what this runner submitted that is still pending on a client it does not close.

        Normally nothing is: the flow waited for every run, and the engine
        cancels what it gives up on (timeouts, crashes). This catches the
        rest, such as a submission that raced a cancellation, so an abandoned
        flow leaves no work queued on a cluster that outlives it. One round
        trip, and only when there is something to cancel; a task already
        running on a worker thread runs on (Dask cannot stop it).
        """
        with self._submitted_lock:
            alive = list(self._submitted)
        pending = [f for future in alive for f in (future.dask_future, future.summary)
                   if f is not None and f.status == "pending"]
        if not pending or client.status != "running":
            return
        try:
            client.cancel(pending)
        except Exception as error:  # the scheduler went away meanwhile: nothing left to cancel there
            logger.debug("could not cancel %d pending Dask future(s): %s", len(pending), error)

    # -- work

    def _adopters(self) -> dict[str, Any]:
        """Dask partitions are computed on the cluster, and stay there (see :mod:`legato.partitioning`)."""
        return {"dask": self._compute_on_cluster, "dask-future": self._adopt_own_futures}

    def _adopt_own_futures(self, futures: list[Any], names: list[str]) -> list[Any]:
        """Dask futures of this runner's client stay on the cluster; another client's are fetched (Dask
        does not let one client's futures be the arguments of another's tasks)."""
        from legato.partitioning import compute_locally_by_kind

        client = self.client
        own = [i for i, future in enumerate(futures) if getattr(future, "client", None) is client]
        other = [i for i in range(len(futures)) if i not in set(own)]
        answers: list[Any] = [None] * len(futures)
        for i, adopted in zip(own, self._adopt_futures([futures[i] for i in own], [names[i] for i in own])):
            answers[i] = adopted
        if other:
            values = compute_locally_by_kind("dask-future", [futures[i] for i in other], [names[i] for i in other])
            for i, value in zip(other, values):
                answers[i] = value
        return answers

    def _compute_on_cluster(self, values: list[Any], names: list[str]) -> list[Any]:
        """``client.compute`` of the partitions, in one call; each becomes an adopted upstream of its runs."""
        return self._adopt_futures(self.client.compute(values), names)

    def _adopt_futures(self, futures: list[Any], names: list[str]) -> list[Any]:
        from legato.core.adoption import AdoptedInput

        adopted = []
        for future, name in zip(futures, names):
            wrapped = DaskTaskFuture(future, name)
            wrapped.is_input = True
            adopted.append(AdoptedInput(self, wrapped, name))
        return adopted

    def submit(self, work: WorkItem, upstream: Sequence[RunnerFuture] = ()) -> RunnerFuture:
        args = [u.dask_future if isinstance(u, DaskTaskFuture) else u.result() for u in upstream]
        inputs = [u for u in upstream if isinstance(u, DaskTaskFuture) and u.is_input] if upstream else None
        key = f"{work.key}-{next(_submissions)}"  # a retry is a new Dask key, never the old result
        options = _submit_options(work.options)
        client = self.client
        records = self._worker_records(work)
        try:
            payload = _pack(self._task_pickles.sendable(work))
            if records is None:
                future = client.submit(_run_on_worker, self.check_results, payload, *args, key=key, pure=False,
                                       **options)
            else:  # a persisted result: its worker reads and writes the record itself (see below)
                _listen_for_recomputes(client)
                future = client.submit(_run_persisted_on_worker, self.check_results, records, payload, *args,
                                       key=key, pure=False, **options)
        except TypeError as error:  # Dask could not serialize the work item
            raise SerializationError(f"task run {_run_name(work)!r} cannot be sent to Dask: {_root(error)}") from error
        if not is_batch(work):
            wrapped = DaskTaskFuture(future, _run_name(work))
            if inputs:
                wrapped.inputs = inputs
        else:
            summary = client.submit(summarize_batch, future, key=f"{key}-summary", pure=False)
            wrapped = DaskTaskFuture(future, _run_name(work), summary, item_names(work))
        if not self._owns_client and self._worker_address is None:  # see _cancel_pending
            with self._submitted_lock:
                self._submitted.add(wrapped)
        return wrapped

    def submit_eager(self, work: WorkItem, upstream: Sequence[RunnerFuture]) -> RunnerFuture:
        """Submit ``work`` with its upstreams' Dask futures, some still running (see :mod:`legato.core.eager`).

        Dask starts it once they have finished, on a worker that has (or is
        sent) their values. An upstream that errs errs this task too without
        running it, with the upstream's exception; the worker marks an
        exception raised by this task itself with its key, which tells the
        two apart (:meth:`DaskTaskFuture.exception`). Never a batch, and
        never a persisted task (the engine does not submit those eagerly).
        """
        args = [u.dask_future if isinstance(u, DaskTaskFuture) else u.result() for u in upstream]
        key = f"{work.key}-{next(_submissions)}"
        options = _submit_options(work.options)
        client = self.client
        try:
            payload = _pack(self._task_pickles.sendable(work))
            future = client.submit(_run_eager_on_worker, self.check_results, key, payload, *args, key=key,
                                   pure=False, **options)
        except TypeError as error:  # Dask could not serialize the work item
            raise SerializationError(f"task run {_run_name(work)!r} cannot be sent to Dask: {_root(error)}") from error
        wrapped = DaskTaskFuture(future, _run_name(work))
        wrapped.eager_key = key
        if not self._owns_client and self._worker_address is None:  # see _cancel_pending
            with self._submitted_lock:
                self._submitted.add(wrapped)
        return wrapped

    def _worker_records(self, work: Any) -> Any:
        """The task run's records for its worker, if its result is persisted (see legato.results.remote).

        The flow run's results manager is found through the flow run's context
        the first time this runner submits from the flow's thread (each flow
        run has a runner of its own), and kept for the submissions made from
        callback threads after that.
        """
        results = self._results
        if results is None:
            from legato.core.context import flow_run_context

            context = flow_run_context.get()
            engine = getattr(context, "engine", None)
            if engine is None or getattr(engine, "runner", None) is not self:
                return None
            results = getattr(engine, "results", None)
            if results is None:
                return None
            self._results = results
        if is_batch(work) or not results.wants(work.task):
            return None
        return results.worker_records(work.task, work.info.id)

    def prefetch(self, futures: Sequence[RunnerFuture]) -> None:
        """One ``client.gather`` for the finished results of a future list (``xs.result()`` of a map)."""
        wanted = [f for f in futures if isinstance(f, DaskTaskFuture) and f.summary is None and f._value is _UNSET
                  and f.dask_future.status == "finished"]
        if len(wanted) < 2:
            return
        try:
            values = self.client.gather([f.dask_future for f in wanted])
        except Exception as error:  # lost meanwhile: each is fetched (and fails) on its own
            logger.debug("prefetching %d Dask results: %s", len(wanted), error)
            return
        for future, value in zip(wanted, values):
            future._value = value

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

    __slots__ = ("dask_future", "name", "summary", "names", "eager_key", "_value", "is_input", "inputs",
                 "__weakref__")

    def __init__(self, dask_future: DaskFuture, name: str, summary: DaskFuture | None = None,
                 names: list[str] | None = None) -> None:
        self.dask_future = dask_future
        self.name = name
        self.summary = summary
        self.names = names
        #: the Dask key of an eager submission (:meth:`DaskTaskRunner.submit_eager`), else None
        self.eager_key: str | None = None
        self._value: Any = _UNSET
        #: a partition computed on the cluster for tasks (legato.partitioning), not a task run's future
        self.is_input = False
        #: the adopted partitions the task takes: a failure among them is named in the run's error
        self.inputs: list[DaskTaskFuture] | None = None

    def add_done_callback(self, fn: Callable[[DaskTaskFuture], object], /) -> None:
        when_done(self.summary or self.dask_future, lambda: fn(self))  # see legato.runners._dask_callbacks

    def done(self) -> bool:
        return (self.summary or self.dask_future).status in ("finished", "error", "cancelled", "lost")

    def result(self, timeout: float | None = None) -> Any:
        if self._value is not _UNSET:
            return self._value
        try:
            value = self.dask_future.result(timeout)
        except Exception as error:
            raise self._named(_translate(error, self.name)) from None
        if self.summary is not None:  # a batch: its elements' values are asked for one by one
            self._value = value
        return value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self.eager_key is not None:
            return self._eager_error(timeout)
        error = _error_of(self.dask_future, timeout, self.name)
        if error is None and self.summary is not None:
            error = _error_of(self.summary, timeout, self.name)
        return error if error is None or self.inputs is None else self._named(error)

    def _named(self, error: BaseException) -> BaseException:
        """A task that failed because a partition it takes could not be computed: say which one."""
        if self.inputs is None:
            return error
        for partition in self.inputs:
            if partition.dask_future.status == "error":
                from legato.core.errors import PartitionError

                named = PartitionError(f"task run {self.name!r} did not run: its input {partition.name} could not "
                                       f"be computed on the Dask cluster: {type(error).__name__}: {error}")
                named.__cause__ = error
                return named
        return error

    def _eager_error(self, timeout: float | None) -> BaseException | None:
        """How an eager submission ended: its own error, or :class:`EagerAttemptNotRun` if an upstream's.

        Dask errs (or cancels) a task whose dependency erred (or was
        cancelled) without running it, with the dependency's exception: only
        an exception this task raised carries its key (see
        :func:`_run_eager_on_worker`), and a ``KilledWorker`` names the task
        whose workers died.
        """
        try:
            error = _error_of(self.dask_future, timeout, self.name)
        except CancelledError:
            return EagerAttemptNotRun(f"task run {self.name!r}: an upstream's Dask task was cancelled")
        if error is None:
            return None
        if isinstance(error, RaisedInEagerTask):  # a failure whose mark would not have survived the trip
            if error.key != self.eager_key:
                return EagerAttemptNotRun(f"task run {self.name!r} did not run: an upstream failed "
                                          f"({type(error.error).__name__})")
            own = error.error
            return own if own.__traceback__ is not None else own.with_traceback(error.__traceback__)
        marked = vars(error).pop(_RAN_MARK, None) if hasattr(error, "__dict__") else None
        if marked == self.eager_key:
            return error
        killed = error.__cause__ if isinstance(error, WorkerCrashedError) else None
        if killed is not None and getattr(killed, "args", None) and killed.args[0] == self.eager_key:
            return error
        return EagerAttemptNotRun(f"task run {self.name!r} did not run: an upstream failed ({type(error).__name__})")

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


def _subscribe_logs(client: Client) -> None:
    """Re-emit the workers' log records here: once per client connection, not once per flow run.

    A client that lives across flow runs (the shared client of an address, a
    user's client) keeps its subscription; subscribing again at each run cost
    a scheduler message and made Dask log "Handler ... already set" every
    time. A client that reconnected has a new scheduler comm and subscribes
    again.
    """
    comm = getattr(client, "scheduler_comm", None)
    if comm is not None and getattr(client, "_legato_logs_comm", None) is comm:
        return
    subscribe_dask(client)
    if comm is not None:
        client._legato_logs_comm = comm


def _dashboard_link(client: Client) -> str | None:
    try:
        info = client.scheduler_info()
        if "dashboard" not in info.get("services", {}):
            return None
        return client.dashboard_link
    except Exception:  # no dashboard, or a scheduler that cannot tell
        return None


# ---------------------------------------------------------------------- clients shared by the process


class _Shared:
    """The process's client for one ``(address, kwargs)``; its lock is held while it connects."""

    __slots__ = ("address", "kwargs", "client", "lock")

    def __init__(self, address: str, kwargs: dict[str, Any]) -> None:
        self.address = address
        self.kwargs = kwargs
        self.client: Client | None = None
        self.lock = threading.Lock()


#: one entry per (address, client_kwargs); a list, as client_kwargs may hold values that cannot be hashed
_shared: list[_Shared] = []
#: replaced while reconnecting: closed once they are back, or at exit if they are (see _shared_client)
_retired: list[Client] = []
#: guards the two lists; connecting holds only the entry's lock, so one unreachable scheduler
#: does not hold up flows on other addresses
_shared_lock = threading.Lock()
_exit_hook = False

#: seconds to wait for a client to close
_CLOSE_TIMEOUT = 5


def _shared_client(address: str, kwargs: dict[str, Any]) -> Client:
    """The process's client for ``(address, kwargs)``: connected on first use, replaced once it stops running.

    Concurrent first flows wait for one connection rather than open one
    each. A client that is not running (closed, or reconnecting to a
    scheduler that went away) is of no use to a new flow: Dask cancelled
    all its futures when it lost the scheduler, so the flows that used it
    have failed already. A closed one is simply dropped; one still
    reconnecting is left to finish (closing it now makes Dask log a
    spurious error) and closed later if it gets back.
    """
    from distributed import Client

    global _exit_hook
    with _shared_lock:
        entry = next((e for e in _shared if e.address == address and e.kwargs == kwargs), None)
        if entry is None:
            entry = _Shared(address, dict(kwargs))
            _shared.append(entry)
        reconnected = _take_reconnected()
        if not _exit_hook:  # registered after distributed's own hook, so it runs first
            atexit.register(_close_shared_clients)
            _exit_hook = True
    for client in reconnected:
        _close_quietly(client)
    with entry.lock:
        stale = entry.client
        if stale is not None and stale.status == "running":
            return stale
        entry.client = None
        if stale is not None and stale.status == "connecting":
            with _shared_lock:
                _retired.append(stale)
        entry.client = client = Client(address, **kwargs)
    link = _dashboard_link(client)
    if link:
        logger.info("Dask dashboard: %s", link)
    return client


def _take_reconnected() -> list[Client]:
    """Under ``_shared_lock``: the retired clients that got back (to close); forget those that gave up."""
    back = [client for client in _retired if client.status == "running"]
    _retired[:] = [client for client in _retired if client.status == "connecting"]
    return back


def _close_shared_clients() -> None:
    """Close the shared clients that are running (at exit; tests call it before closing their cluster).

    A client still reconnecting to a scheduler that went away is left
    alone: there is nothing left to release, and it ends with the process.
    """
    with _shared_lock:
        clients = [entry.client for entry in _shared if entry.client is not None] + _retired
        _shared.clear()
        _retired.clear()
    for client in clients:
        if client.status == "running":
            _close_quietly(client)


def _close_quietly(client: Client) -> None:
    try:
        client.close(timeout=_CLOSE_TIMEOUT)
    except Exception as error:  # its scheduler went away meanwhile: nothing left to release
        logger.debug("closing Dask client %r: %s", client, error)


def _forget_shared_clients() -> None:
    """In a forked child: the parent's clients belong to event loop threads that do not exist here.

    Closing one would wait forever for its loop, and using one would write
    into the parent's connection; the child forgets them and connects anew.
    Fresh locks too, as another thread of the parent may have held one.
    """
    global _shared, _retired, _shared_lock
    _shared, _retired, _shared_lock = [], [], threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_shared_clients)


# ---------------------------------------------------------------------- on the worker


def _run_on_worker(check_results: bool, work: Any, *upstream_values: Any) -> Any:
    """Run ``work`` on a Dask worker, with an engine of its own for tasks it submits.

    The result stays on the worker, but must be able to leave it: unless the
    runner has ``check_results=False``, one that cannot be serialized fails
    the run here (a batch: its elements).
    """
    from distributed import get_worker

    work = _unpack(work)
    forward_from_dask_worker()
    install_print_redirect_if_asked(work)
    runner = DaskTaskRunner(check_results=check_results)  # for the tasks ``work`` submits
    runner._worker_address = get_worker().scheduler.address
    runner._started = True
    value = run_with_engine(work, upstream_values, runner)
    return checked_result(work, value, "Dask", _dask_dumps) if check_results else value


#: the attribute by which an eager task's own exception names its Dask key (see _run_eager_on_worker)
_RAN_MARK = "_legato_raised_in"


def _run_eager_on_worker(check_results: bool, key: str, work: Any, *upstream_values: Any) -> Any:
    """:func:`_run_on_worker` for an eager submission: an exception it raises carries the task's key.

    Dask hands a dependent the exception of an upstream that erred, without
    running it; the mark is how the flow process knows this one did run.
    """
    try:
        return _run_on_worker(check_results, work, *upstream_values)
    except BaseException as error:
        if _marked(error, key):
            raise
        raise RaisedInEagerTask(key, error) from None


def _marked(error: BaseException, key: str) -> bool:
    """Mark ``error`` as raised by the task ``key``; whether the mark reaches the flow process with it.

    It does not for an exception that refuses attributes, or whose pickle
    leaves its ``__dict__`` out (a ``__reduce__`` that keeps only its
    arguments, as some libraries' errors have): the flow process would read
    the failure as an upstream's and run the task again. Checked with a
    pickle round trip, on failures only.
    """
    from distributed.protocol.pickle import dumps, loads

    try:
        setattr(error, _RAN_MARK, key)
        return getattr(loads(dumps(error)), _RAN_MARK, None) == key
    except Exception:  # no attribute, or no pickle at all: carried (as text if need be) by RaisedInEagerTask
        return False


class RaisedInEagerTask(Exception):
    """The exception an eagerly submitted task raised, with the task's Dask key, to cross Dask intact.

    Only for exceptions that cannot carry the key themselves (see
    :func:`_marked`); the flow process unwraps it, so a run fails with its
    own exception. Another Dask consumer of the task's future (a collection
    built from the results) sees this, naming the exception.
    """

    def __init__(self, key: str, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.key, self.error = key, error

    def __reduce__(self) -> Any:
        from distributed.protocol.pickle import dumps

        try:
            dumps(self.error)
            error = self.error
        except Exception:  # the exception itself cannot be pickled: its type and text can
            error = RuntimeError(f"{type(self.error).__name__}: {self.error}")
        return (type(self), (self.key, error))


RECOMPUTED_TOPIC = "legato-recomputed"


def _run_persisted_on_worker(check_results: bool, records: Any, work: Any, *upstream_values: Any) -> Any:
    """:func:`_run_on_worker` for a task run whose result is persisted, with its record on the worker.

    The flow process looked the record up and missed before submitting, so a
    record found here was written by an earlier execution of this very Dask
    task: Dask is recomputing a result it lost with a dead worker. The value
    is read instead of running the task again, and the flow process is told
    (a Dask event, logged there). Otherwise the task runs and its record is
    written here at once, before the flow process has fetched the value: a
    worker or a flow process dying after this point costs no second run.
    """
    work = _unpack(work)
    found, value = records.read()
    if found:
        from distributed import get_worker

        get_worker().log_event(RECOMPUTED_TOPIC, {"run": _run_name(work)})
        return value
    value = _run_on_worker(check_results, work, *upstream_values)
    records.write(value)
    return value


def _listen_for_recomputes(client: Any) -> None:
    """Log, in the flow process, each recompute a worker reports (once per client)."""
    if getattr(client, "_legato_recomputes", False):
        return
    client._legato_recomputes = True

    def report(event: Any) -> None:
        message = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        run = message.get("run", "?") if isinstance(message, dict) else message
        logger.warning("dask runner: Dask ran task run %r again (its first worker died holding the result); "
                       "its stored record was read instead of running the task a second time", run)

    try:
        client.subscribe_topic(RECOMPUTED_TOPIC, report)
    except Exception as error:  # an old distributed: recomputes are still read from the record, just not logged
        logger.debug("cannot subscribe to Dask events: %s", error)


def _pack(work: Any) -> bytes:
    """The work item as the bytes of its pickle, which the scheduler passes on without looking inside.

    Given the object, Dask's scheduler unpickles every task's arguments when
    the graph arrives and pickles them again for the worker: for a work item
    (about 1.4 KB) some 60 µs of the scheduler's event loop per task, which
    on a ``LocalCluster`` is in the flow's own process, under its GIL, and
    on every link of a chain. Bytes cross the scheduler as they are, and the
    worker unpickles them once (:func:`_unpack`). Pickled with Dask's own
    pickler, as Dask would have; like Dask, it raises ``TypeError`` for what
    cannot be pickled.
    """
    from distributed.protocol.pickle import dumps

    try:
        return dumps(work)
    except TypeError:
        raise
    except Exception as error:  # PicklingError and friends: as client.submit reported them
        raise TypeError(f"could not serialize {work!r}: {error}") from error


def _unpack(work: Any) -> Any:
    if type(work) is bytes:
        from distributed.protocol.pickle import loads

        return loads(work)
    return work


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


__all__ = ["DaskTaskFuture", "DaskTaskRunner", "get_async_dask_client", "get_dask_client"]
