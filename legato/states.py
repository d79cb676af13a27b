"""Prefect-compatible home of the states: ``from legato.states import Completed``."""

from legato.core.states import (
    AwaitingRetry,
    Cached,
    Cancelled,
    Completed,
    Crashed,
    Failed,
    NotReady,
    Pending,
    Retrying,
    Running,
    State,
    StateType,
    TimedOut,
)

__all__ = [
    "AwaitingRetry", "Cached", "Cancelled", "Completed", "Crashed", "Failed", "NotReady", "Pending",
    "Retrying", "Running", "State", "StateType", "TimedOut",
]
