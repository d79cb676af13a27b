"""Lock managers for SERIALIZABLE transactions, at Prefect's paths (``prefect.locking``).

A lock manager locks a record key for one *holder* (a string naming who
holds it: a transaction uses a fresh UUID) so that two transactions on the
same key run one after the other::

    LockManager (protocol.py)      acquire_lock / release_lock / is_locked / is_lock_holder / wait_for_lock
    ├── MemoryLockManager          memory.py: threads of one process
    └── FileSystemLockManager      filesystem.py: processes of one machine (or a shared POSIX file system),
                                   an OS file lock per key, dropped by the OS when its holder dies

Give one to a result storage with ``storage.with_options(lock_manager=...)``
and pass that storage as a transaction's ``store``.
"""

from __future__ import annotations

from legato.locking.filesystem import FileSystemLockManager
from legato.locking.memory import MemoryLockManager
from legato.locking.protocol import LockManager

__all__ = ["FileSystemLockManager", "LockManager", "MemoryLockManager"]
