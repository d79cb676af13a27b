"""A logging handler that files log records under the run that emitted them.

The engine tags records with ``flow_run_id`` (and ``task_run_id`` inside a
task), through a ``LoggerAdapter`` or a filter; this handler forwards those
records to the recorder and ignores every other record, so it can sit on the
root logger without recording unrelated libraries' chatter.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from typing import Protocol


class _LogSink(Protocol):
    def log(
        self,
        *,
        flow_run_id: str,
        task_run_id: str | None,
        ts: float,
        level: str,
        logger: str,
        message: str,
    ) -> None: ...


class RunLogHandler(logging.Handler):
    """Forwards records carrying a ``flow_run_id`` attribute to ``recorder.log``.

    With ``runs``, only the records of those flow runs: a process that writes
    two databases (``LEGATO_DATABASE`` changed between flows) has a handler
    per database, and each must file only its own runs' lines.
    """

    def __init__(self, recorder: _LogSink, level: int = logging.NOTSET, runs: Container[str] | None = None) -> None:
        super().__init__(level)
        self.recorder = recorder
        self.runs = runs
        from legato.history.artifacts import install_handler

        install_handler()  # artifacts reaching this process (from process-pool workers too) are stored

    def emit(self, record: logging.LogRecord) -> None:
        flow_run_id = getattr(record, "flow_run_id", None)
        if flow_run_id is None or (self.runs is not None and flow_run_id not in self.runs):
            return
        try:
            self.recorder.log(
                flow_run_id=str(flow_run_id),
                task_run_id=_optional_str(getattr(record, "task_run_id", None)),
                ts=record.created,
                level=record.levelname,
                logger=record.name,
                message=self.format(record),
            )
        except Exception:
            self.handleError(record)


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


__all__ = ["RunLogHandler"]
