"""What a lock manager does: Prefect's ``LockManager`` protocol, sync methods."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class LockManager(Protocol):
    """Locks record keys for holders. A holder that acquires a key it already holds gets True at once."""

    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                     hold_timeout: float | None = None) -> bool:
        """Lock ``key`` for ``holder``; wait at most ``acquire_timeout`` seconds (None: forever, 0: no wait).

        ``hold_timeout`` releases the lock by itself after that many seconds.
        Returns whether ``holder`` now holds the lock.
        """
        ...

    def release_lock(self, key: str, holder: str) -> None:
        """Release ``holder``'s lock on ``key``; ``ValueError`` if ``holder`` does not hold it."""
        ...

    def is_locked(self, key: str) -> bool:
        """Whether anyone holds ``key``."""
        ...

    def is_lock_holder(self, key: str, holder: str) -> bool:
        """Whether ``holder`` holds ``key``."""
        ...

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Wait until ``key`` is free (without taking it); False if ``timeout`` passed first."""
        ...


__all__ = ["LockManager"]
