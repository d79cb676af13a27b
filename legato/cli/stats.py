"""``legato stats``: runs, success rate, duration percentiles and failures, per flow and per task."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from legato.cli.display import _seconds
from legato.cli.errors import UsageError


def stats_command(
    flow: Annotated[Optional[str], typer.Option("--flow", "-f", help="Only this flow.", show_default=False)] = None,
    since: Annotated[
        Optional[str], typer.Option("--since", help="Only runs started this recently: 90s, 30m, 12h, 7d, 2w.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """Pipeline metrics: per flow and per task name, from the run history."""
    from legato.history import stats

    try:
        result = stats(flow=flow, since=since)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    console = Console(highlight=False)
    if not result.flows:
        console.print("No finished runs recorded" + (f" in the last {since}." if since else "."), style="dim")
        return
    console.print(flows_table(result.flows))
    console.print()
    if result.tasks:
        console.print(tasks_table(result.tasks))


def flows_table(flows: list) -> Table:  # type: ignore[type-arg]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("flow", "runs", "success", "p50", "p95", "max", "last success", "failures by error"):
        table.add_column(column)
    for f in flows:
        failures = ", ".join(f"{name} x{count}" for name, count in f.failures_by_error.items()) or "-"
        last = "never" if f.since_last_success is None else _seconds(f.since_last_success) + " ago"
        table.add_row(f.flow_name, str(f.runs), _percent(f.success_rate), _time(f.p50), _time(f.p95), _time(f.max),
                      last, failures)  # fmt: skip
    return table


def tasks_table(tasks: list) -> Table:  # type: ignore[type-arg]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("task", "runs", "failed", "p50", "p95"):
        table.add_column(column)
    for t in tasks:
        table.add_row(t.task_name, str(t.runs), f"{t.failed} ({_percent(t.failure_rate)})", _time(t.p50), _time(t.p95))
    return table


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else _seconds(seconds)


__all__ = ["stats_command"]
