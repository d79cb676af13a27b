"""Errors raised by run history, all under :class:`legato.core.errors.LegatoError`::

    LegatoError
    └── HistoryError
        ├── RunNotFound (LookupError)       no recorded run matches the id given
        ├── AmbiguousRunId (LookupError)    an id prefix matches several runs
        └── HistoryDatabaseError            the database file cannot be used

``sqlite3`` errors are translated into :class:`HistoryDatabaseError` where
they enter (``schema.connect``), so callers never need to import ``sqlite3``.
"""

from __future__ import annotations

from legato.core.errors import LegatoError


class HistoryError(LegatoError):
    """Base class of the errors raised by run history."""


class RunNotFound(HistoryError, LookupError):
    """No recorded flow run has the id, or an id starting with the prefix, given."""


class AmbiguousRunId(HistoryError, LookupError):
    """An id prefix matches more than one recorded flow run."""


class HistoryDatabaseError(HistoryError):
    """The history database cannot be opened, read or written."""


__all__ = ["AmbiguousRunId", "HistoryDatabaseError", "HistoryError", "RunNotFound"]
