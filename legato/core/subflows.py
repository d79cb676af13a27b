"""Subflows a flow retry does not run again: the in-process memory of completed subflow calls.

Prefect 3 does not rerun, on a flow retry, a subflow that completed in an
earlier attempt *and whose result was persisted* (``persist_result=True``):
its server finds the child flow run by the identity of the call in the
parent run, and hands back its result. A subflow whose result was not
persisted runs again (prefect 3.9; PrefectHQ/prefect#23152 discusses it).
legato has no server, so each parent flow run that can retry keeps, for the
length of the run, the final states of the completed calls of subflows whose
results persist (``legato.core.flow`` decides which).

**The identity of a call** is the subflow's name and how many calls of a
flow of that name the current attempt of the parent has made before it
(``("load", 0)``, ``("load", 1)``, ...), which is how Prefect keys the
parent's task run of a subflow. A body that calls the same subflows in the
same order on every attempt (the usual case) reuses exactly what completed;
one that calls them conditionally, or from several threads at once, may see
its calls numbered differently on a retry, and then a call reuses the
state of another call of the same subflow.

Only calls made in the parent's own thread of control count (the parent
flow run context). Parents without retries keep nothing.
"""

from __future__ import annotations

import threading
from typing import Any

from legato.core.states import State


class SubflowMemory:
    """The completed subflow calls of one parent flow run, across its attempts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._completed: dict[tuple[str, int], State] = {}
        self._counts: dict[str, int] = {}

    def new_attempt(self) -> None:
        """The parent starts an attempt of its body: calls are numbered from 0 again."""
        with self._lock:
            self._counts = {}

    def claim(self, flow_name: str) -> SubflowCall:
        """The identity of the next call of the subflow ``flow_name`` in this attempt."""
        with self._lock:
            index = self._counts.get(flow_name, 0)
            self._counts[flow_name] = index + 1
        return SubflowCall(self, (flow_name, index))

    def _previous(self, key: tuple[str, int]) -> State | None:
        with self._lock:
            return self._completed.get(key)

    def _remember(self, key: tuple[str, int], state: State) -> None:
        with self._lock:
            self._completed[key] = state


class SubflowCall:
    """One subflow call: what an earlier attempt of the parent ended it in, and remembering how it ends now."""

    __slots__ = ("memory", "key")

    def __init__(self, memory: SubflowMemory, key: tuple[str, int]) -> None:
        self.memory = memory
        self.key = key

    def previous(self) -> State | None:
        """The Completed state of this call in an earlier attempt of the parent, or None."""
        return self.memory._previous(self.key)

    def finished(self, state: State) -> None:
        if state.is_completed():
            self.memory._remember(self.key, state)


_memories: dict[str, SubflowMemory] = {}
_memories_lock = threading.Lock()


def open_memory(flow_run_id: str) -> SubflowMemory:
    """Start remembering the subflow calls of a parent run that can retry."""
    memory = SubflowMemory()
    with _memories_lock:
        _memories[flow_run_id] = memory
    return memory


def close_memory(flow_run_id: str) -> None:
    """The parent run ended: forget its subflows (and let their results go)."""
    with _memories_lock:
        _memories.pop(flow_run_id, None)


def claim_call(parent_context: Any, flow_name: str) -> SubflowCall | None:
    """The identity of a subflow call made in ``parent_context`` (a FlowRunContext), if its run remembers."""
    if parent_context is None:
        return None
    memory = _memories.get(getattr(parent_context.flow_run, "id", None))  # type: ignore[arg-type]
    return memory.claim(flow_name) if memory is not None else None


__all__ = ["SubflowCall", "SubflowMemory", "claim_call", "close_memory", "open_memory"]
