"""A live progress display of a flow run in the terminal (rich).

One line per task name: a bar for how many of its runs have settled, and
counts of completed, running and failed runs, so a mapped fan-out reads as
one progress bar. It is on when standard error is a terminal and
``LEGATO_PROGRESS`` is not ``0``; otherwise nothing here is imported.

The engine only bumps integer counters (under its own lock, no I/O); rich's
refresh thread reads them four times a second and redraws.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from legato.core.contracts import RunObserver


class TaskCounts:
    __slots__ = ("created", "started", "completed", "failed", "other")

    def __init__(self) -> None:
        self.created = self.started = self.completed = self.failed = self.other = 0

    @property
    def settled(self) -> int:
        return self.completed + self.failed + self.other

    @property
    def running(self) -> int:
        return max(0, self.started - self.settled)


class FlowProgress(RunObserver):
    """Counters per task name, and the rich display that draws them; a run observer of the engine."""

    def __init__(self, flow_run_name: str) -> None:
        self.flow_run_name = flow_run_name
        self.counts: dict[str, TaskCounts] = {}
        self._lock = threading.Lock()
        self._live: Any = None

    # -- engine side: cheap

    def created(self, task_name: str) -> None:
        with self._lock:
            counts = self.counts.get(task_name)
            if counts is None:
                counts = self.counts[task_name] = TaskCounts()
            counts.created += 1

    def started(self, task_name: str) -> None:
        self.counts[task_name].started += 1

    def settled(self, task_name: str, state_type: str) -> None:
        counts = self.counts[task_name]
        if state_type == "COMPLETED":
            counts.completed += 1
        elif state_type in ("FAILED", "CRASHED"):
            counts.failed += 1
        else:
            counts.other += 1

    # -- as a run observer (legato.core.contracts.RunObserver)

    def run_created(self, run: Any) -> None:
        self.created(run.task.name)

    def run_started(self, run: Any) -> None:
        self.started(run.task.name)

    def runs_settled(self, runs: list[Any]) -> None:
        settled = self.settled
        for run in runs:
            settled(run.task.name, run.state.type.value)

    def close(self) -> None:
        self.stop()

    # -- display side

    def render(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        table.add_row(f"[bold]{self.flow_run_name}[/bold]")
        with self._lock:
            rows = list(self.counts.items())
        for name, counts in rows:
            bar = ProgressBar(total=max(counts.created, 1), completed=counts.settled, width=30)
            failed = f"[red]{counts.failed} failed[/red]" if counts.failed else ""
            skipped = f"[dim]{counts.other} not run[/dim]" if counts.other else ""
            table.add_row(
                f"{name}",
                bar,
                f"{counts.settled}/{counts.created}",
                f"[green]{counts.completed} done[/green]",
                f"[yellow]{counts.running} running[/yellow]",
                failed,
                skipped,
            )
        return table

    def start(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self._live = Live(get_renderable=self.render, console=Console(stderr=True), refresh_per_second=4, transient=False)
        self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def progress_enabled() -> bool:
    from legato import config

    return config.progress_enabled() and sys.stderr.isatty()


def open_progress(flow_run_name: str) -> FlowProgress | None:
    """A started display for this flow run, or None when progress is off."""
    if not progress_enabled():
        return None
    progress = FlowProgress(flow_run_name)
    try:
        progress.start()
    except Exception:  # a display problem must never stop a flow
        return None
    return progress


__all__ = ["FlowProgress", "open_progress", "progress_enabled"]
