"""A task run's records, handed to the worker that runs it (used by the Dask runner).

The flow process stores a result once it has the value; on a cluster that
means once it has fetched it from its worker. Two things go wrong in between:
the flow process may die (its resume then reruns what was done but not yet
fetched), and the worker may die (Dask then recomputes what it held, running
the task again). :class:`WorkerRecords` lets the worker itself read the task
run's record before it runs the task, and write it as soon as it has the
value, with the same keys, serializer, expiry and signature checks as
:class:`~legato.results.manager.ResultsManager`. A record found on the worker
means the run had already completed once: a recompute, which the caller
reports.

Only storages every worker can reach are handed over: a local folder (the
workers of a ``LocalCluster`` share the flow's machine) or an fsspec URL
other than ``memory://``. The signing key is the worker's own
(``LEGATO_RESULTS_KEY`` or ``$LEGATO_HOME/results.key``): with another key than
the flow's, every record is a miss and the worker's writes are refused by the
flow with a warning, so machines sharing a store need the same key, as the
README says.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from legato.results.records import RecordError, decode_record, encode_record
from legato.results.signing import signing_key
from legato.results.storage import FsspecStorage, LocalStorage, ResultStorage
from legato.serializers import Serializer

logger = logging.getLogger("legato.results")

_MISS: tuple[bool, Any] = (False, None)


@dataclass(frozen=True)
class WorkerRecords:
    storage: ResultStorage
    read_keys: tuple[str, ...]
    write_keys: tuple[str, ...]
    serializer: Serializer
    expiration: float | None

    def read(self) -> tuple[bool, Any]:
        """``(True, value)`` from a valid record of this task run, else ``(False, None)``; never raises."""
        for key in self.read_keys:
            try:
                data = self.storage.read(key)
                if data is None:
                    continue
                record = decode_record(data, expected_key=key, signing_key=signing_key)
                if record.is_expired(time.time()) or record.serializer != self.serializer.name:
                    continue
                return True, self.serializer.loads(record.payload)
            except (RecordError, Exception) as error:
                logger.debug("worker: stored result %s not used: %s", key, error)
        return _MISS

    def write(self, value: Any) -> None:
        """Store ``value`` under every key; a failure is logged, never raised (the flow stores it too)."""
        try:
            payload = self.serializer.dumps(value)
            created = time.time()
            expires = None if self.expiration is None else created + self.expiration
            for key in self.write_keys:
                self.storage.write(key, encode_record(key, self.serializer, payload, created=created,
                                                      expires=expires, signing_key=signing_key))
        except Exception as error:
            logger.debug("worker: could not store a result: %s", error)


def shared_storage(storage: ResultStorage) -> bool:
    """Whether workers elsewhere see the same records as the flow process."""
    if isinstance(storage, LocalStorage):
        return True
    if isinstance(storage, FsspecStorage):
        protocols = storage.fs.protocol if isinstance(storage.fs.protocol, (tuple, list)) else (storage.fs.protocol,)
        return "memory" not in protocols
    return False


__all__ = ["WorkerRecords", "shared_storage"]
