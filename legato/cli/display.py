"""Rich renderables for recorded runs: the tables of ``legato runs``.

Pure functions from history records to rich objects; printing is left to the
commands, so these can be checked without a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from rich.table import Table
from rich.text import Text

from legato.history import FlowRunRecord, RunLogLine, TaskRunRecord

STATE_STYLES = {
    "COMPLETED": "green",
    "FAILED": "red",
    "CRASHED": "bold magenta",
    "CANCELLED": "yellow",
    "RUNNING": "cyan",
    "PENDING": "dim",
}
LEVEL_STYLES = {"DEBUG": "dim", "WARNING": "yellow", "ERROR": "red", "CRITICAL": "bold red"}


def runs_table(runs: Iterable[FlowRunRecord]) -> Table:
    """``legato runs ls``: one row per flow run."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("id", "flow", "name", "state", "started", "duration", "tasks"):
        table.add_column(column, no_wrap=column in ("id", "started"))
    for run in runs:
        tasks = str(run.task_count)
        if run.failed_task_count:
            tasks += f" ({run.failed_task_count} failed)"
        table.add_row(
            run.short_id,
            run.flow_name,
            run.name,
            state_text(run.state_type, run.state_name),
            format_time(run.started_at),
            format_duration(run.started_at, run.ended_at, running=run.state_type == "RUNNING"),
            tasks,
        )
    return table


def run_header(run: FlowRunRecord, *, full_error: bool = False) -> Table:
    """``legato runs show``: the facts about one flow run, as label/value pairs.

    The error is shown as its one telling line unless ``full_error``.
    """
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("run", run.id),
        ("flow", run.flow_name),
        ("name", run.name),
        ("state", state_text(run.state_type, run.state_name)),
        ("started", format_time(run.started_at)),
        ("ended", format_time(run.ended_at)),
        ("duration", format_duration(run.started_at, run.ended_at, running=run.state_type == "RUNNING")),
        ("runner", run.runner or "-"),
        ("run key", run.run_key or "-"),
        ("tags", ", ".join(run.tags) or "-"),
        ("parameters", format_parameters(run.parameters)),
        ("process", f"{run.pid} on {run.hostname}" if run.pid else "-"),
        ("entrypoint", run.entrypoint or "-"),
    ]
    for label, value in rows:
        grid.add_row(label, value if isinstance(value, Text) else Text(value))
    if run.error:
        error = run.error.rstrip() if full_error else error_summary(run.error)
        grid.add_row("error", Text(error, style="red"))
    return grid


def tasks_table(tasks: Iterable[TaskRunRecord]) -> Table:
    """``legato runs show``: one row per task run."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("task run", "state", "attempts", "duration", "error"):
        table.add_column(column, no_wrap=column != "error")
    for task in tasks:
        table.add_row(
            Text(task.name),
            state_text(task.state_type, task.state_name),
            str(task.attempts),
            format_duration(task.started_at, task.ended_at),
            Text(error_summary(task.error), style="red"),
        )
    return table


def log_line(line: RunLogLine, task_names: Mapping[str, str]) -> Text:
    """``legato runs logs``: ``12:00:03.120 INFO     square-3 | message``."""
    stamp = time.strftime("%H:%M:%S", time.localtime(line.ts)) + f".{int(line.ts % 1 * 1000):03d}"
    source = task_names.get(line.task_run_id, line.task_run_id) if line.task_run_id else "flow"
    text = Text(f"{stamp} ")
    text.append(f"{line.level:<8}", style=LEVEL_STYLES.get(line.level, ""))
    text.append(f" {source} | ", style="dim")
    text.append(line.message)
    return text


def state_text(state_type: str, state_name: str) -> Text:
    return Text(state_name or state_type.capitalize(), style=STATE_STYLES.get(state_type, ""))


def format_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def format_duration(start: float | None, end: float | None, *, running: bool = False) -> str:
    """``0.25s``, ``12.3s``, ``3m 02s``, ``2h 05m``; a running run shows its age with ``+``."""
    if start is None:
        return "-"
    if end is None:
        if not running:
            return "-"
        return _seconds(time.time() - start) + "+"
    return _seconds(end - start)


def format_parameters(parameters: Mapping[str, str]) -> str:
    if not parameters:
        return "-"
    return ", ".join(f"{name}={value}" for name, value in parameters.items())


def error_summary(error: str | None) -> str:
    """The line of an error text that says what happened.

    For a text that is a Python traceback that is its last line (the
    exception), otherwise its first.
    """
    if not error:
        return ""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1].strip() if lines[0].startswith("Traceback") else lines[0].strip()


def _seconds(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}m {rest:02d}s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h {rest // 60:02d}m"


__all__ = [
    "error_summary",
    "format_duration",
    "format_time",
    "log_line",
    "run_header",
    "runs_table",
    "state_text",
    "tasks_table",
]
