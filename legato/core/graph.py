"""The task graph of one flow run and its state machine, over plain data.

A :class:`TaskRun` is a node: its task, its argument template, its edges
(``upstreams`` it takes values from, ``wait_for`` it only waits for), how
many unsettled upstreams it still waits for (``waiting_on``), and its state.
This module holds the transitions that touch only that data; nothing here
knows a runner, a thread, a clock or a result store, so the state machine
can be read (and tested) on its own. :mod:`legato.core.engine` calls these
functions under its lock and does everything else.

Per task run::

    Pending ──dispatch──▶ Running ──ok──▶ Completed
       │                    │  └─error, retry left──▶ AwaitingRetry ─timer─▶ Running
       │                    └─error, no retry left──▶ Failed (or TimedOut)
       └─an upstream did not complete──▶ Pending named NotReady (final here)

* :func:`link` counts what a new run waits for and registers it with its
  upstreams: a run with nothing to wait for is ready;
* :func:`begin_attempt` moves a ready run to Running (Retrying from the
  second attempt on);
* :func:`transition` settles a run in a final state (or NotReady) and
  returns, through ``ready``, the dependents that now wait for nothing;
* :func:`release` drops what a settled run no longer needs.

Settling is a work list, not recursion (see ``FlowEngine._settle_all``), so a
failure that turns a 10,000-link chain NotReady is no deeper than one link.
"""

from __future__ import annotations

import operator
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from legato.core import states as S
from legato.core.adoption import AdoptedInput
from legato.core.annotations import allow_failure
from legato.core.arguments import Upstream
from legato.core.context import RunInfo
from legato.core.futures import LegatoFuture, set_run_type

if TYPE_CHECKING:
    from legato.core.contracts import Runner
    from legato.core.task import Task

_getrandbits = random.getrandbits  # the module's shared generator: random.seed() still applies

#: What a run without upstreams (or a settled run) holds instead of containers of its own.
#: The garbage collector rescans every live container at each full collection, and a
#: big map keeps every task run alive until the flow ends: two empty lists per run were
#: 40% of the objects it rescanned. Shared immutable empties cost nothing per run.
NO_UPSTREAMS: tuple[Upstream, ...] = ()
RELEASED_KWARGS: Mapping[str, Any] = MappingProxyType({})


_extra_lock = threading.Lock()


class _Rare:
    """A task run attribute that nearly every run leaves at its default, kept out of its slots.

    A big map keeps every one of its task runs until the flow ends; a slot
    is 8 bytes on each of them whether it is used or not. These attributes
    live in the run's ``_extra`` dict, made (under a lock, as two threads
    may set different ones) only when one is set to something else than
    its default; setting the default on a run without one costs nothing.
    """

    __slots__ = ("key", "default")

    def __init__(self, default: Any) -> None:
        self.default = default
        self.key = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    def __get__(self, run: Any, owner: type | None = None) -> Any:
        if run is None:
            return self
        extra = run._extra
        return self.default if extra is None else extra.get(self.key, self.default)

    def __set__(self, run: Any, value: Any) -> None:
        if run._extra is None and value is self.default:
            return
        with _extra_lock:  # a run's _extra is changed under the lock only, and dropped when it empties
            extra = run._extra
            if value is self.default:
                if extra is not None:
                    extra.pop(self.key, None)
                    if not extra:
                        run._extra = None
            else:
                if extra is None:
                    extra = run._extra = {}
                extra[self.key] = value


class TaskRun:
    """One run of a task inside a flow run: its arguments, edges and state."""

    __slots__ = (
        "engine",
        "_id",
        "_name",
        "task",
        "args",
        "kwargs",
        "upstreams",
        "waiting_on",
        "last_state",
        "run_count",
        "runner",
        "runner_future",
        "attempt_open",
        "started_at",
        "ended_at",
        "map_index",
        "tags",
        "settled",
        "limiter",
        "dependents",
        "_since",
        "_extra",
    )

    def __init__(self, engine: Any, task: Task, name: str | int | ElementNames, map_index: int | None,
                 args: tuple[Any, ...] = (), kwargs: Mapping[str, Any] = RELEASED_KWARGS,
                 id_base: int | None = None, since: float | None = None) -> None:
        self.engine = engine
        #: the run's id, or (an element of a map) its map's random base, shared by its elements: see ``id``
        self._id: str | int = (_getrandbits(64).to_bytes(8, "big").hex()  # 16 hex digits, in half f"{bits:016x}"'s time
                               if id_base is None else id_base)
        #: its name, or its number for the task's default ``{task}-{n}`` names: see ``name``
        self._name = name
        self.task = task
        self.map_index = map_index
        #: the argument template (upstreams replaced by slots); emptied when the run settles
        self.args = args
        self.kwargs = kwargs
        #: edges; the shared empty tuple when there are none (the common case), and once settled
        self.upstreams: Sequence[Upstream] = NO_UPSTREAMS
        self.waiting_on = 0
        #: when it was created: its Pending state, made only if someone looks before the run moves on
        self._since: float | S.State | None = time.time() if since is None else since
        #: the state the engine set last (None while the run is still in its first, unseen Pending)
        self.last_state: S.State | None = None
        self.run_count = 0
        self.runner: Runner | None = None
        self.runner_future: Any = None
        self.attempt_open = False
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.tags: frozenset[str] = task.tags
        #: no more transitions: a final state, or Pending named NotReady
        self.settled = False
        #: the max_concurrency limit of the map it belongs to, and whether it holds one of its slots
        self.limiter: Limiter | None = None
        #: runs waiting for this one, while it is unsettled: a slot, not rare, since chains and fan-ins
        #: set it on every run, from the flow thread, while workers clear it on others
        self.dependents: list[TaskRun] | None = None
        #: the attributes nearly every run leaves at their defaults (see _Rare), once one is set
        self._extra: dict[str, Any] | None = None

    #: edges it only waits for (``wait_for``)
    wait_for: Sequence[Upstream] = _Rare(NO_UPSTREAMS)  # type: ignore[assignment]
    #: what its retries keep between attempts
    retry_state: Any = _Rare(None)
    #: its parameters, kept from the cache lookup to persist its result
    cache_parameters: dict[str, Any] | None = _Rare(None)  # type: ignore[assignment]
    #: backend options from a ``runner_options(...)`` block around its creation
    options: dict[str, Any] | None = _Rare(None)  # type: ignore[assignment]
    #: whether it holds one of its map's ``max_concurrency`` slots
    holds_slot: bool = _Rare(False)  # type: ignore[assignment]
    #: set when it settles, for whoever waits for it on its own
    waiter: threading.Event | None = _Rare(None)  # type: ignore[assignment]
    #: called with the run when it settles
    callbacks: list[Callable[[TaskRun], None]] | None = _Rare(None)  # type: ignore[assignment]
    #: position in the batch its last attempt ran in on a remote runner (its runner future is the batch's)
    batch_index: int | None = _Rare(None)  # type: ignore[assignment]

    @property
    def state(self) -> S.State:
        """The run's current state; a run that has not moved yet is Pending since its creation.

        Most runs of a big map wait in a backlog and go from Pending to
        Running unseen; a Pending state object each would be one more
        container alive per waiting run for the garbage collector to rescan
        (and to promote to its oldest generation, then free), so it is made
        on first look, with the run's creation time, and kept for later looks.
        It is kept in ``_since``, not in ``last_state``: a reader must never
        overwrite a state the engine set meanwhile.

        A property and not ``__getattr__``: a class with ``__getattr__`` pays
        for it on every attribute read, and the engine and the history read
        run attributes millions of times in a big map. The engine itself
        reads and writes ``last_state`` where it knows the run has moved.
        """
        state = self.last_state
        if state is not None:
            return state
        since = self._since
        if isinstance(since, S.State):
            return since
        pending = self._since = S.State(S.StateType.PENDING, "Pending", timestamp=since)
        return pending

    @state.setter
    def state(self, state: S.State) -> None:
        self.last_state = state

    @property
    def id(self) -> str:
        """16 hex digits, random; an element of a map: its map's random base plus its index.

        A big map's elements do not each carry a string that nobody may
        read (with history off, nobody does): the id is made from the base
        they share when asked for, the same every time it is asked for.
        """
        run_id = self._id
        if type(run_id) is str:
            return run_id
        return element_id(run_id, self.map_index)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        """``{task}-{n}``, or its ``task_run_name``; a default name is made when asked for, from its number."""
        name = self._name
        kind = type(name)
        if kind is str:
            return name  # type: ignore[return-value]
        if kind is int:
            return f"{self.task.name}-{name}"
        return element_name(self.task.name, name.offset, self.map_index)  # type: ignore[union-attr, arg-type]

    @name.setter
    def name(self, name: str) -> None:
        self._name = name

    @property
    def task_name(self) -> str:
        return self.task.name

    @property
    def log_prints(self) -> bool:
        """The task's ``log_prints``, or its flow run's when the task leaves it at None (Prefect's inheritance)."""
        own = self.task.log_prints
        return self.engine.flow_run.log_prints if own is None else own

    @property
    def flow_run_id(self) -> str:
        return self.engine.flow_run.id

    @property
    def flow_run_name(self) -> str:
        return self.engine.flow_run.name

    def info(self) -> RunInfo:
        return RunInfo(
            id=self.id,
            name=self.name,
            task_name=self.task.name,
            flow_run_id=self.engine.flow_run.id,
            flow_run_name=self.engine.flow_run.name,
            run_count=self.run_count,
            tags=tuple(self.tags),
            map_index=self.map_index,
            log_prints=self.log_prints,
            flow_name=self.engine.flow_run.flow_name,
        )

    def upstream_ids(self) -> list[str]:
        return [u.source.id for u in (*self.upstreams, *self.wait_for) if isinstance(u.source, TaskRun)]

    def __repr__(self) -> str:
        return f"TaskRun({self.name!r}, state={self.state!r})"



set_run_type(TaskRun)  # a map's future list holds task runs: see LegatoFutureList

_ID_MASK = (1 << 64) - 1
_COMPLETED_TYPE = S.StateType.COMPLETED


def element_id(base: int, map_index: int) -> str:
    """The id of the element at ``map_index`` of a map whose random id base is ``base``.

    Also how run history turns a map's stored base back into its elements' ids.
    """
    return ((base + map_index) & _ID_MASK).to_bytes(8, "big").hex()


def element_name(task_name: str, offset: int, map_index: int) -> str:
    """The default name of a map element whose map's names start at ``offset`` (see :class:`ElementNames`).

    Also how run history turns a map's stored name rule back into its elements' names.
    """
    return f"{task_name}-{offset + map_index}"


class ElementNames:
    """The numbers of a run of map elements named ``{task}-{offset + map_index}``, shared by them all.

    Elements made one after the other take consecutive numbers from their
    task's counter; then they all point to one of these instead of each
    holding a string (or an int) of its own. Only elements of one map (so
    of one task) ever share one.
    """

    __slots__ = ("offset",)

    def __init__(self, offset: int) -> None:
        self.offset = offset


@dataclass(frozen=True)
class SharedIdentity:
    """What the task runs of one map share, from which each one's id and name follow.

    ``id_base``: every run's id is ``element_id(id_base, run.map_index)``;
    ``task_name`` and ``name_offset``: every run is named
    ``f"{task_name}-{name_offset + run.map_index}"``; ``tags``: every run's
    tags (elements made together share them). None where the runs do not
    share it (ids or names of their own).
    """

    id_base: int | None
    task_name: str | None
    name_offset: int | None
    tags: frozenset[str] | None = None


_raw_id, _raw_name = operator.attrgetter("_id"), operator.attrgetter("_name")


def shared_identity(runs: Sequence[TaskRun]) -> SharedIdentity:
    """How ``runs`` (not empty) derive their ids and names from their map indexes, if they all do.

    For a reader of many runs at once (the history's writer): two passes in
    C over the runs, instead of making a string for each id and each name.
    """
    ids = list(map(_raw_id, runs))
    first_id = ids[0]
    id_base = first_id if type(first_id) is int and ids.count(first_id) == len(ids) else None
    names = list(map(_raw_name, runs))
    first_name = names[0]
    if type(first_name) is ElementNames and names.count(first_name) == len(names):  # the same object: one map
        return SharedIdentity(id_base, runs[0].task.name, first_name.offset, runs[0].tags)
    return SharedIdentity(id_base, None, None)


UPSTREAM_TYPES = (LegatoFuture, S.State, AdoptedInput)  # AdoptedInput: see legato.core.adoption


def is_upstream(obj: Any) -> bool:
    """Whether an argument is an edge: a future of a run, or a state (an already final value)."""
    return isinstance(obj, UPSTREAM_TYPES)


class Limiter:
    """The ``max_concurrency`` of one map: how many of its elements may be in flight."""

    __slots__ = ("limit", "in_flight")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0


def sources(run: TaskRun) -> Sequence[TaskRun]:
    """The task runs ``run`` waits for (upstreams and ``wait_for``); states are not runs."""
    if not run.upstreams and not run.wait_for:
        return ()  # most runs: no tuple, list or generator made to find nothing
    return [u.source for u in (*run.upstreams, *run.wait_for) if isinstance(u.source, TaskRun)]


def flatten_wait_for(wait_for: Iterable[Any], tolerate: bool = False) -> Iterable[tuple[Any, bool]]:
    """``(future_or_state, allow_failure)`` for each entry of ``wait_for``, at any depth."""
    for item in wait_for:
        if isinstance(item, allow_failure):
            yield from flatten_wait_for([item.value], True)
        elif isinstance(item, (list, tuple, set)):
            yield from flatten_wait_for(item, tolerate)
        elif is_upstream(item):
            yield item, tolerate
        else:
            raise TypeError(f"wait_for takes futures or states, got {type(item).__name__}: {item!r}")


def find_cycle(waiter: TaskRun, target: TaskRun, waits: dict[TaskRun, TaskRun]) -> list[TaskRun] | None:
    """The runs from ``waiter`` back to itself if ``waiter`` waiting for ``target`` closes a cycle, else None.

    The edges followed are those of unsettled runs: what each waits for
    before it can start (upstreams, ``wait_for``), and what a running task
    blocks on inside its body (``waits``: running run -> run it waits for).
    A cycle through anything else (a lock, a queue, a value held outside
    legato) is not seen.
    """
    parents: dict[TaskRun, TaskRun | None] = {target: None}
    todo = [target]
    while todo:
        node = todo.pop()
        following = list(sources(node))
        blocked_on = waits.get(node)
        if blocked_on is not None:
            following.append(blocked_on)
        for source in following:
            if source is waiter:
                path = [waiter, node]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])  # type: ignore[arg-type]
                return [waiter, *reversed(path[1:]), waiter]
            if not source.settled and source not in parents:
                parents[source] = node
                todo.append(source)
    return None


def link(run: TaskRun) -> bool:
    """Count the unsettled runs ``run`` waits for and register it as their dependent; True if none (ready)."""
    waiting = 0
    for source in sources(run):
        if not source.settled:
            if source.dependents is None:
                source.dependents = []
            source.dependents.append(run)
            waiting += 1
    run.waiting_on = waiting
    return waiting == 0


def begin_attempt(run: TaskRun) -> bool:
    """Move a ready run to Running (Retrying after the first attempt); True on its very first start."""
    run.run_count += 1
    run.last_state = S.Running() if run.run_count == 1 else S.Retrying()
    if run.started_at is None:
        run.started_at = time.time()
        return True
    return False


def close_attempt(run: TaskRun, attempt: int) -> bool:
    """Close attempt ``attempt`` of ``run`` if it is still the open one: only its outcome counts."""
    if not run.attempt_open or run.run_count != attempt:
        return False
    run.attempt_open = False
    return True


def transition(run: TaskRun, state: S.State, ready: list[TaskRun]) -> bool:
    """Make ``state`` the final state of ``run``; False if it already had one.

    The run gives back its ``max_concurrency`` slot; dependents left with
    nothing to wait for are appended to ``ready``.
    """
    if run.settled:
        return False
    run.settled = True
    run.last_state = state
    limiter = run.limiter
    if limiter is not None and run.holds_slot:
        run.holds_slot = False
        limiter.in_flight -= 1
    # a Completed state made as the run ended carries that time (a batch's share one float)
    run.ended_at = state._ts if state.type is _COMPLETED_TYPE and type(state) is S.State else time.time()
    if run.dependents:
        for dependent in run.dependents:
            dependent.waiting_on -= 1
            if dependent.waiting_on == 0:
                ready.append(dependent)
        run.dependents = None
    return True


def release(run: TaskRun) -> None:
    """Drop what a settled run no longer needs, so a long flow does not hoard inputs.

    The value stays in the state (or, for remote runners, in the backend,
    reachable through the state's ResultRef) for as long as a future or a
    downstream run holds this run. What is dropped is replaced by shared
    empties, not fresh containers: a settled run of a big map lives until
    the flow ends, and each container it kept would be one more object for
    the garbage collector to rescan at every full collection.
    """
    run.args = ()
    run.kwargs = RELEASED_KWARGS
    run.upstreams = NO_UPSTREAMS
    run._since = None
    if run._extra is not None:
        run.wait_for = NO_UPSTREAMS
        run.retry_state = None
        run.cache_parameters = None
    if run.runner is not None and run.runner.shares_memory:
        run.runner_future = None


__all__ = [
    "NO_UPSTREAMS", "RELEASED_KWARGS", "UPSTREAM_TYPES", "ElementNames", "Limiter", "SharedIdentity", "TaskRun",
    "begin_attempt", "close_attempt", "element_id", "element_name", "find_cycle", "flatten_wait_for", "is_upstream", "link",
    "release", "shared_identity", "sources", "transition",
]
