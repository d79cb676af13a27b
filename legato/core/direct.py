"""Direct calls: ``my_task(x)`` inside a flow (or outside any), run now in the calling thread.

A mixin of :class:`legato.core.engine.FlowEngine`. A direct call is a task
run like any other (it is in the graph, the history and the hooks), but it
never goes to the runner: it waits for its inputs, asks the result cache,
and calls the work item here, retrying after the clock's ``sleep``. A sync
function with a timeout runs on a helper thread that can be abandoned.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from legato.core import states as S
from legato.core.dispatch import NotReady
from legato.core.errors import TaskTimeoutError
from legato.core.graph import TaskRun, sources
from legato.core.work import WorkItem

if TYPE_CHECKING:
    from legato.core.task import Task


class _ThisThread:
    """Stands for "this thread" when inputs are resolved for a direct call."""

    shares_memory = True


DIRECT: Any = _ThisThread()


class DirectCalls:
    """Running a task now, in this thread, with its retries."""

    def call(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any],
             wait_for: Iterable[Any] | None = None) -> TaskRun:
        """Run a task now, in this thread, with its retries (``my_task(x)`` inside a flow).

        Whatever legato's own handling raises on the way (a RecursionError
        of direct calls nested too deep, a MemoryError) settles the run with
        that error, so no run is left for the flow to wait for forever.
        """
        run = self.create(task, args, kwargs, wait_for)
        try:
            return self._call(task, run)
        except BaseException as error:  # raised by legato's own handling, not by the task
            # Out of stack, nothing here can be called safely: the run is noted (list.append
            # makes no Python frame) and settled by whoever next has stack to spare: this
            # call, an outer direct call, or the flow's final wait (see settle_orphans).
            self._orphans.append((run, error))
            try:
                self.settle_orphans()
            except BaseException:  # noqa: BLE001 - still too deep: an outer frame settles it
                pass
            if type(error) is RecursionError and "nested too deep" not in str(error):
                raise RecursionError(f"task {task.name!r}: direct task calls nested too deep ({error})") from error
            raise

    def settle_orphans(self) -> None:
        """Settle the runs whose own handling failed (see :meth:`call`), each with the error it met."""
        while self._orphans:
            run, error = self._orphans[-1]  # taken off only once settled: this may fail for lack of stack too
            if not run.settled:
                settle_on_fresh_stack(self, run, _own_failure(run, error))
            self._orphans.pop()

    def _call(self, task: Task, run: TaskRun) -> TaskRun:
        self._wait_for_inputs(run)
        with self._lock:
            self._pending.add(run)
        while True:
            try:
                slots, _ = self._resolve_inputs(run, DIRECT)
            except NotReady as not_ready:
                self._settle_all([(run, S.NotReady(str(not_ready)))])
                return run
            if run.run_count == 0 and self._wants_cache(task):
                cached = self._lookup_cache(run, slots, [])
                if cached is not None:
                    self._settle_all([(run, cached)])
                    return run
            self._begin_attempt(run)
            work = WorkItem(task, run.args, run.kwargs, run.info(), slots, self)
            try:
                value = call_with_timeout(work, task.timeout_seconds, run.name)
            except BaseException as error:
                if type(error) is RecursionError and "nested too deep" not in str(error):
                    named = RecursionError(f"task {task.name!r}: direct task calls nested too deep ({error})")
                    named.__cause__ = error
                    error = named
                delays: list[float] = []
                state = self._failure_state(run, error, run.run_count, lambda _r, d: delays.append(d))
                if state is not None:
                    self._settle_all([(run, state)])
                    return run
                self.clock.sleep(delays[0])
                continue
            self._settle_all([(run, self._completed(run, value))])
            return run

    def _wait_for_inputs(self, run: TaskRun) -> None:
        for source in sources(run):
            if not source.settled:
                self.wait_run(source, None)



def _own_failure(run: TaskRun, error: BaseException) -> S.State:
    if isinstance(error, RecursionError):
        named = RecursionError(f"task run {run.name!r}: direct task calls nested too deep ({error})")
        named.__cause__ = error
        return S.Failed(named)
    return S.Failed(error) if isinstance(error, Exception) else S.Crashed(error)


def settle_on_fresh_stack(engine: Any, run: TaskRun, state: S.State) -> None:
    """Settle ``run`` from a new thread: this one may be out of stack (its recursion limit reached)."""
    import threading

    helper = threading.Thread(target=engine.settle, args=(run, state), name="legato-settle")
    helper.start()
    helper.join()


def call_with_timeout(work: WorkItem, timeout: float | None, name: str) -> Any:
    """Run a direct call; a sync function with a timeout runs on a helper thread we can abandon."""
    if timeout is None or work.task.is_async:
        return work()
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="legato-timeout")
    try:
        return pool.submit(work).result(timeout)
    except concurrent.futures.TimeoutError:
        raise TaskTimeoutError(f"task run {name!r} exceeded timeout of {timeout} second(s)") from None
    finally:
        pool.shutdown(wait=False)


__all__ = ["DIRECT", "DirectCalls", "call_with_timeout"]
