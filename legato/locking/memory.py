"""Locks held in this process's memory, for transactions on threads of one process.

One instance per process, as in Prefect (``MemoryLockManager()`` always
returns it), so two stores given a "new" manager still exclude each other.
A lock with a ``hold_timeout`` is not released by a timer thread: it is
simply treated as free once its time is up, and a waiter wakes up then.
"""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple


class _Held(NamedTuple):
    holder: str
    expires: float | None  # on the manager's clock


class MemoryLockManager:
    """Prefect's ``MemoryLockManager``: not shared across processes (use :class:`FileSystemLockManager`)."""

    _instance: MemoryLockManager | None = None
    _instance_lock = threading.Lock()

    def __new__(cls) -> MemoryLockManager:
        with cls._instance_lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance._condition = threading.Condition()
                instance._held = {}
                instance.clock = time.monotonic
                cls._instance = instance
            return cls._instance

    _condition: threading.Condition
    _held: dict[str, _Held]

    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                     hold_timeout: float | None = None) -> bool:
        deadline = None if acquire_timeout is None else self.clock() + max(0.0, acquire_timeout)
        with self._condition:
            while True:
                held = self._live(key)
                if held is None or held.holder == holder:
                    expires = None if hold_timeout is None else self.clock() + hold_timeout
                    self._held[key] = _Held(holder, expires)
                    return True
                if deadline is not None and self.clock() >= deadline:
                    return False
                self._condition.wait(self._wait_time(held, deadline))

    def release_lock(self, key: str, holder: str) -> None:
        with self._condition:
            held = self._live(key)
            if held is None or held.holder != holder:
                raise ValueError(f"No lock held by {holder} for transaction with key {key}")
            del self._held[key]
            self._condition.notify_all()

    def is_locked(self, key: str) -> bool:
        with self._condition:
            return self._live(key) is not None

    def is_lock_holder(self, key: str, holder: str) -> bool:
        with self._condition:
            held = self._live(key)
            return held is not None and held.holder == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else self.clock() + max(0.0, timeout)
        with self._condition:
            while True:
                held = self._live(key)
                if held is None:
                    return True
                if deadline is not None and self.clock() >= deadline:
                    return False
                self._condition.wait(self._wait_time(held, deadline))

    # ------------------------------------------------------------------ helpers (under the condition)

    def _live(self, key: str) -> _Held | None:
        held = self._held.get(key)
        if held is not None and held.expires is not None and self.clock() >= held.expires:
            del self._held[key]  # its hold_timeout passed: free
            return None
        return held

    def _wait_time(self, held: _Held, deadline: float | None) -> float | None:
        """How long to sleep: until the deadline or the holder's expiry, whichever is first."""
        ends = [t for t in (deadline, held.expires) if t is not None]
        return max(0.0, min(ends) - self.clock()) if ends else None

    def __reduce__(self) -> tuple[Any, ...]:
        return (MemoryLockManager, ())  # the receiving process's own instance

    def __repr__(self) -> str:
        return "MemoryLockManager()"


__all__ = ["MemoryLockManager"]
