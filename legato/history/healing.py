"""What to do with a history database that SQLite says is damaged: move it aside, start afresh.

History is a log of what happened, never an input to what a flow computes, so
a damaged file (overwritten, truncated, a disk error) must not cost the flows
that come after it their history. When opening or writing the database fails
with one of SQLite's corruption errors ("file is not a database", "database
disk image is malformed"), :func:`heal` renames the file (and its ``-wal`` and
``-shm`` companions, which belong to it) to ``history.db.corrupt-<UTC
timestamp>`` and the caller opens a new, empty database in its place. What the
old file still holds can often be saved with ``sqlite3 <moved file> .recover``.

Several processes may find the same damage at once. They heal one at a time,
under an exclusive lock on ``history.db.heal-lock``, and each checks again
under the lock: the file it found damaged may already have been replaced by
a healthy one, which is then left alone. The check (open and ``PRAGMA
quick_check``) runs only on this error path, never when things are well.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from legato.history.errors import HistoryCorrupt

_CORRUPTION = ("file is not a database", "malformed", "file is encrypted", "disk image")
_COMPANIONS = ("-wal", "-shm")


def is_corruption(exc: BaseException) -> bool:
    """Whether ``exc`` (or the sqlite3 error it wraps) says the file is damaged, not merely locked or missing."""
    for error in (exc, exc.__cause__):
        if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError):
            message = str(error).lower()
            if any(marker in message for marker in _CORRUPTION):
                return True
    return False


def heal(path: Path, reason: str) -> HistoryCorrupt:
    """Move the damaged database at ``path`` aside, if it is still damaged; says what was done."""
    with _healing_lock(path):
        if not path.exists() or _is_healthy(path):
            return HistoryCorrupt(path, None, reason)
        target = _free_name(path)
        os.replace(path, target)
        for suffix in _COMPANIONS:
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                os.replace(companion, target.with_name(target.name + suffix))
        return HistoryCorrupt(path, target, reason)


def _is_healthy(path: Path) -> bool:
    try:
        conn = sqlite3.connect(path, timeout=5, isolation_level=None)
    except sqlite3.Error:
        return False
    try:
        return conn.execute("PRAGMA quick_check(1)").fetchone()[0] == "ok"
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def _free_name(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    return target


@contextlib.contextmanager
def _healing_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: heal without the lock
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".heal-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


__all__ = ["HistoryCorrupt", "heal", "is_corruption"]
