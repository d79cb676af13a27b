"""Task tracebacks that start at the user's code.

A task's exception passes through legato's engine, work item and runner
before anyone sees it, and each adds frames above the user's function that
say nothing about the user's bug. :func:`trim` drops the leading frames that
belong to legato's own package, so a traceback starts at the task's function
(frames of legato below the user's code, such as a task calling another
task, are kept: they are part of what the user's code did).
``LEGATO_FULL_TRACEBACKS=1`` keeps every frame.

This runs only when a task fails, never on the success path.
"""

from __future__ import annotations

import os
from types import TracebackType

from legato import config

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def trim(error: BaseException) -> BaseException:
    """``error`` with the leading legato frames of its traceback removed (in place; returned for chaining)."""
    if config.full_tracebacks():
        return error
    tb = error.__traceback__
    first = tb
    while tb is not None and _is_legato(tb):
        tb = tb.tb_next
    if tb is not None and tb is not first:  # keep everything if the error arose in legato itself
        error.__traceback__ = tb
    return error


def _is_legato(tb: TracebackType) -> bool:
    return tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR)


__all__ = ["trim"]
