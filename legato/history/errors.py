"""Errors raised by run history, all under :class:`legato.core.errors.LegatoError`::

    LegatoError
    └── HistoryError
        ├── RunNotFound (LookupError)       no recorded run matches the id given
        ├── AmbiguousRunId (LookupError)    an id prefix matches several runs
        └── HistoryDatabaseError            the database file cannot be used
            └── HistoryCorrupt              it was damaged, and has been moved aside

``sqlite3`` errors are translated into :class:`HistoryDatabaseError` where
they enter (``schema.connect``), so callers never need to import ``sqlite3``.
"""

from __future__ import annotations

from pathlib import Path

from legato.core.errors import LegatoError


class HistoryError(LegatoError):
    """Base class of the errors raised by run history."""


class RunNotFound(HistoryError, LookupError):
    """No recorded flow run has the id, or an id starting with the prefix, given."""


class AmbiguousRunId(HistoryError, LookupError):
    """An id prefix matches more than one recorded flow run."""


class HistoryDatabaseError(HistoryError):
    """The history database cannot be opened, read or written."""


class HistoryCorrupt(HistoryDatabaseError):
    """The history database was damaged; it has been moved aside (``moved_to``) and a new one started."""

    def __init__(self, path: Path, moved_to: Path | None, reason: str) -> None:
        self.path, self.moved_to, self.reason = path, moved_to, reason
        if moved_to is None:
            message = f"history database {path} was damaged ({reason}); another legato process has already replaced it"
        else:
            message = (f"history database {path} was damaged ({reason}): moved it to {moved_to} and started a new "
                       f"one; to save what the old file holds, run: sqlite3 {moved_to} .recover")
        super().__init__(message)


__all__ = ["AmbiguousRunId", "HistoryCorrupt", "HistoryDatabaseError", "HistoryError", "RunNotFound"]
