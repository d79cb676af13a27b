"""Eager submission: a dependent run handed to the backend while its upstreams still run.

On a runner that keeps data where it was computed (Dask, Ray), a dependent
run dispatched the ordinary way costs a round trip through the flow process
per edge: the backend reports the upstream done, the engine settles it, and
only then submits the dependent with the upstream's backend future. Raw Dask
and Ray hand the dependent its upstream's future at once and let their own
scheduler start it when its inputs exist. A runner with ``submits_eagerly``
(:meth:`legato.runners.base.TaskRunner.submit_eager`) lets the engine do the
same, for the runs where that keeps every promise (:func:`eager_inputs`):

* a run created by ``submit`` while its upstreams are all in flight on the
  same runner (an open attempt, or an eager attempt of their own), or
  already Completed there;
* no ``allow_failure`` inputs and no ``wait_for``, not a map element, no
  ``max_concurrency`` limiter;
* no result cache or persistence for its task (looking up a cache key needs
  the input values in the flow process), no ``timeout_seconds`` (neither
  Dask nor Ray reports when a task starts, so a timeout would count from
  submission, long before the upstreams finish).

Everything else is dispatched as before. Tag limits are unaffected: as on
every remote dispatch, the attempt takes its ``tag:`` slots on the worker,
when its function is about to run.

The eager attempt is not an attempt yet. The run stays Pending (history and
observers see nothing) until the backend reports back; then:

* it ran: the engine begins its first attempt (Running, with the worker's
  start time where the runner gives one) and handles the outcome as any
  attempt's: Completed, a retry, or a final failure;
* it did not run (:class:`~legato.core.errors.EagerAttemptNotRun`: an
  upstream failed, crashed or was cancelled): the run is again an ordinary
  waiting run. It is dispatched the ordinary way once its upstreams are
  final, so an upstream that fails and then succeeds on a retry still feeds
  it, and one that ends failed makes it NotReady, as before.

While an eager attempt is out (or the retry it led to is waiting for its
delay), the run's ordinary dispatch must not happen as well. Its upstreams
settling still makes it "ready" through the graph; :meth:`EagerSubmission._deferred`
notes that and lets whoever holds the run (the eager outcome, the retry
timer) dispatch it, so each attempt is started exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from legato.core import states as S
from legato.core.errors import EagerAttemptNotRun
from legato.core.graph import TaskRun, begin_attempt
from legato.core.work import Inline

if TYPE_CHECKING:
    from legato.core.contracts import Runner

_COMPLETED = S.StateType.COMPLETED


class EagerAttempt:
    """A run held by the eager path: its attempt is out, or its retry waits for its delay."""

    __slots__ = ("in_flight", "ready")

    def __init__(self) -> None:
        #: the eager attempt is with the backend (its future is the run's ``runner_future``)
        self.in_flight = True
        #: the graph made the run ready meanwhile: whoever releases the run dispatches it
        self.ready = False


class EagerSubmission:
    """The eager path of :class:`legato.core.engine.FlowEngine` (a mixin of :class:`~legato.core.dispatch.Dispatch`)."""

    # what it uses of the engine and of Dispatch
    runner: Runner
    clock: Any
    crash: BaseException | None
    logger: Any
    _lock: Any
    _settle_all: Callable[..., None]
    _wants_cache: Callable[[Any], bool]
    _completed: Callable[..., S.State]
    _failure_state: Callable[..., S.State | None]
    _start_or_settle: Callable[[TaskRun], None]
    _work_item: Callable[..., Any]
    _on_started: tuple[Callable[..., None], ...]

    #: runs held by the eager path; None until the first eager submission of this engine
    _eager: dict[TaskRun, EagerAttempt] | None = None

    def _submit_eagerly(self, run: TaskRun) -> bool:
        """Hand a waiting run to its runner now, with its upstreams' futures; False if it is not eligible."""
        runner = run.runner
        if runner is None or self.crash is not None or not eligible_run(run, runner):
            return False
        task = run.task
        if task.timeout_seconds is not None and not runner.reports_start:
            return False
        if self._wants_cache(task):
            return False
        with self._lock:
            if self._eager is None:
                self._eager = {}
            inputs = eager_inputs(run, runner, self._eager)
            if inputs is None or run.settled:
                return False
            entry = self._eager[run] = EagerAttempt()
        slots, futures = inputs
        run.batch_index = None
        work = self._work_item(run, slots)
        try:
            future = runner.submit_eager(work, futures)
        except Exception as error:  # the ordinary dispatch will meet (and report) the same problem
            self.logger.debug("eager submission of task run %r failed: %r", run.name, error)
            self._release_eager(run)
            return True
        run.runner_future = future
        future.add_done_callback(lambda f, run=run, entry=entry: self._eager_done(run, entry, f))
        return True

    def _deferred(self, run: TaskRun) -> bool:
        """Called by the ordinary dispatch of a ready run: True if the eager path holds it (it is noted)."""
        with self._lock:
            entry = self._eager.get(run) if self._eager else None
            if entry is None:
                return False
            entry.ready = True
            return True

    def _release_eager(self, run: TaskRun) -> None:
        """The eager path lets go of ``run``; if the graph made it ready meanwhile, dispatch it now."""
        with self._lock:
            entry = self._eager.pop(run, None) if self._eager else None
            ready = entry is not None and entry.ready and not run.settled
        if ready:
            self._start_or_settle(run)

    def _eager_done(self, run: TaskRun, entry: EagerAttempt, future: Any) -> None:
        with self._lock:
            if run.settled or not entry.in_flight:  # cancelled meanwhile (the flow crashed, or gave up)
                if self._eager:
                    self._eager.pop(run, None)
                return
            entry.in_flight = False
        try:
            error = future.exception()
        except BaseException as cancelled:  # the backend cancelled it (not the engine: the run is not settled)
            error = EagerAttemptNotRun(f"the eager attempt of task run {run.name!r} was cancelled: {cancelled!r}")
        if isinstance(error, EagerAttemptNotRun):  # it never started: an ordinary waiting run again
            self._release_eager(run)
            return
        if begin_attempt(run):
            started = getattr(future, "started_at", None)
            if started is not None:
                run.started_at = started
            for on_started in self._on_started:
                on_started(run)
        attempt = run.run_count
        if error is None:
            state: S.State | None = self._completed(run, S.ResultRef(future.result))
        else:
            state = self._failure_state(run, error, attempt, self._eager_retry)
            if state is None:  # a retry: the run stays held until its delay has passed
                return
        with self._lock:
            if self._eager:
                self._eager.pop(run, None)
        self._settle_all([(run, state)])

    def _eager_retry(self, run: TaskRun, delay: float) -> None:
        """A failed eager attempt retries: after ``delay``, the ordinary way, once its upstreams are settled.

        Its upstreams succeeded (it ran), but the engine may not have settled
        them yet; releasing the run lets whichever comes last (the delay, or
        the graph making it ready) dispatch it.
        """
        if delay <= 0:
            self._release_eager(run)
        else:
            self.clock.call_later(delay, self._release_eager, run)


def eligible_run(run: TaskRun, runner: Any) -> bool:
    """What of a run rules the eager path out by itself (see the module docs)."""
    return (getattr(runner, "submits_eagerly", False) and not run.wait_for and run.map_index is None
            and run.limiter is None and bool(run.upstreams))


def eager_inputs(run: TaskRun, runner: Any, held: dict[TaskRun, EagerAttempt]
                 ) -> tuple[list[int | Inline], list[Any]] | None:
    """Under the engine's lock: the argument slots and upstream futures of an eager submission, or None.

    Each upstream must be a run of the same runner that is in flight (an
    open attempt, or an eager attempt ``held``) or Completed there, with a
    future of its own (not one element of a batch); or a Completed state.
    """
    slots: list[int | Inline] = []
    futures: list[Any] = []
    for upstream in run.upstreams:
        if upstream.allow_failure:
            return None
        source = upstream.source
        if isinstance(source, S.State):
            if source.type is not _COMPLETED:
                return None
            slots.append(Inline(source.result()))
            continue
        if source.runner is not runner or source.batch_index is not None or source.runner_future is None:
            return None
        if source.settled:
            if source.last_state is None or source.last_state.type is not _COMPLETED:
                return None
        elif not source.attempt_open:
            entry = held.get(source)
            if entry is None or not entry.in_flight:
                return None
        slots.append(len(futures))
        futures.append(source.runner_future)
    return (slots, futures) if futures else None


__all__ = ["EagerAttempt", "EagerSubmission", "eager_inputs", "eligible_run"]
