"""Run loggers: standard library logging that knows which run is talking.

``get_run_logger()`` returns a :class:`logging.LoggerAdapter` over the
``legato.flow_runs`` or ``legato.task_runs`` logger whose records carry
``flow_run_id``, ``flow_run_name``, ``task_run_id`` and ``task_run_name``, so
any handler (a file, the run history, a process pool's queue back to the flow
process) can tell runs apart. legato installs one stream handler on its
``legato`` logger the first time a flow runs, unless the application has
configured one; ``LEGATO_LOGGING_LEVEL`` sets its level (default INFO).

Nothing here runs per task unless a task asks for its logger or fails.
"""

from __future__ import annotations

import builtins
import logging
import os
import sys
from typing import Any

from legato.core.context import flow_run_context, task_run_context

ROOT = "legato"
_configured = False
_original_print = builtins.print


class RunFormatter(logging.Formatter):
    """``12:00:00.123 | INFO    | Task run 'double-3' - message``."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        prefix = ""
        task_run_name = getattr(record, "task_run_name", None)
        flow_run_name = getattr(record, "flow_run_name", None)
        if task_run_name:
            prefix = f"Task run {task_run_name!r} - "
        elif flow_run_name:
            prefix = f"Flow run {flow_run_name!r} - "
        stamp = f"{self.formatTime(record, self.datefmt)}.{int(record.msecs):03d}"
        text = f"{stamp} | {record.levelname:<7} | {prefix}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now, so a live progress display can redirect it."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging() -> None:
    """Give the ``legato`` logger a handler once, unless someone already did."""
    global _configured
    if _configured:
        return
    _configured = True
    logger = logging.getLogger(ROOT)
    from legato import config

    level = config.logging_level()
    logger.setLevel(level)
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(RunFormatter())
        logger.addHandler(handler)
        logger.propagate = False


def mark_configured() -> None:
    """Tell :func:`configure_logging` that legato's logger is set up already (a worker that forwards records)."""
    global _configured
    _configured = True


def engine_logger() -> logging.Logger:
    return logging.getLogger(f"{ROOT}.engine")


def get_run_logger(**extra: Any) -> logging.LoggerAdapter:
    """A logger for the current task run or flow run.

    Raises ``RuntimeError`` outside a run, as Prefect does, so a missing
    context is noticed instead of logging into the void.
    """
    task_context = task_run_context.get()
    if task_context is not None:
        info = task_context.task_run
        fields = {
            "task_run_id": info.id,
            "task_run_name": info.name,
            "task_name": info.task_name,
            "flow_run_id": info.flow_run_id,
            "flow_run_name": info.flow_run_name,
        }
        return logging.LoggerAdapter(logging.getLogger(f"{ROOT}.task_runs"), {**fields, **extra})
    flow_context = flow_run_context.get()
    if flow_context is not None:
        run = flow_context.flow_run
        fields = {"flow_run_id": run.id, "flow_run_name": run.name, "flow_name": run.flow_name}
        return logging.LoggerAdapter(logging.getLogger(f"{ROOT}.flow_runs"), {**fields, **extra})
    raise RuntimeError("get_run_logger() was called outside a flow or task run")


def flow_run_logger(flow_run: Any) -> logging.LoggerAdapter:
    fields = {"flow_run_id": flow_run.id, "flow_run_name": flow_run.name, "flow_name": flow_run.flow_name}
    return logging.LoggerAdapter(logging.getLogger(f"{ROOT}.flow_runs"), fields)


def task_run_logger(task_run: Any) -> logging.LoggerAdapter:
    fields = {
        "task_run_id": task_run.id,
        "task_run_name": task_run.name,
        "flow_run_id": task_run.flow_run_id,
        "flow_run_name": task_run.flow_run_name,
    }
    return logging.LoggerAdapter(logging.getLogger(f"{ROOT}.task_runs"), fields)


def _print_to_logger(*args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False) -> None:
    """``print`` that goes to the run logger inside runs with ``log_prints``."""
    if file in (None, sys.stdout, sys.stderr) and _prints_are_logged():
        get_run_logger().info((sep if sep is not None else " ").join(str(a) for a in args))
        return
    _original_print(*args, sep=sep, end=end, file=file, flush=flush)


def _prints_are_logged() -> bool:
    task_context = task_run_context.get()
    if task_context is not None:
        return task_context.task_run.log_prints
    flow_context = flow_run_context.get()
    return bool(flow_context is not None and getattr(flow_context.flow_run, "log_prints", False))


def install_print_redirect() -> None:
    """Route ``print`` through :func:`_print_to_logger` (only once, only if asked for)."""
    if builtins.print is not _print_to_logger:
        builtins.print = _print_to_logger  # type: ignore[assignment]


__all__ = ["configure_logging", "get_run_logger", "install_print_redirect"]
