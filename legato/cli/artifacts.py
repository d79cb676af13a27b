"""``legato artifacts ls`` / ``legato artifacts show KEY``, and the artifacts part of ``legato runs show``."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from legato.cli.display import format_time
from legato.cli.errors import UsageError

artifacts_app = typer.Typer(help="List and show the artifacts runs created.")


@artifacts_app.callback(invoke_without_command=True)
def _help(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        help_text = ctx.get_help()
        if help_text:
            print(help_text)
        raise typer.Exit(2)


@artifacts_app.command("ls")
def artifacts_ls(
    key: Annotated[Optional[str], typer.Option("--key", "-k", help="Only this key, every version.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many to show, newest first.")] = 50,
) -> None:
    """List artifacts, newest first: the latest of each key (every version with --key)."""
    from legato.history.artifacts import list_artifacts

    records = list_artifacts(key, latest_only=key is None, limit=limit)
    console = Console(highlight=False)
    if not records:
        console.print("No artifacts recorded." if key is None else f"No artifact with key {key!r}.", style="dim")
        return
    console.print(artifacts_table(records))


@artifacts_app.command("show")
def artifacts_show(key: Annotated[str, typer.Argument(help="The artifact's key.")]) -> None:
    """Show the latest artifact of a key, then its earlier versions."""
    from legato.history.artifacts import list_artifacts

    records = list_artifacts(key, limit=None)
    if not records:
        raise UsageError(f"no artifact with key {key!r}")
    latest = records[0]
    console = Console(highlight=False)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in (("key", latest.key), ("type", latest.type), ("description", latest.description or "-"),
                         ("flow run", latest.flow_run_id or "-"), ("task run", latest.task_run_id or "-"),
                         ("created", format_time(latest.created_at))):  # fmt: skip
        grid.add_row(label, Text(str(value)))
    console.print(grid)
    console.print()
    console.print(render(latest))
    if len(records) > 1:
        console.print()
        console.print(Text(f"history ({len(records)} versions)", style="bold"))
        console.print(artifacts_table(records))


def artifacts_table(records: list[Any], task_names: dict[str, str] | None = None) -> Table:
    """One row per artifact; with ``task_names`` (one run's artifacts) the task run replaces the flow run."""
    by = "task run" if task_names is not None else "flow run"
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("key", "type", "created", by, "description", "value"):
        table.add_column(column, no_wrap=column in ("created", by), overflow="fold" if column == "key" else "ellipsis")
    for record in records:
        if task_names is not None:
            made_by = task_names.get(record.task_run_id, record.task_run_id[:8]) if record.task_run_id else "(flow)"
        else:
            made_by = (record.flow_run_id or "-")[:8]
        table.add_row(Text(record.key or "-"), record.type, format_time(record.created_at), Text(made_by),
                      Text(record.description or ""), Text(summary(record)))  # fmt: skip
    return table


def render(record: Any) -> Any:
    """The artifact itself: markdown rendered, a table as a table, a link, a percentage."""
    data = record.data
    if record.type == "markdown":
        return Markdown(str(data))
    if record.type == "table" and isinstance(data, dict):
        table = Table(header_style="bold")
        rows = data.get("rows") or []
        columns = data.get("columns") or [str(i) for i in range(max((len(r) for r in rows), default=0))]
        for column in columns:
            table.add_column(Text(str(column)))
        for row in rows:
            table.add_row(*(Text("" if value is None else str(value)) for value in row))
        return table
    if record.type == "link" and isinstance(data, dict):
        return Text(f"{data.get('link_text') or data.get('link')}: {data.get('link')}")
    return Text(summary(record))


def summary(record: Any) -> str:
    data = record.data
    if record.type == "progress":
        return f"{float(data):.1f}%" if isinstance(data, (int, float)) else str(data)
    if record.type == "link" and isinstance(data, dict):
        return str(data.get("link"))
    if record.type == "table" and isinstance(data, dict):
        return f"{len(data.get('rows') or [])} rows"
    text = " ".join(str(data).split())
    return text if len(text) <= 60 else text[:57] + "..."


def run_artifacts(console: Console, flow_run_id: str, task_names: dict[str, str] | None = None) -> None:
    """The artifacts section of ``legato runs show`` (nothing when the run made none)."""
    from legato.history.artifacts import list_artifacts

    records = list_artifacts(flow_run_id=flow_run_id, limit=None)
    if records:
        console.print()
        console.print(Text("artifacts", style="bold"))
        console.print(artifacts_table(records, task_names or {}))


__all__ = ["artifacts_app", "run_artifacts"]
