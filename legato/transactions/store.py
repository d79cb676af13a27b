"""Where a transaction keeps its record: a result storage, a serializer, and maybe a lock manager.

A transaction with a ``key`` writes one record at that key when it commits
(the value it staged, None unless ``txn.stage(value)`` was called), and a
transaction entered on a key that already has a valid record starts
committed: that is how Prefect makes a block of work idempotent. Records are
the result store's own (:mod:`legato.results.records`: signed, checked
before anything is loaded); one that cannot be trusted counts as missing.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from legato.core.errors import ConfigurationError
from legato.results.records import RecordError, decode_record, encode_record
from legato.results.signing import signing_key
from legato.results.storage import ResultStorage, check_key, default_root, resolve_storage
from legato.serializers import TASK_SERIALIZER, Serializer, get_serializer

logger = logging.getLogger("legato.transactions")


@dataclass(frozen=True)
class ResultRecord:
    """What :meth:`Transaction.read` returns, as Prefect's ``ResultRecord``: the value is ``.result``."""

    key: str
    result: Any
    created: float
    expires: float | None = None


class TransactionStore:
    """Records of transactions in a :class:`~legato.results.ResultStorage`, locked by its ``lock_manager``."""

    def __init__(self, storage: ResultStorage, serializer: Serializer | str | None = None,
                 lock_manager: Any = None) -> None:
        self.storage = storage
        self.serializer = get_serializer(serializer or TASK_SERIALIZER)
        self.lock_manager = lock_manager if lock_manager is not None else getattr(storage, "lock_manager", None)
        self.clock = time.time

    # ------------------------------------------------------------------ records

    def read(self, key: str) -> ResultRecord | None:
        """The valid, unexpired record at ``key``, or None (a record that cannot be trusted is a warning)."""
        data = self.storage.read(check_key(key))
        if data is None:
            return None
        try:
            record = decode_record(data, expected_key=key, signing_key=signing_key)
        except RecordError as error:
            logger.warning("ignoring transaction record %s: %s", self.storage.location(key), error)
            return None
        if record.is_expired(self.clock()):
            return None
        if record.serializer != self.serializer.name:
            logger.warning("ignoring transaction record %s: written by serializer %r, this store's is %r",
                           self.storage.location(key), record.serializer, self.serializer.name)
            return None
        try:
            value = self.serializer.loads(record.payload)
        except Exception as error:
            logger.warning("ignoring transaction record %s: cannot load it: %s", self.storage.location(key), error)
            return None
        return ResultRecord(key, value, record.created, record.expires)

    def exists(self, key: str) -> bool:
        return self.read(key) is not None

    def write(self, key: str, value: Any, expires: float | None = None) -> None:
        payload = self.serializer.dumps(value)
        created = self.clock()
        self.storage.write(check_key(key), encode_record(key, self.serializer, payload, created=created,
                                                         expires=expires, signing_key=signing_key))

    # ------------------------------------------------------------------ locks

    def supports_isolation_level(self, level: Any) -> bool:
        return getattr(level, "value", level) == "READ_COMMITTED" or self.lock_manager is not None

    def acquire_lock(self, key: str, holder: str, timeout: float | None = None) -> bool:
        return bool(self._locks().acquire_lock(key, holder, timeout))

    def release_lock(self, key: str, holder: str) -> None:
        self._locks().release_lock(key, holder)

    def is_locked(self, key: str) -> bool:
        return bool(self._locks().is_locked(key))

    def is_lock_holder(self, key: str, holder: str) -> bool:
        return bool(self._locks().is_lock_holder(key, holder))

    def _locks(self) -> Any:
        if self.lock_manager is None:
            raise ConfigurationError("this result store has no lock manager: give it one with "
                                     "storage.with_options(lock_manager=MemoryLockManager()) (legato.locking)")
        return self.lock_manager

    def __repr__(self) -> str:
        return f"TransactionStore({self.storage!r}, serializer={self.serializer.name!r}, " \
               f"lock_manager={self.lock_manager!r})"


def resolve_store(spec: Any) -> TransactionStore:
    """The store for a transaction's ``store`` option: a store, a storage, a path or URL, or None.

    None means the current flow's ``result_storage`` and ``result_serializer``
    (else ``$LEGATO_HOME/results`` and cloudpickle), as Prefect uses the
    current run's result store.
    """
    if isinstance(spec, TransactionStore):
        return spec
    if spec is not None:
        if not isinstance(spec, (ResultStorage, str, os.PathLike)):
            raise TypeError(f"a transaction's store must be a ResultStorage, a path or an fsspec URL, got {spec!r}")
        return TransactionStore(resolve_storage(spec))
    from legato.core.context import flow_run_context

    context = flow_run_context.get()
    flow = context.flow if context is not None else None
    storage = getattr(flow, "result_storage", None)
    return TransactionStore(resolve_storage(storage if storage is not None else default_root()),
                            getattr(flow, "result_serializer", None))


__all__ = ["ResultRecord", "TransactionStore", "resolve_store"]
