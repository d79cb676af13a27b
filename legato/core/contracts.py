"""What the core asks of the layers above it, declared here so the core imports none of them.

The core (tasks, flows, the engine) runs a graph; it does not know where
tasks run, where results are kept, or who watches. It asks for those through
the contracts below, and :mod:`legato.wiring` (outside the core) connects the
real ones once, when ``legato`` is imported::

    legato.core ──declares──▶ Runner, ResultStore, RunObserver, Services
         ▲                                 ▲
         │ imports                         │ implements
    legato.runners / results / history / progress ◀── legato.wiring installs

* :class:`Runner`: what the engine calls on a task runner (written down whole,
  with defaults, in :class:`legato.runners.base.TaskRunner`);
* :class:`ResultStore`: the result cache and persistence of one flow run;
* :class:`RunObserver`: told about runs as they are created, start and settle
  (the run history and the progress display are observers);
* :class:`Services`: opens the above for a flow run; one is installed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RunnerFuture(Protocol):
    """What the engine needs of the futures a runner returns."""

    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...
    def done(self) -> bool: ...
    def result(self, timeout: float | None = None) -> Any: ...
    def exception(self, timeout: float | None = None) -> BaseException | None: ...
    def cancel(self) -> bool: ...


class StartReportingFuture(RunnerFuture, Protocol):
    """The future of a runner whose ``reports_start`` is true."""

    def add_start_callback(self, fn: Callable[[Any], object], /) -> None: ...


class Runner(Protocol):
    """Everything the engine uses of a task runner (see :class:`legato.runners.base.TaskRunner`)."""

    name: str
    #: tasks run in the flow's own memory (no serialization; they may submit to the engine)
    shares_memory: bool
    #: its futures are :class:`StartReportingFuture`: timeouts count from the start
    reports_start: bool
    #: whether maps are sent in batches (:mod:`legato.core.batching`)
    batches: bool
    #: :meth:`submit_eager` takes upstream futures still in flight (see :mod:`legato.core.eager`)
    submits_eagerly: bool

    @property
    def concurrency(self) -> int: ...
    @property
    def batch_target_seconds(self) -> float: ...
    def submit(self, work: Any, upstream: Sequence[Any] = ()) -> Any: ...
    def submit_eager(self, work: Any, upstream: Sequence[Any]) -> Any: ...
    def batch_outcomes(self, future: Any) -> tuple[float, list[tuple[bool, Any]]]: ...
    def abort(self, future: Any) -> None: ...
    def wait(self, event: threading.Event, timeout: float | None) -> bool: ...
    def prefetch(self, futures: Sequence[Any]) -> None:
        """Fetch the values of these finished futures together, before they are asked for one by one (a hint)."""
        ...
    def adopt(self, value: Any) -> Any:
        """``value``, or what replaces it if it is a backend's lazy input (see :mod:`legato.core.adoption`)."""
        ...


class ResultStore(Protocol):
    """The result cache and persistence of a flow run (:class:`legato.results.ResultsManager`)."""

    def wants(self, task: Any) -> bool:
        """Whether this task's results are looked up or persisted at all (asked once per task)."""

    def lookup(self, task: Any, info: Any, parameters: dict[str, Any]) -> tuple[bool, Any]:
        """``(True, value)`` for a cached result of this call, else ``(False, None)``."""

    def store(self, task: Any, info: Any, parameters: dict[str, Any], value: Any) -> None:
        """Persist the value of a completed run."""


class RunObserver:
    """Told what happens to the task runs of one flow run; every method is optional.

    The engine calls only the methods a subclass overrides (it checks once,
    when it is built), so an observer that ignores an event costs nothing
    per run. Calls come from any thread, outside the engine's lock, and must
    be short: a settled batch of a map is one call.
    """

    def run_created(self, run: Any) -> None:
        """A task run was created (it may wait for upstreams)."""

    def run_edges(self, run_id: str, upstream_ids: Sequence[str]) -> None:
        """Edges into a run: its upstreams, or futures a map iterated."""

    def run_started(self, run: Any) -> None:
        """A run's first attempt began."""

    def runs_settled(self, runs: list[Any]) -> None:
        """Runs reached their final states (their ``state`` is final)."""

    def flow_run_finished(self, flow_run: Any, error: str | None) -> None:
        """The flow run ended; ``error`` is the formatted exception of a state that is not Completed."""

    def close(self) -> None:
        """The flow run is over: release what the observer holds (a display, a handle)."""


class RunScope(Protocol):
    """What task runs created inside a block belong to (a transaction): the context variable ``run_scope``.

    The engine reads ``run_scope`` once per task run it creates; a run
    created under a scope is told to it, in the flow's process, whatever the
    runner: when it is created, when its completed result would be persisted
    (the scope may keep the write for later), and when it settles (before
    anyone waiting for the run is woken).
    """

    def run_created(self, run: Any) -> None: ...
    def defer_store(self, run: Any, write: Callable[[], None]) -> bool:
        """Take ``write`` (persisting the run's result) to call later; False: the engine writes now."""
        ...
    def run_settled(self, run: Any, state: Any) -> None: ...


def observer_hooks(observers: Sequence[Any], name: str) -> tuple[Callable[..., None], ...]:
    """The bound ``name`` methods of the observers that override it."""
    default = getattr(RunObserver, name)
    return tuple(getattr(o, name) for o in observers if getattr(type(o), name, default) is not default)


class Services(Protocol):
    """Opens, for a flow run, what the core declares; :mod:`legato.wiring` installs the real one."""

    def validate_runner(self, spec: Any) -> None: ...
    def resolve_runner(self, spec: Any) -> Runner: ...
    def inline_runner(self) -> Runner: ...
    def render_run_key(self, run_key: Any, parameters: dict[str, Any]) -> str | None: ...
    def open_results(self, flow: Any, flow_run: Any) -> ResultStore | None: ...
    def cache_policy_of(self, task: Any) -> Any:
        """What ``task.cache_policy`` reads (Prefect's rules over the options the task was given)."""
        ...
    def open_observers(self, flow_run: Any, runner: Runner, top_level: bool) -> list[RunObserver]: ...
    def tag_limits(self) -> tuple[Callable[[tuple[str, ...]], Any], Callable[[Any], None]]:
        """``(acquire, release)``: take the slots of a tagged attempt's limits before it runs, give them back after."""
        ...
    def to_deployment(self, flow: Any, name: str | None, options: dict[str, Any]) -> Any: ...


_services: Services | None = None


def install(services: Services) -> None:
    """Make ``services`` what every flow run uses (done by :mod:`legato.wiring`)."""
    global _services
    _services = services


def services() -> Services:
    """The installed services; importing ``legato`` installs them."""
    if _services is None:
        import importlib

        importlib.import_module("legato")  # a program that imported only legato.core.*: wire it now
        if _services is None:
            raise RuntimeError("no legato services are installed (import legato first)")
    return _services


__all__ = [
    "ResultStore", "RunObserver", "RunScope", "Runner", "RunnerFuture", "Services", "StartReportingFuture",
    "install", "observer_hooks", "services",
]
