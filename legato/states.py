"""Prefect-compatible home of the states: ``from legato.states import Completed``.

The constructors here make states the user builds: a flow that returns one
ends in it, as in Prefect (see :class:`legato.core.states.ManualState`).
They take Prefect's arguments (``Failed(data=exc, message=...)``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from legato.core import states as _states
from legato.core.states import ManualState, State, StateType, manual


def _user_built(constructor: Callable[..., State]) -> Callable[..., ManualState]:
    @functools.wraps(constructor)
    def build(*args: Any, **kwargs: Any) -> ManualState:
        return manual(constructor(*args, **kwargs))

    return build


AwaitingRetry = _user_built(_states.AwaitingRetry)
Cached = _user_built(_states.Cached)
Cancelled = _user_built(_states.Cancelled)
Completed = _user_built(_states.Completed)
Crashed = _user_built(_states.Crashed)
Failed = _user_built(_states.Failed)
NotReady = _user_built(_states.NotReady)
Pending = _user_built(_states.Pending)
Retrying = _user_built(_states.Retrying)
Running = _user_built(_states.Running)
TimedOut = _user_built(_states.TimedOut)


def raise_state_exception(state: State) -> None:
    """Raise the exception of a state that did not complete; do nothing for a Completed one (Prefect's name)."""
    if not state.is_completed():
        state.result(raise_on_failure=True)


__all__ = [
    "AwaitingRetry", "Cached", "Cancelled", "Completed", "Crashed", "Failed", "ManualState", "NotReady", "Pending",
    "Retrying", "Running", "State", "StateType", "TimedOut", "raise_state_exception",
]
