"""How values read as text in the web view: times, durations, states, the resume command.

The wording is the command line's (:mod:`legato.cli.display`), so a run reads
the same in a terminal and in a browser. Everything returns plain ``str``;
the templates escape it.
"""

from __future__ import annotations

import shlex
import time
from typing import Any

from legato.cli.display import error_summary, format_duration, format_time
from legato.history.query import FlowRunRecord

RESUMABLE = frozenset({"FAILED", "CRASHED", "CANCELLED"})
STATE_TYPES = ("COMPLETED", "RUNNING", "FAILED", "CRASHED", "CANCELLED", "PENDING")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def state_class(state_type: str | None) -> str:
    """The CSS class that colours a state (``s-completed``, ``s-failed``...)."""
    kind = (state_type or "PENDING").upper()
    return f"s-{kind.lower()}" if kind in STATE_TYPES or kind == "SPAN" else "s-pending"


def run_duration(run: FlowRunRecord) -> str:
    return format_duration(run.started_at, run.ended_at, running=run.state_type == "RUNNING")


def task_duration(started: float | None, ended: float | None) -> str:
    return format_duration(started, ended)


def clock(ts: float | None) -> str:
    """``12:00:03.120`` for a log line."""
    if ts is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"


def shorten(text: Any, limit: int = 40) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def resume_command(run: FlowRunRecord) -> str | None:
    """``legato resume 3f2a9c1d`` for a run that can be resumed, else None."""
    if run.state_type in RESUMABLE and run.entrypoint:
        return f"legato resume {shlex.quote(run.short_id)}"
    return None


def number(value: int) -> str:
    return f"{value:,}"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return format_duration(0.0, value)


TEMPLATE_GLOBALS = {
    "state_class": state_class,
    "run_duration": run_duration,
    "task_duration": task_duration,
    "fmt_time": format_time,
    "clock": clock,
    "shorten": shorten,
    "error_summary": error_summary,
    "resume_command": resume_command,
    "number": number,
    "seconds": seconds,
    "STATE_TYPES": STATE_TYPES,
    "LEVELS": LEVELS,
}

__all__ = ["TEMPLATE_GLOBALS", "resume_command", "state_class"]
