"""The ``legato`` commands (typer) and the one place their errors become exit codes.

Commands are thin: they parse options, call :mod:`legato.cli.running` or
:mod:`legato.history`, and print. Errors are raised, not printed, and
:func:`run_app` turns every expected one into a single ``error: ...`` line on
stderr and an exit code (0 ok, 1 the flow failed, 2 bad usage or input), so
no command prints a traceback unless asked to with ``--traceback``.
"""

from __future__ import annotations

import enum
import functools
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from legato import config
from legato.cli import display
from legato.cli.errors import EXIT_FAILED, EXIT_USAGE, UsageError
from legato.cli.show import DEFAULT_LOG_LIMIT, DEFAULT_TASK_LIMIT
from legato.history import AmbiguousRunId, HistoryError, RunNotFound

app = typer.Typer(
    name="legato",
    help="Run legato flows from files and inspect, graph and resume recorded runs.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: options with a word for their value, flags bare
    context_settings={"max_content_width": 100},
)
runs_app = typer.Typer(help="List and inspect recorded flow runs.", rich_markup_mode=None)
app.add_typer(runs_app, name="runs")
from legato.cli import schedules as _schedules  # noqa: E402  (serve, backfill, schedules, limits)

RunId = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="A run id, or any unique prefix of one.", show_default=False)
]
Traceback = Annotated[bool, typer.Option("--traceback", help="Print the full traceback of a failure.")]
Runner = Annotated[
    Optional[str],
    typer.Option(
        "--runner", metavar="NAME", help="Task runner: threads, processes, dask, ray or sync.", show_default=False
    ),
]
ShowAll = Annotated[bool, typer.Option("--all", help="Show everything (same as --limit 0).")]


class GraphFormat(str, enum.Enum):
    mermaid = "mermaid"
    dot = "dot"


def _console() -> Console:
    return Console(highlight=False)


@app.callback(invoke_without_command=True)
def _main_callback(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", help="Print legato's version and exit.", is_eager=True)
    ] = False,
) -> None:
    """``legato --version``; ``legato`` alone prints its help."""
    if version:
        print(f"legato {_version()}")
        raise typer.Exit(0)
    _help_without_command(ctx)


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
    entrypoint: Annotated[
        str, typer.Argument(metavar="FILE.py:FLOW", help="The flow to run, as path/to/file.py:flow_name.")
    ],
    param: Annotated[
        Optional[list[str]],
        typer.Option(
            "--param", "-p", metavar="KEY=VALUE", show_default=False,
            help="A flow parameter; repeat for more. A parameter annotated str (or Path, date, an Enum "
            "of strings...) gets VALUE as text; any other, or one without a hint, gets VALUE decoded as "
            "JSON when it is JSON (3, 2.5, true, [1,2]), else as text.",
        ),
    ] = None,
    runner: Runner = None,
    run_key: Annotated[
        Optional[str],
        typer.Option(
            "--run-key", metavar="KEY", help="Key that identifies this run for caching and resuming.", show_default=False
        ),
    ] = None,
    traceback: Traceback = False,
    notify: Annotated[
        Optional[list[str]],
        typer.Option("--notify", metavar="URL", help="Send a notification to this apprise URL if the run fails (repeatable; adds to LEGATO_NOTIFY).", show_default=False),
    ] = None,
) -> None:
    """Run a flow defined in a Python file; print its return value."""
    from legato.cli.loading import parse_params
    from legato.cli.running import run_flow

    if notify:
        config.add_notify_urls(notify)

    code = run_flow(entrypoint, parse_params(param or ()), runner=runner, run_key=run_key, show_traceback=traceback)
    if code:
        raise typer.Exit(code)


@app.command()
def resume(run_id: RunId, runner: Runner = None, traceback: Traceback = False) -> None:
    """Run a failed or crashed run again, with its parameters and run key."""
    from legato.cli.running import resume_run

    code = resume_run(run_id, runner=runner, show_traceback=traceback)
    if code:
        raise typer.Exit(code)


# -- inspecting runs ---------------------------------------------------------------


@runs_app.command("ls")
def runs_ls(
    status: Annotated[
        Optional[str],
        typer.Option(
            "--status", "-s", metavar="STATE", show_default=False,
            help="Only runs in this state: completed, failed, crashed, running, cancelled, pending.",
        ),
    ] = None,
    flow: Annotated[
        Optional[str],
        typer.Option(
            "--flow", "-f", metavar="NAME", show_default=False,
            help="Only runs of this flow (its name or its function's name; _ and - alike).",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", help="How many runs to show, newest first.")
    ] = 20,
) -> None:
    """List recorded flow runs, newest first."""
    from legato.history import list_runs

    if limit < 1:
        raise UsageError(f"--limit must be 1 or more, got {limit}")
    try:
        runs = list_runs(status=status, flow=flow, limit=limit)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    console = _console()
    if not runs:
        console.print("No runs recorded." if status is None and flow is None else "No runs match.", style="dim")
        return
    console.print(display.runs_table(runs))


@runs_app.command("show")
def runs_show(
    run_id: RunId,
    state: Annotated[
        Optional[str],
        typer.Option(
            "--state", "-s", metavar="STATE", show_default=False,
            help="Only task runs in this state: a type (failed, completed...) or a name (cached, timedout...).",
        ),
    ] = None,
    task: Annotated[
        Optional[str],
        typer.Option("--task", "-t", metavar="NAME", show_default=False,
                     help="Only runs of this task (or the one task run of this name, e.g. extract-3)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", help="Show at most N task runs; 0 shows all.")
    ] = DEFAULT_TASK_LIMIT,
    show_all: ShowAll = False,
    traceback: Annotated[bool, typer.Option("--traceback", help="Print full error texts, tracebacks included.")] = False,
) -> None:
    """Show one flow run, a summary of its task runs by task name, then its task runs."""
    from legato.cli.show import show_run

    show_run(run_id, state=state, task=task, limit=_limit(limit, show_all), full_errors=traceback, console=_console())


@runs_app.command("logs")
def runs_logs(
    run_id: RunId,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", help="Print at most N lines; 0 prints all.")
    ] = DEFAULT_LOG_LIMIT,
    show_all: ShowAll = False,
    level: Annotated[
        Optional[str],
        typer.Option("--level", "-l", metavar="LEVEL", show_default=False,
                     help="Only lines at this level or above: debug, info, warning, error, critical."),
    ] = None,
) -> None:
    """Print the log lines recorded for a flow run, oldest first."""
    from legato.cli.show import show_logs

    show_logs(run_id, limit=_limit(limit, show_all), level=level, console=_console())


def _limit(limit: int, show_all: bool) -> int | None:
    if limit < 0:
        raise UsageError(f"--limit must be 0 (all) or more, got {limit}")
    return None if show_all or limit == 0 else limit


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("legato")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        from legato import __version__

        return __version__


@app.command()
def graph(
    run_id: RunId,
    fmt: Annotated[
        GraphFormat, typer.Option("--format", "-f", metavar="mermaid|dot", help="Output format.")
    ] = GraphFormat.mermaid,
) -> None:
    """Print the task graph of a run as Mermaid or Graphviz DOT text."""
    from legato.history import render_graph

    sys.stdout.write(render_graph(run_id, fmt.value))


from legato.cli.artifacts import artifacts_app  # noqa: E402
from legato.cli.stats import stats_command  # noqa: E402

app.add_typer(artifacts_app, name="artifacts")

app.command("stats")(stats_command)
from legato.cli.ui import ui as _ui  # noqa: E402  (the web view: legato[ui])

app.command("ui")(_ui)
_schedules.register(app)


# -- the one place errors become exit codes ------------------------------------------


def run_app(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return its exit code instead of raising ``SystemExit``."""
    command = _plain_help(typer.main.get_command(app))
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


def _plain_help(command: Any) -> Any:
    """Leave typer's type labels (``<str>``, ``{RUN_ID}``) out of the help of arguments.

    Options say what their value is with a metavar (``--limit N``) and flags
    show nothing; arguments are named by their metavar alone, as a person
    writing a usage line would. Done on the built command, guarded, since
    these are typer's own hooks and move between releases.
    """
    for param in getattr(command, "params", ()):
        if isinstance(param, typer.core.TyperArgument):
            if hasattr(param, "display_type_rich"):
                param.display_type_rich = lambda ctx: None
            if hasattr(param, "_usage_display_name"):
                param._usage_display_name = functools.partial(_usage_name, param)
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)
    return command


def _usage_name(param: Any) -> str:
    name = str(param.display_name_raw) + ("..." if param.nargs != 1 else "")
    return name if param.required else f"[{name}]"


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
