"""The ``legato`` commands (typer) and the one place their errors become exit codes.

Commands are thin: they parse options, call :mod:`legato.cli.running` or
:mod:`legato.history`, and print. Errors are raised, not printed, and
:func:`run_app` turns every expected one into a single ``error: ...`` line on
stderr and an exit code (0 ok, 1 the flow failed, 2 bad usage or input), so
no command prints a traceback unless asked to with ``--traceback``.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from legato.cli import display
from legato.cli.errors import EXIT_FAILED, EXIT_USAGE, UsageError
from legato.history import AmbiguousRunId, HistoryError, RunNotFound

app = typer.Typer(
    name="legato",
    help="Run legato flows from files and inspect, graph and resume recorded runs.",
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs_app = typer.Typer(help="List and inspect recorded flow runs.")
app.add_typer(runs_app, name="runs")
from legato.cli import schedules as _schedules  # noqa: E402  (serve, backfill, schedules, limits)

RunId = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="A run id, or any unique prefix of one.", show_default=False)
]
Traceback = Annotated[bool, typer.Option("--traceback", help="Print the full traceback of a failure.")]
Runner = Annotated[
    Optional[str],
    typer.Option("--runner", help="Task runner: threads, processes, dask, ray or sync.", show_default=False),
]


class GraphFormat(str, enum.Enum):
    mermaid = "mermaid"
    dot = "dot"


def _console() -> Console:
    return Console(highlight=False)


@app.callback(invoke_without_command=True)
@runs_app.callback(invoke_without_command=True)
@_schedules.schedules_app.callback(invoke_without_command=True)
@_schedules.limits_app.callback(invoke_without_command=True)
def _help_without_command(ctx: typer.Context) -> None:
    """A group called without a command prints its help (exit 2, like click)."""
    if ctx.invoked_subcommand is None:
        help_text = ctx.get_help()  # typer's rich help prints itself and returns ""
        if help_text:
            print(help_text)
        raise typer.Exit(EXIT_USAGE)


# -- running flows -----------------------------------------------------------------


@app.command()
def run(
    entrypoint: Annotated[str, typer.Argument(help="The flow to run, as path/to/file.py:flow_name.")],
    param: Annotated[
        Optional[list[str]],
        typer.Option("--param", "-p", help="A flow parameter as key=value (value parsed as JSON if it can be).", show_default=False),
    ] = None,
    runner: Runner = None,
    run_key: Annotated[
        Optional[str],
        typer.Option("--run-key", help="Key that identifies this run for caching and resuming.", show_default=False),
    ] = None,
    traceback: Traceback = False,
) -> None:
    """Run a flow defined in a Python file; print its return value."""
    from legato.cli.loading import parse_params
    from legato.cli.running import run_flow

    code = run_flow(entrypoint, parse_params(param or ()), runner=runner, run_key=run_key, show_traceback=traceback)
    if code:
        raise typer.Exit(code)


@app.command()
def resume(run_id: RunId, runner: Runner = None, traceback: Traceback = False) -> None:
    """Run a failed or crashed run's flow again, with its parameters and run key."""
    from legato.cli.running import resume_run

    code = resume_run(run_id, runner=runner, show_traceback=traceback)
    if code:
        raise typer.Exit(code)


# -- inspecting runs ---------------------------------------------------------------


@runs_app.command("ls")
def runs_ls(
    status: Annotated[
        Optional[str],
        typer.Option("--status", "-s", help="Only runs in this state: completed, failed, crashed, running, cancelled, pending.", show_default=False),
    ] = None,
    flow: Annotated[Optional[str], typer.Option("--flow", "-f", help="Only runs of this flow.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs to show, newest first.")] = 20,
) -> None:
    """List recorded flow runs, newest first."""
    from legato.history import list_runs

    try:
        runs = list_runs(status=status, flow=flow, limit=limit)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    console = _console()
    if not runs:
        console.print("No runs recorded.", style="dim")
        return
    console.print(display.runs_table(runs))


@runs_app.command("show")
def runs_show(
    run_id: RunId,
    traceback: Annotated[bool, typer.Option("--traceback", help="Print full error texts, tracebacks included.")] = False,
) -> None:
    """Show one flow run and its task runs."""
    from legato.history import get_run, task_runs

    run_record = get_run(run_id)
    tasks = task_runs(run_record.id)
    console = _console()
    console.print(display.run_header(run_record, full_error=traceback))
    console.print()
    if tasks:
        console.print(display.tasks_table(tasks))
    else:
        console.print("No task runs recorded.", style="dim")
    if traceback:
        for task in tasks:
            if task.error:
                console.print(f"\n{task.name}:", style="bold")
                console.print(Text(task.error.rstrip(), style="red"))


@runs_app.command("logs")
def runs_logs(run_id: RunId) -> None:
    """Print the log lines recorded for a flow run."""
    from legato.history import get_run, run_logs, task_runs

    run_record = get_run(run_id)
    lines = run_logs(run_record.id)
    console = _console()
    if not lines:
        console.print(f"No logs recorded for run {run_record.short_id}.", style="dim")
        return
    task_names = {task.id: task.name for task in task_runs(run_record.id)}
    for line in lines:
        console.print(display.log_line(line, task_names), soft_wrap=True)


@app.command()
def graph(
    run_id: RunId,
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f", help="Output format.")] = GraphFormat.mermaid,
) -> None:
    """Print the task graph of a run as Mermaid or Graphviz DOT text."""
    from legato.history import render_graph

    sys.stdout.write(render_graph(run_id, fmt.value))


_schedules.register(app)


# -- the one place errors become exit codes ------------------------------------------


def run_app(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return its exit code instead of raising ``SystemExit``."""
    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=list(argv) if argv is not None else None, prog_name="legato", standalone_mode=False
        )
    except typer.TyperException as exc:  # click's errors: bad option, missing argument...
        return _error(_click_message(exc), exc.exit_code)
    except typer.Abort:
        return _error("aborted", EXIT_FAILED)
    except (UsageError, RunNotFound, AmbiguousRunId) as exc:
        return _error(str(exc), EXIT_USAGE)
    except HistoryError as exc:
        return _error(str(exc), EXIT_FAILED)
    except BrokenPipeError:  # `legato runs show X | head`: the reader left, nothing to say
        _silence_stdout()
        return EXIT_FAILED
    except OSError as exc:  # e.g. LEGATO_HOME cannot be created
        return _error(f"{type(exc).__name__}: {exc}", EXIT_FAILED)
    return result if isinstance(result, int) else 0


def _click_message(exc: typer.TyperException) -> str:
    message = exc.format_message().strip().rstrip(".")
    ctx = getattr(exc, "ctx", None)
    if exc.exit_code == EXIT_USAGE and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return " ".join(message.split())


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


__all__ = ["app", "run_app"]
