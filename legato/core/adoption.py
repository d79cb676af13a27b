"""Inputs computed by a backend, not by a task run: the seam for Dask partitions and Ray objects.

Users hand ``task.map`` (and ``submit``) lazy values that belong to a
backend: the partitions of a Dask collection (``Delayed`` objects), Ray
``ObjectRef``\\ s. The core cannot tell such a value from any other object,
and should not: it knows no backend. So before a call's runs are made, it
offers the call's arguments to the flow's runner
(:meth:`legato.core.contracts.Runner.adopt`), which either leaves an
argument alone or returns a replacement:

* a plain value (a runner that computed the input itself, in the flow
  process: the default of :class:`legato.runners.base.TaskRunner`);
* an :class:`AdoptedInput`: a handle on an input the backend computes and
  keeps (the Dask runner: ``client.compute``; the Ray runner: the ref
  itself). The engine treats it as an upstream that has completed and whose
  value lives in the backend: its runner future goes to the runner with the
  task, as a finished task run's does, so the data stays where it is.

What is offered: each top-level argument, the value inside ``unmapped(...)``,
and (the runner looks inside) the lists a map iterates. Plain scalars and
legato's own futures are not offered, so the cost for ordinary calls, a
chain's ``t.submit(previous_future)`` included, is one type check per
argument (offering a future cost about 4 µs a submit once Dask was imported).
"""

from __future__ import annotations

from typing import Any

from legato.core import states as S
from legato.core.annotations import unmapped
from legato.core.futures import LegatoFuture

#: never a backend's lazy input: not offered to the runner
_NOT_OFFERED = frozenset({int, float, str, bytes, bool, type(None), LegatoFuture})


class AdoptedInput:
    """An input held by the runner's backend, used as a completed upstream (see the module docs).

    ``runner_future`` is what the runner returned for it (the engine passes
    it to that runner's ``submit`` among the upstream futures); ``name``
    says which input it is in errors and logs (``partition 3 ('read-parquet-…', 3)``).
    Its ``state`` is Completed with a :class:`~legato.core.states.ResultRef`:
    the value is fetched into the flow process only if someone asks (a
    runner that is not the one that adopted it, a cache key).
    """

    __slots__ = ("runner", "runner_future", "name", "state", "batch_index")

    def __init__(self, runner: Any, runner_future: Any, name: str) -> None:
        self.runner = runner
        self.runner_future = runner_future
        self.name = name
        self.state = S.Completed(S.ResultRef(runner_future.result))
        self.batch_index = None  # never an element of a batch (see legato.core.dispatch)

    def __repr__(self) -> str:
        return f"AdoptedInput({self.name!r})"


def adopt_arguments(runner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` with what ``runner`` adopts replaced; the very same objects when it adopts nothing."""
    adopt = getattr(runner, "adopt", None)
    if adopt is None:
        return args, kwargs
    new_args = args
    for index, value in enumerate(args):
        if type(value) in _NOT_OFFERED:
            continue
        adopted = _offer(adopt, value)
        if adopted is not value:
            if new_args is args:
                new_args = list(args)  # type: ignore[assignment]
            new_args[index] = adopted  # type: ignore[index]
    new_kwargs = kwargs
    for name, value in kwargs.items():
        if type(value) in _NOT_OFFERED:
            continue
        adopted = _offer(adopt, value)
        if adopted is not value:
            if new_kwargs is kwargs:
                new_kwargs = dict(kwargs)
            new_kwargs[name] = adopted
    return tuple(new_args), new_kwargs


def has_adopted_upstream(run: Any) -> bool:
    """Whether a run takes an adopted input (such runs are not batched: each runs where its input is)."""
    for upstream in run.upstreams:
        if type(upstream.source) is AdoptedInput:
            return True
    return False


def _offer(adopt: Any, value: Any) -> Any:
    if isinstance(value, unmapped):
        inner = adopt(value.value)
        return value if inner is value.value else unmapped(inner)
    return adopt(value)


__all__ = ["AdoptedInput", "adopt_arguments", "has_adopted_upstream"]
