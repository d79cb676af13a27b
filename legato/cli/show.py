"""``legato runs show`` and ``legato runs logs``, streamed so that big runs print at once.

A rich :class:`~rich.table.Table` measures every row before it prints the
first, which for a 200,000-task run took 102 s and 905 MB. Here the run's
facts print first; then a summary by task name (one pass over the packed
chunks, :func:`legato.history.scan.summarize`), whose widths also line up
the task rows, which follow chunk by chunk as they are decoded, up to
``--limit``. Rows go out as plain lines, styled only on a terminal.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.text import Text

from legato.cli import display
from legato.cli.errors import UsageError

if TYPE_CHECKING:
    from legato.history.query import TaskRunRecord
    from legato.history.scan import TaskRunsSummary, TaskStats

#: ``runs show`` prints this many task runs unless told otherwise
DEFAULT_TASK_LIMIT = 200
#: ``runs logs`` prints this many lines unless told otherwise
DEFAULT_LOG_LIMIT = 1000
#: on a pipe, lines go out in bunches of this many (and the first at once)
FLUSH_EVERY = 1000
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_MAX_NAME_WIDTH = 60


class Lines:
    """Writes one line at a time: styled through rich on a terminal, else as plain text (fast)."""

    def __init__(self, console: Console, stream: TextIO | None = None) -> None:
        self.console = console
        self.stream = stream or sys.stdout
        self.styled = console.is_terminal and not console.no_color
        self.written = 0

    def __call__(self, line: Text | str = "") -> None:
        if self.styled:
            self.console.print(line, soft_wrap=True)
        else:
            self.stream.write((line.plain if isinstance(line, Text) else line) + "\n")
            self.written += 1
            if self.written == 1 or self.written % FLUSH_EVERY == 0:  # a pipe buffers: let the first lines out
                self.stream.flush()


def show_run(
    run_id: str, *, state: str | None, task: str | None, limit: int | None, full_errors: bool, console: Console
) -> None:
    """The run's facts, its task runs summarized by task name, then its task runs (at most ``limit``)."""
    from legato.history import get_run, scan

    if state is not None and not state.strip():
        raise UsageError("--state needs a state type or name, e.g. failed")
    run = get_run(run_id)
    console.print(display.run_header(run, full_error=full_errors))
    console.file.flush()
    where = scan.TaskFilter(state=state, task=task)
    summary = scan.summarize(run.id, where)
    out = Lines(console)
    out()
    names: dict[str, str] = {}  # the task runs shown, to name the ones that made artifacts
    if not summary.total:
        console.print("No task runs recorded." if where.is_open else "No task runs match.", style="dim")
    else:
        _task_runs(out, run.id, where, summary, limit, full_errors, names)
    from legato.cli.artifacts import run_artifacts

    run_artifacts(console, run.id, names)


def _task_runs(out: Lines, run_id: str, where: Any, summary: Any, limit: int | None, full_errors: bool,
               names: dict[str, str]) -> None:
    from legato.history import scan

    for line in summary_lines(summary.by_task.values()):
        out(line)
    out()
    widths = _row_widths(summary)
    out(Text(_row(("task run", "state", "attempts", "duration", "error"), widths), style="bold"))
    shown, errors = 0, []
    for record in scan.stream(run_id, where, summary.replaced):
        if limit is not None and shown >= limit:
            break
        out(task_row(record, widths))
        names[record.id] = record.name
        shown += 1
        if full_errors and record.error:
            errors.append((record.name, record.error))
    if shown < summary.total:
        out(Text(f"... {summary.total - shown:,} more task runs (--limit N shows N, --all shows all)", style="dim"))
    for name, error in errors:
        out()
        out(Text(f"{name}:", style="bold"))
        out(Text(error.rstrip(), style="red"))


def summary_lines(stats: Iterable[TaskStats]) -> list[Text]:
    """``task  runs  states  p50  p95``: one line per task name."""
    rows = [
        (s.task_name, f"{s.runs:,}", _states(s.states), _short(s.percentile(0.5)), _short(s.percentile(0.95)))
        for s in stats
    ]
    header = ("task", "runs", "states", "p50", "p95")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [Text(_row(header, widths, right={1, 3, 4}), style="bold")]
    lines.extend(Text(_row(row, widths, right={1, 3, 4})) for row in rows)
    return lines


def task_row(task: TaskRunRecord, widths: list[int]) -> Text:
    """One task run: ``name  state  attempts  duration  error``, the state styled."""
    state = display.state_text(task.state_type, task.state_name)
    cells = (
        _fit(task.name, widths[0]),
        state.plain,
        str(task.attempts),
        display.format_duration(task.started_at, task.ended_at),
        display.error_summary(task.error),
    )
    line = Text(_row(cells, widths))
    start = widths[0] + 2
    line.stylize(state.style, start, start + len(state.plain))
    if cells[4]:
        line.stylize("red", len(line.plain) - len(cells[4]))
    return line


def show_logs(run_id: str, *, limit: int | None, level: str | None, console: Console) -> None:
    """The run's log lines, oldest first, from ``level`` up, at most ``limit``."""
    from legato.history import get_run, query, scan

    threshold = _level_number(level) if level else 0
    run = get_run(run_id)
    out = Lines(console)
    names: dict[str, str] | None = None
    shown = matching = 0
    with query.open_for_reading(None) as conn:
        if conn is not None:
            for lvl, count in conn.execute(
                "SELECT level, COUNT(*) FROM logs WHERE flow_run_id = ? GROUP BY level", (run.id,)
            ):
                matching += count if _level_number(lvl, strict=False) >= threshold else 0
            rows = conn.execute(
                "SELECT flow_run_id, task_run_id, ts, level, logger, message FROM logs "
                "WHERE flow_run_id = ? ORDER BY ts, rowid",
                (run.id,),
            )
            for row in rows:
                if limit is not None and shown >= limit:
                    break
                line = query.RunLogLine(*row)
                if threshold and _level_number(line.level, strict=False) < threshold:
                    continue
                if line.task_run_id and names is None:
                    names = scan.task_names(conn, run.id)
                out(display.log_line(line, names or {}))
                shown += 1
    if not matching:
        what = f" at {level.upper()} or above" if level else ""
        console.print(f"No logs recorded{what} for run {run.short_id}.", style="dim")
    elif shown < matching:
        out(Text(f"... {matching - shown:,} more lines (--limit N shows N, --all shows all)", style="dim"))


def _level_number(level: str, *, strict: bool = True) -> int:
    upper = level.strip().upper()
    if upper in LEVELS:
        return int(getattr(logging, upper))
    if strict:
        raise UsageError(f"unknown level {level!r}; choose from {', '.join(name.lower() for name in LEVELS)}")
    number = logging.getLevelName(upper)
    return number if isinstance(number, int) else 0


def _row_widths(summary: TaskRunsSummary) -> list[int]:
    states = [state for stats in summary.by_task.values() for state in stats.states]
    name = min(max(summary.name_width, len("task run")), _MAX_NAME_WIDTH)
    return [name, max([len("state"), *map(len, states)]), len("attempts"), len("duration"), 0]


def _row(cells: Iterable[str], widths: list[int], right: frozenset[int] | set[int] = frozenset()) -> str:
    parts = []
    for index, (cell, width) in enumerate(zip(cells, widths)):
        parts.append(cell.rjust(width) if index in right else cell.ljust(width))
    return "  ".join(parts).rstrip()


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _states(states: dict[str, int]) -> str:
    ordered = sorted(states.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count:,} {state}" for state, count in ordered)


def _short(seconds: float | None) -> str:
    """A task duration to three figures: ``85µs``, ``12.3ms``, ``1.25s``, ``3m 02s``."""
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1000:.3g}ms"
    return display.format_duration(0.0, seconds)


__all__ = ["DEFAULT_LOG_LIMIT", "DEFAULT_TASK_LIMIT", "show_logs", "show_run", "summary_lines", "task_row"]
