"""Persisted task results: caching, and resuming a flow run by its run key.

How a task run's result travels (the engine only talks to the manager)::

    engine ──wants / lookup / store──▶ ResultsManager          manager.py
                                         │  keys: cache policy, cache_key_fn,
                                         │  result_storage_key, run key       keys.py, hashing.py,
                                         │                                    legato/cache_policies.py
                                         ▼
                                  record = header + payload + digest          records.py (signing.py)
                                         │
                                         ▼
                                  ResultStorage: folder or fsspec URL         storage.py

A record that is truncated, damaged, written for another key, or pickled but
not signed with this process's key is never loaded: it is a cache miss and a
warning on the ``legato.results`` logger. See :mod:`legato.results.manager`
for which task runs persist and where, and :mod:`legato.results.records` for
the record format.
"""

from __future__ import annotations

from legato.results.hashing import UnhashableError, function_fingerprint, hash_objects
from legato.results.keys import render_run_key
from legato.results.manager import CacheContext, ResultsManager
from legato.results.records import CorruptRecord, Record, RecordError, UnsignedRecord, UntrustedRecord
from legato.results.storage import FsspecStorage, LocalStorage, ResultStorage

__all__ = [
    "CacheContext",
    "CorruptRecord",
    "FsspecStorage",
    "LocalStorage",
    "Record",
    "RecordError",
    "ResultStorage",
    "ResultsManager",
    "UnhashableError",
    "UnsignedRecord",
    "UntrustedRecord",
    "function_fingerprint",
    "hash_objects",
    "render_run_key",
]
