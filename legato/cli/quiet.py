"""Run logs on the terminal without tracebacks, under ``legato run`` and ``legato resume``.

The engine logs a failed task run with its traceback, which is what a script
wants. Under the command line the same error would then be printed twice
(in the log, then as the command's own ``error:`` line or ``--traceback``
story), and a chained error (an unpicklable argument: a TypeError inside a
SerializationError inside another) runs to a hundred lines. So the command
line gives legato's terminal handler a formatter that keeps each record to
its message; the command prints the error once, and the whole chain once
with ``--traceback`` (Python prints each link of a chain once). The run history still records every traceback.
"""

from __future__ import annotations

import logging

from legato.core.logs import ROOT, RunFormatter, configure_logging


class OneLineFormatter(RunFormatter):
    """:class:`RunFormatter` without the traceback a record carries."""

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info or record.exc_text or record.stack_info):
            return super().format(record)
        bare = logging.makeLogRecord(record.__dict__)  # other handlers still see the traceback
        bare.exc_info = bare.exc_text = bare.stack_info = None
        return super().format(bare)


def quiet_run_logs() -> None:
    """Keep legato's own terminal log lines to one line each.

    Called once the flow's file is imported, so that a handler the file set
    up on the ``legato`` logger is kept (and left as it is) rather than
    joined by legato's.
    """
    configure_logging()
    for handler in logging.getLogger(ROOT).handlers:
        if type(handler.formatter) is RunFormatter:
            handler.setFormatter(OneLineFormatter())


__all__ = ["OneLineFormatter", "quiet_run_logs"]
