"""Generator tasks: ``@task`` on a ``def`` (or ``async def``) that ``yield``s, as in Prefect 3.

*Called* (``for row in read_rows(path)``, in a flow or outside one), a
generator task returns a generator that streams: nothing runs until the
first value is asked for (as in Prefect, not even the task run exists yet);
each value reaches the caller as the function yields it, while the run is
Running; the run is Completed when the function returns (its result is the
generator's return value, usually None) or when the caller stops early
(``break``, ``close()``). An exception fails the run and is raised in the
caller; with ``retries`` the function runs again *from the start*, and the
values its failed attempts yielded have already reached the caller (so a
caller sees them again). ``timeout_seconds`` bounds an attempt from its
start, the caller's time between values included (as Prefect's timeout
scope, which encloses the ``yield``).

*Submitted or mapped*, the run collects the values into a list where it
runs (on any runner: threads, processes, Dask, Ray) and that list is its
result, as Prefect turns a returned generator into a list. Retries and
timeouts then apply to the whole collection.

The caller's code between two values runs outside the task run's context:
``get_run_context()`` there is the flow's, as around any direct call.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from legato.core import states as S
from legato.core.arguments import fill_slots
from legato.core.context import TaskRunContext, task_run_context
from legato.core.direct import DIRECT
from legato.core.dispatch import NotReady
from legato.core.errors import TaskTimeoutError
from legato.core.graph import sources

if TYPE_CHECKING:
    from legato.core.engine import FlowEngine, TaskRun
    from legato.core.task import Task

#: Prefect's words when a generator task is asked for its state instead of its values
RETURN_STATE_REFUSED = "The return_type for a generator task must be 'result'"


def call_generator(engine: FlowEngine, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any],
                   wait_for: Iterable[Any] | None, return_state: bool) -> Any:
    """``my_generator_task(x)``: a generator (or async generator) that runs the task as it is iterated."""
    if return_state:
        raise ValueError(RETURN_STATE_REFUSED)
    import weakref

    stream = _Stream(engine, task, args, kwargs, wait_for)
    generator = stream.iterate_async() if task.is_async_generator else stream.iterate()
    stream.outer = weakref.ref(generator)  # not a strong one: dropping it must close it at once
    return generator


def close_open_generators(engine: FlowEngine) -> None:
    """At the end of a flow: close the generator tasks still open (Completed, as a caller's early stop).

    Without this a flow that kept a half-read generator past its body would
    wait forever for that run. One being advanced in another thread right
    now is left to finish by itself.
    """
    for closer in list(engine.open_generators):
        try:
            closer.close()
        except ValueError:  # "generator already executing": its own thread settles it
            pass
        except Exception:  # noqa: BLE001 - the user's cleanup code raised while closing
            engine.logger.warning("closing a generator task at the end of the flow raised", exc_info=True)


async def collect_async(generator: Any) -> list[Any]:
    """An async generator's values as a list (a submitted or mapped async generator task's result)."""
    return [value async for value in generator]


class _Stream:
    """One direct call of a generator task: its run, and the steps each attempt goes through."""

    def __init__(self, engine: FlowEngine, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any],
                 wait_for: Iterable[Any] | None) -> None:
        self.engine, self.task = engine, task
        self.call = (args, kwargs, list(wait_for) if wait_for is not None else None)
        self.run: TaskRun | None = None
        self.context: TaskRunContext | None = None
        self.deadline: float | None = None
        self.leases: list[str] | None = None
        self.helper: concurrent.futures.ThreadPoolExecutor | None = None
        self.copied: contextvars.Context | None = None
        self.outer: Any = None  # a weak reference to the generator handed to the caller

    # ------------------------------------------------------------------ the two iterators

    def iterate(self) -> Iterator[Any]:
        engine = self.engine
        if not self._open():
            return
        me = _Closer(self)
        engine.open_generators.add(me)
        inner: Any = None
        try:
            while True:
                inner = None
                while True:
                    try:
                        if inner is None:  # a new attempt (what starting it raises fails it, as the body would)
                            inner = self._begin()
                        value = self._advance(inner)
                    except StopIteration as stop:
                        self._finish(stop.value)
                        return
                    except BaseException as error:  # noqa: BLE001 - the task's own exception: fail or retry
                        delay = self._failed(error)
                        engine.clock.sleep(delay)
                        break
                    yield value
        except GeneratorExit:  # the caller stopped early: the run is Completed, as in Prefect
            if inner is not None:
                self._in_context(inner.close)
            self._finish(None)
            raise
        finally:
            self._end_attempt()
            engine.open_generators.discard(me)

    async def iterate_async(self) -> AsyncIterator[Any]:
        import asyncio

        engine = self.engine
        if not await asyncio.to_thread(self._open):
            return
        me = _Closer(self)
        engine.open_generators.add(me)
        inner: Any = None
        try:
            while True:
                inner = None
                while True:
                    try:
                        if inner is None:
                            inner = self._begin()
                        value = await self._advance_async(inner)
                    except StopAsyncIteration:
                        self._finish(None)
                        return
                    except BaseException as error:  # noqa: BLE001 - the task's own exception: fail or retry
                        delay = self._failed(error)
                        await asyncio.to_thread(engine.clock.sleep, delay)
                        break
                    yield value
        except GeneratorExit:
            if inner is not None:
                await inner.aclose()
            self._finish(None)
            raise
        finally:
            self._end_attempt()
            engine.open_generators.discard(me)

    # ------------------------------------------------------------------ steps

    def _open(self) -> bool:
        """Create the run and wait for its inputs; False (the run settled NotReady, nothing to yield) or raise."""
        engine, (args, kwargs, wait_for) = self.engine, self.call
        run = self.run = engine.create(self.task, args, kwargs, wait_for)
        for source in sources(run):
            if not source.settled:
                engine.wait_run(source, None)
        with engine._lock:
            engine._pending.add(run)
        try:
            self.slots, _ = engine._resolve_inputs(run, DIRECT)
        except NotReady as not_ready:
            engine._settle_all([(run, S.NotReady(str(not_ready)))])
            run.state.result()  # raises, as a direct call of a run that cannot start does
            return False
        return True

    def _begin(self) -> Any:
        """Start an attempt: Running, the context, ``on_running`` hooks, then call the function."""
        from legato.core.work import _acquire_tag_slots, slot_values

        engine, run, task = self.engine, self.run, self.task
        assert run is not None
        engine._begin_attempt(run)
        args, kwargs = run.args, run.kwargs
        if self.slots is not None:
            values = slot_values(self.slots, ())
            args, kwargs = fill_slots(args, values), fill_slots(kwargs, values)
        info = run.info()
        self.leases = _acquire_tag_slots(info.tags) if info.tags else None
        self.context = TaskRunContext(task, info, engine, args, kwargs)
        timeout = task.timeout_seconds
        self.deadline = None if timeout is None else time.monotonic() + timeout
        if task.on_running:
            self._in_context(task.run_hooks, task.on_running, info, None, "on_running")
        return self._in_context(task.fn, *args, **kwargs)

    def _in_context(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        token = task_run_context.set(self.context)
        try:
            return fn(*args, **kwargs)
        finally:
            task_run_context.reset(token)

    def _advance(self, inner: Iterator[Any]) -> Any:
        """The next value, in the run's context; past the deadline a ``TaskTimeoutError``.

        With a timeout, the function runs on a helper thread that can be
        abandoned (as a direct call's does), in a copy of this context.
        """
        if self.deadline is None:
            return self._in_context(next, inner)
        remaining = self.deadline - time.monotonic()
        if remaining > 0:
            if self.helper is None:
                self.helper = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="legato-timeout")
                token = task_run_context.set(self.context)
                self.copied = contextvars.copy_context()
                task_run_context.reset(token)
            try:
                return self.helper.submit(self.copied.run, next, inner).result(remaining)  # type: ignore[union-attr]
            except concurrent.futures.TimeoutError:
                pass
        raise self._timed_out()

    async def _advance_async(self, inner: Any) -> Any:
        import asyncio

        token = task_run_context.set(self.context)
        try:
            if self.deadline is None:
                return await inner.__anext__()
            remaining = self.deadline - time.monotonic()
            if remaining > 0:
                try:
                    return await asyncio.wait_for(inner.__anext__(), remaining)
                except asyncio.TimeoutError:
                    pass
            raise self._timed_out()
        finally:
            task_run_context.reset(token)

    def _timed_out(self) -> TaskTimeoutError:
        assert self.run is not None
        return TaskTimeoutError(
            f"task run {self.run.name!r} exceeded timeout of {self.task.timeout_seconds} second(s)")

    def _failed(self, error: BaseException) -> float:
        """A failed attempt: the delay before the retry, or (final) settle the run and raise."""
        self._end_attempt()
        run = self.run
        assert run is not None
        delays: list[float] = []
        state = self.engine._failure_state(run, error, run.run_count, lambda _r, d: delays.append(d))
        if state is None:
            return delays[0]
        self.engine._settle_all([(run, state)])
        run.state.result()  # raises the task's exception in the caller
        raise error  # (a state that does not raise: never expected)

    def _finish(self, value: Any) -> None:
        """Settle the run Completed with ``value`` (the function's return value), unless it is settled."""
        self._end_attempt()
        run = self.run
        assert run is not None
        if not run.settled:
            self.engine._settle_all([(run, self.engine._completed(run, value))])

    def _end_attempt(self) -> None:
        if self.leases:
            from legato.core.work import _release_tag_slots

            _release_tag_slots(self.leases)
        self.leases = None
        if self.helper is not None:
            self.helper.shutdown(wait=False)
            self.helper = self.copied = None


class _Closer:
    """What the engine keeps of an open stream: enough to close it at the end of the flow."""

    __slots__ = ("stream",)

    def __init__(self, stream: _Stream) -> None:
        self.stream = stream

    def __hash__(self) -> int:
        return id(self.stream)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Closer) and other.stream is self.stream

    def close(self) -> None:
        """Close a sync generator (its cleanup runs); an async one cannot be closed from here: settle it."""
        stream = self.stream
        generator = stream.outer() if stream.outer is not None else None
        if generator is not None and not stream.task.is_async_generator:
            generator.close()
        elif stream.run is not None and not stream.run.settled:
            stream._finish(None)


__all__ = ["RETURN_STATE_REFUSED", "call_generator", "close_open_generators", "collect_async"]
