"""Run states, shaped like Prefect 3's so code that inspects them keeps working.

A state is a *type* (what the engine does with the run) and a *name* (what
happened, for people): ``Failed`` named ``TimedOut``, ``Pending`` named
``NotReady``, ``Completed`` named ``Cached``. States are small immutable
values; the engine makes a new one at every transition and never edits one.
"""

from __future__ import annotations

import datetime as _dt
import enum
import time
from typing import Any

from legato.core.errors import CancelledRun, CrashedRun, FailedRun, UnfinishedRun, UpstreamNotReady


class StateType(str, enum.Enum):
    """What the engine does with a run in this state."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:
        return self.value


FINAL_TYPES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})

# The members as plain module names: ``StateType.X`` goes through the enum's
# class machinery on every use, and the engine makes and reads a few states
# per task run.
_PENDING = StateType.PENDING
_RUNNING = StateType.RUNNING
_COMPLETED = StateType.COMPLETED
_FAILED = StateType.FAILED
_CRASHED = StateType.CRASHED
_CANCELLED = StateType.CANCELLED

_DEFAULT_NAMES = {t: t.value.capitalize() for t in StateType}


class ResultRef:
    """A result that lives elsewhere (a backend's memory, a result store).

    A Completed state may hold one instead of the value, so the value is only
    fetched into the flow process when someone asks for it.
    """

    __slots__ = ("_load", "_value", "_loaded")

    def __init__(self, load: Any) -> None:
        self._load = load
        self._loaded = False
        self._value: Any = None

    def get(self) -> Any:
        if not self._loaded:
            self._value = self._load()
            self._loaded = True
            self._load = None
        return self._value


class State:
    """One state of a flow or task run.

    ``data`` holds the result for a Completed state and the exception for a
    Failed, Crashed or Cancelled one; ``result()`` returns or raises it.
    """

    __slots__ = ("type", "name", "message", "data", "_ts")

    def __init__(
        self,
        type: StateType,
        name: str | None = None,
        message: str | None = None,
        data: Any = None,
        timestamp: float | None = None,
    ) -> None:
        self.type = type
        self.name = name or _DEFAULT_NAMES[type]
        self.message = message
        self.data = data
        self._ts = time.time() if timestamp is None else timestamp

    @property
    def timestamp(self) -> _dt.datetime:
        """When the run entered this state (UTC, timezone-aware)."""
        return _dt.datetime.fromtimestamp(self._ts, tz=_dt.timezone.utc)

    def is_pending(self) -> bool:
        return self.type is _PENDING

    def is_running(self) -> bool:
        return self.type is _RUNNING

    def is_completed(self) -> bool:
        return self.type is _COMPLETED

    def is_failed(self) -> bool:
        return self.type is _FAILED

    def is_crashed(self) -> bool:
        return self.type is _CRASHED

    def is_cancelled(self) -> bool:
        return self.type is _CANCELLED

    def is_final(self) -> bool:
        return self.type in FINAL_TYPES

    def result(self, raise_on_failure: bool = True) -> Any:
        """The run's return value; raises the run's exception if it did not complete.

        With ``raise_on_failure=False`` the exception is returned instead.
        """
        if self.type is _COMPLETED:
            data = self.data
            return data.get() if type(data) is ResultRef else data
        error = self._error()
        if raise_on_failure:
            raise error
        return error

    def _error(self) -> BaseException:
        data = self.data
        if isinstance(data, BaseException):
            return data
        inner = _first_unfinished(data)
        if inner is not None:  # a state holding states (a flow that returned task runs' states): theirs
            return inner._error()
        if self.type is _PENDING and self.name == "NotReady":
            return UpstreamNotReady(self.message or "an upstream task did not complete")
        if self.type is _FAILED:
            return FailedRun(self.message or "the run failed")
        if self.type is _CANCELLED:
            return CancelledRun(self.message or "the run was cancelled")
        if self.type is _CRASHED:
            return CrashedRun(self.message or "the run crashed")
        return UnfinishedRun(f"the run is {self.name}, not final: it has no result yet")

    def __repr__(self) -> str:
        message = f", message={self.message!r}" if self.message else ""
        return f"{self.name}(type={self.type.value}{message})"


class ManualState(State):
    """A state the user built (``return Completed(data=5)``), not one that a run went through.

    Prefect tells the two apart when a flow returns a state: a flow that
    returns a state it built ends in that state (and its call gives that
    state's value), while one that returns task runs' states ends Completed
    or Failed by what those runs did, and its call gives the states
    themselves. A subclass with no slots of its own costs the engine's
    states nothing.
    """

    __slots__ = ()


def manual(state: State) -> ManualState:
    """Mark a state as built by the user (see :class:`ManualState`)."""
    state.__class__ = ManualState
    return state  # type: ignore[return-value]


def Pending(name: str = "Pending", message: str | None = None) -> State:
    return State(_PENDING, name, message)


def Running(name: str = "Running", message: str | None = None) -> State:
    return State(_RUNNING, name, message)


def Completed(data: Any = None, name: str = "Completed", message: str | None = None) -> State:
    return State(_COMPLETED, name, message, data)


def Failed(error: BaseException | None = None, name: str = "Failed", message: str | None = None, *,
           data: Any = None) -> State:
    """A Failed state; ``data=`` is Prefect's name for the exception (``Failed(data=exc, message=...)``)."""
    error = data if error is None else error
    return State(_FAILED, name, message if message is not None else _describe(error), error)


def Crashed(error: BaseException | None = None, name: str = "Crashed", message: str | None = None, *,
            data: Any = None) -> State:
    error = data if error is None else error
    return State(_CRASHED, name, message if message is not None else _describe(error), error)


def Cancelled(message: str | None = None, name: str = "Cancelled", *, data: Any = None) -> State:
    return State(_CANCELLED, name, message, data)


def Cached(data: Any = None, message: str | None = None) -> State:
    return Completed(data, name="Cached", message=message)


def Retrying(message: str | None = None) -> State:
    return Running("Retrying", message)


def AwaitingRetry(message: str | None = None) -> State:
    return Pending("AwaitingRetry", message)


def NotReady(message: str | None = None) -> State:
    return Pending("NotReady", message)


def TimedOut(error: BaseException | None = None, message: str | None = None) -> State:
    return Failed(error, name="TimedOut", message=message)


def _first_unfinished(data: Any) -> State | None:
    """The first state that did not complete in ``data``: a state, or a list, tuple or set of them."""
    if isinstance(data, State):
        return data if not data.is_completed() else None
    if isinstance(data, (list, tuple, set, frozenset)):
        for item in data:
            if isinstance(item, State) and not item.is_completed():
                return item
    return None


def _describe(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return f"{type(error).__name__}: {error}"


__all__ = [
    "AwaitingRetry",
    "ManualState",
    "Cached",
    "Cancelled",
    "Completed",
    "Crashed",
    "Failed",
    "NotReady",
    "Pending",
    "ResultRef",
    "Retrying",
    "Running",
    "State",
    "StateType",
    "TimedOut",
]
