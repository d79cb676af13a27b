"""Locks as OS file locks (``flock``) on files in a folder: they exclude processes, not only threads.

Each key has a file ``<folder>/<name>.lock``; holding the lock is holding an
exclusive ``flock`` on an open descriptor of it, so:

* a holder that dies (SIGKILL included) releases its locks: the OS drops
  them with its descriptors; there is no stale lock file to clean up by hand;
* two holders in one process exclude each other too (each opens its own
  descriptor, and ``flock`` locks belong to the open file, not the process).

The file holds ``{"holder", "pid", "expires"}`` as JSON, for
:meth:`FileSystemLockManager.is_lock_holder` from another process and for
people looking. Release unlinks the file while still holding it; a waiter
that then gets the lock on the unlinked file sees that its descriptor no
longer is the file at the path, and starts again on the new one.

``hold_timeout`` is enforced by the holding process (a timer releases the
lock); a holder that hangs forever keeps it, one that dies frees it.
POSIX only (``fcntl``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

_SIMPLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")
_POLL_FIRST, _POLL_MAX = 0.005, 0.05


class _Held(NamedTuple):
    holder: str
    fd: int
    timer: threading.Timer | None


class FileSystemLockManager:
    """Prefect's ``FileSystemLockManager(lock_files_directory)``, with real OS file locks."""

    def __init__(self, lock_files_directory: str | os.PathLike[str]) -> None:
        if fcntl is None:
            raise RuntimeError("FileSystemLockManager needs POSIX file locks (fcntl); use MemoryLockManager here")
        self.lock_files_directory = Path(lock_files_directory).expanduser().resolve()
        self._held: dict[str, _Held] = {}
        self._mutex = threading.Lock()

    def path(self, key: str) -> Path:
        """The lock file of ``key``: its name when that is a plain file name, else a slug and a hash."""
        if _SIMPLE.fullmatch(key) and not key.endswith(".lock"):
            name = key
        else:
            slug = re.sub(r"[^A-Za-z0-9._-]+", "-", key)[:60].strip("-.") or "key"
            name = f"{slug}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:16]}"
        return self.lock_files_directory / f"{name}.lock"

    # ------------------------------------------------------------------ the protocol

    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                     hold_timeout: float | None = None) -> bool:
        with self._mutex:
            held = self._held.get(key)
            if held is not None and held.holder == holder:
                return True
        deadline = None if acquire_timeout is None else time.monotonic() + max(0.0, acquire_timeout)
        fd = self._lock_file(key, deadline)
        if fd is None:
            return False
        expires = None if hold_timeout is None else time.time() + hold_timeout
        _write_owner(fd, holder, expires)
        timer = None
        if hold_timeout is not None:
            timer = threading.Timer(hold_timeout, self._expire, args=(key, holder, fd))
            timer.daemon = True
        with self._mutex:
            self._held[key] = _Held(holder, fd, timer)
        if timer is not None:
            timer.start()
        return True

    def release_lock(self, key: str, holder: str) -> None:
        with self._mutex:
            held = self._held.get(key)
            if held is None or held.holder != holder:
                raise ValueError(f"No lock held by {holder} for transaction with key {key}")
            del self._held[key]
        if held.timer is not None:
            held.timer.cancel()
        self._unlock(key, held.fd)

    def is_locked(self, key: str) -> bool:
        with self._mutex:
            if key in self._held:
                return True
        try:
            fd = os.open(self.path(key), os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the shared lock if we got it
        return False

    def is_lock_holder(self, key: str, holder: str) -> bool:
        with self._mutex:
            held = self._held.get(key)
            if held is not None:
                return held.holder == holder
        if not self.is_locked(key):
            return False
        owner = _read_owner(self.path(key))
        return owner is not None and owner.get("holder") == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        pause = _POLL_FIRST
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(pause if deadline is None else max(0.0, min(pause, deadline - time.monotonic())))
            pause = min(pause * 2, _POLL_MAX)
        return True

    # ------------------------------------------------------------------ helpers

    def _lock_file(self, key: str, deadline: float | None) -> int | None:
        """An open descriptor of the key's file, exclusively locked; None if the deadline passed first."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        pause = _POLL_FIRST
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if deadline is None:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # blocks, without the GIL
                else:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:  # type: ignore[operator]
                    return None
                time.sleep(max(0.0, min(pause, deadline - time.monotonic())))  # type: ignore[operator]
                pause = min(pause * 2, _POLL_MAX)
                continue
            except BaseException:
                os.close(fd)
                raise
            if _is_file_at(fd, path):
                return fd
            os.close(fd)  # the holder we waited for unlinked it on release: lock the new file

    def _unlock(self, key: str, fd: int) -> None:
        try:
            if _is_file_at(fd, self.path(key)):
                os.unlink(self.path(key))  # still holding the lock: nobody locks this inode after us
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)

    def _expire(self, key: str, holder: str, fd: int) -> None:
        with self._mutex:
            held = self._held.get(key)
            if held is None or held.holder != holder or held.fd != fd:
                return
            del self._held[key]
        self._unlock(key, fd)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FileSystemLockManager, (str(self.lock_files_directory),))  # locks held stay with this process

    def __repr__(self) -> str:
        return f"FileSystemLockManager({str(self.lock_files_directory)!r})"


def _is_file_at(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _write_owner(fd: int, holder: str, expires: float | None) -> None:
    data = json.dumps({"holder": holder, "pid": os.getpid(), "expires": expires}).encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_owner(path: Path) -> dict[str, Any] | None:
    """The owner record in a lock file; untrusted, only compared with a holder string."""
    try:
        data = json.loads(path.read_bytes()[:4096] or b"null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = ["FileSystemLockManager"]
