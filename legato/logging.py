"""Prefect-compatible home of the run loggers: ``from legato.logging import get_run_logger``."""

from __future__ import annotations

import contextlib
import logging as _logging
from collections.abc import Iterator

from legato.core.logs import ROOT, get_run_logger


def get_logger(name: str | None = None) -> _logging.Logger:
    """A logger under legato's own (``legato.<name>``), as Prefect's ``get_logger`` is under ``prefect``."""
    return _logging.getLogger(ROOT if not name else f"{ROOT}.{name}")


@contextlib.contextmanager
def disable_run_logger() -> Iterator[None]:
    """Silence the flow-run and task-run loggers inside the block (for calling ``task.fn`` in unit tests)."""
    loggers = [_logging.getLogger(f"{ROOT}.flow_runs"), _logging.getLogger(f"{ROOT}.task_runs")]
    before = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, was in zip(loggers, before):
            logger.disabled = was


__all__ = ["disable_run_logger", "get_logger", "get_run_logger"]
