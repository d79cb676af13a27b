"""The one error the command line adds to legato's hierarchy::

    LegatoError
    └── UsageError (ValueError)    the command line or its input is wrong: exit 2
"""

from __future__ import annotations

from legato.core.errors import LegatoError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(LegatoError, ValueError):
    """Bad command-line usage or input: a missing file, flow, run or parameter."""


__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "UsageError"]
