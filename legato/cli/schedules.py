"""``legato serve``, ``legato backfill``, ``legato schedules ...`` and ``legato limits ...``.

Registered on the main app by :func:`register`. Commands import
:mod:`legato.scheduling` only when they run; its errors become usage errors
(exit 2) here, so they print as one line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from legato.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, UsageError

schedules_app = typer.Typer(help="List, pause and resume served deployments.")
limits_app = typer.Typer(help="Concurrency and rate limits shared by every flow on this LEGATO_HOME.")

Entrypoint = Annotated[str, typer.Argument(help="The flow, as path/to/file.py:flow_name.")]
Cron = Annotated[Optional[str], typer.Option("--cron", help="A 5-field cron expression, e.g. '0 0 * * *'.", show_default=False)]
Interval = Annotated[Optional[float], typer.Option("--interval", help="Every SECONDS (anchored at 2020-01-01 00:00 in --timezone).", show_default=False)]
RRule = Annotated[Optional[str], typer.Option("--rrule", help="An RFC 5545 rule, e.g. 'FREQ=DAILY;BYHOUR=0'.", show_default=False)]
Params = Annotated[
    Optional[list[str]],
    typer.Option("--param", "-p", help="A flow parameter key=value (JSON if it parses); '{start:%Y-%m-%d}' and '{end}' are the window's.", show_default=False),
]
Timezone = Annotated[Optional[str], typer.Option("--timezone", help="IANA timezone of cron and rrule times, e.g. Europe/Paris (default UTC).", show_default=False)]
Name = Annotated[Optional[str], typer.Option("--name", help="Deployment name (default: the flow's name).", show_default=False)]


def _console(stderr: bool = False) -> Console:
    return Console(highlight=False, stderr=stderr)


@contextmanager
def _usage_errors() -> Iterator[None]:
    from legato.scheduling.errors import ConcurrencySlotTimeout, SchedulingError

    try:
        yield
    except ConcurrencySlotTimeout:
        raise
    except (SchedulingError, ImportError) as exc:
        raise UsageError(str(exc)) from exc


def _load(entrypoint: str, param: list[str] | None) -> tuple[Any, Any, dict[str, Any]]:
    from legato.cli.loading import Entrypoint as EP, decode_params, load_flow, parse_params

    ep = EP.parse(entrypoint)
    return ep, load_flow(ep), decode_params(parse_params(param or ()))


# -- serve --------------------------------------------------------------------------------


def serve(
    entrypoint: Entrypoint,
    cron: Cron = None,
    interval: Interval = None,
    rrule: RRule = None,
    param: Params = None,
    timezone_name: Timezone = None,
    catchup: Annotated[str, typer.Option("--catchup", help="After downtime: latest (run the most recent missed window), all (every missed one, oldest first, up to --max-catchup), skip.")] = "latest",
    overlap: Annotated[str, typer.Option("--overlap", help="A window due while the previous one runs: skip (recorded Skipped), queue, allow, cancel-new (recorded Cancelled).")] = "skip",
    name: Name = None,
    max_catchup: Annotated[int, typer.Option("--max-catchup", min=1, help="At most this many missed windows with --catchup all.")] = 100,
    paused: Annotated[bool, typer.Option("--paused", help="Register the deployment paused ('legato schedules resume NAME' starts it).")] = False,
    runner: Annotated[Optional[str], typer.Option("--runner", help="Task runner: threads, processes, dask, ray or sync.", show_default=False)] = None,
) -> None:
    """Run a flow on a schedule until SIGINT/SIGTERM.

    Each window runs once, across restarts and across several `legato serve`
    processes of the same deployment on this LEGATO_HOME, under the run key
    NAME@START (a killed server's window is resumed by the next one). On the
    first SIGINT/SIGTERM no new window starts and running windows finish; a
    second one exits at once (the next server resumes what was running).
    """
    from legato.scheduling.deployments import to_deployment
    from legato.scheduling.server import serve as serve_deployments

    from legato.cli.running import with_cli_options

    ep, flow, params = _load(entrypoint, param)
    flow = with_cli_options(flow, runner=runner, run_key=None)
    with _usage_errors():
        deployment = to_deployment(
            flow, name, cron=cron, interval=interval, rrule=rrule, parameters=params, timezone=timezone_name,
            catchup=catchup, overlap=overlap, paused=paused, max_catchup=max_catchup, entrypoint=str(ep),
        )  # fmt: skip
    err = _console(stderr=True)
    err.print(f"serving [bold]{deployment.name}[/bold]: {deployment.schedule.describe()} "
              f"(catch-up {catchup}, overlap {overlap}); Ctrl-C to stop")  # fmt: skip
    try:
        serve_deployments(deployment)
    except KeyboardInterrupt:
        # The second signal: leave now, without waiting for the flows' worker threads at exit.
        err.print("stopped at once: the windows that were running will be resumed by the next server")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    err.print("stopped")


# -- backfill -----------------------------------------------------------------------------


def backfill(
    entrypoint: Entrypoint,
    start: Annotated[str, typer.Option("--start", help="First moment, ISO (2026-12-01 or 2026-12-01T06:00); windows starting at or after it run.", show_default=False)],
    end: Annotated[str, typer.Option("--end", help="End, ISO, excluded: windows starting before it run.", show_default=False)],
    cron: Cron = None,
    interval: Interval = None,
    rrule: RRule = None,
    param: Params = None,
    timezone_name: Timezone = None,
    name: Name = None,
    max_parallel: Annotated[int, typer.Option("--max-parallel", min=1, help="At most N windows at a time.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the windows and their parameters; run nothing.")] = False,
) -> None:
    """Run a flow once for every window of a schedule in [--start, --end).

    Each window runs under its own run key (NAME@START, the one `legato
    serve` uses), with --param templates formatted over it. A second
    identical backfill runs nothing that completed (reported as done) and
    resumes what failed. Exit 1 if any window failed.
    """
    from legato.scheduling.backfills import parse_moment, plan_windows
    from legato.scheduling.deployments import to_deployment

    ep, flow, params = _load(entrypoint, param)
    with _usage_errors():
        deployment = to_deployment(
            flow, name, cron=cron, interval=interval, rrule=rrule, parameters=params, timezone=timezone_name,
            entrypoint=str(ep),
        )  # fmt: skip
        tz = deployment.schedule.timezone
        windows = plan_windows(
            deployment.schedule, deployment.name, parse_moment(start, tz), parse_moment(end, tz), deployment.parameters
        )
    console = _console()
    if not windows:
        console.print("No windows between the start and the end.", style="dim")
        return
    if dry_run:
        console.print(_windows_table(windows, ran=False))
        console.print(f"{len(windows)} window(s); nothing was run (--dry-run)", style="dim")
        return
    done = run_with_progress(flow, deployment.name, windows, max_parallel)
    console.print(_windows_table(done, ran=True))
    counts: dict[str, int] = {}
    for w in done:
        counts[w.status] = counts.get(w.status, 0) + 1
    console.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if counts.get("failed"):
        raise typer.Exit(EXIT_FAILED)


def run_with_progress(flow: Any, deployment: str, windows: list[Any], max_parallel: int) -> list[Any]:
    from legato.scheduling.backfills import run_backfill

    if not sys.stderr.isatty():
        return run_backfill(flow, deployment, windows, max_parallel=max_parallel)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("backfill {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_console(stderr=True), transient=True) as progress:  # fmt: skip
        bar = progress.add_task(deployment, total=len(windows))
        return run_backfill(
            flow, deployment, windows, max_parallel=max_parallel, on_done=lambda w: progress.advance(bar)
        )


def _windows_table(windows: list[Any], *, ran: bool) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("window start", "end", "run key", "parameters") + (("status", "seconds", "error") if ran else ()):
        table.add_column(column, no_wrap=column in ("window start", "end", "status"))
    styles = {"completed": "green", "done": "dim green", "failed": "red", "busy": "yellow"}
    for w in windows:
        row = [_local(w.start), _local(w.end), w.run_key, _params_text(w.parameters)]
        if ran:
            status = "already done" if w.status == "done" else w.status
            row += [f"[{styles.get(w.status, '')}]{status}[/]", "" if w.seconds is None else f"{w.seconds:.2f}",
                    w.error or ""]  # fmt: skip
        table.add_row(*row)
    return table


def _local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M" + (":%S" if moment.second or moment.microsecond else "") + " %Z")


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


# -- schedules ls | show | pause | resume -------------------------------------------------


@schedules_app.command("ls")
def schedules_ls() -> None:
    """List deployments: schedule, next run, last run and its state, paused, decisions so far."""
    from legato.scheduling.store import Store

    store = Store()
    deployments = store.deployments()
    console = _console()
    if not deployments:
        console.print("No deployments (start one with 'legato serve FILE.py:FLOW --cron ...').", style="dim")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "flow", "schedule", "next run", "last run", "last state", "paused", "windows"):
        table.add_column(column, no_wrap=column not in ("windows", "schedule"))
    for d in deployments:
        last = next(iter(store.windows(d.name, limit=1, states=("COMPLETED", "FAILED", "RUNNING", "PENDING", "SKIPPED", "CANCELLED"))), None)
        schedule = d.schedule()
        upcoming = None if d.paused or d.cursor is None else schedule.next_after(datetime.fromtimestamp(d.cursor, timezone.utc))
        counts = store.counts(d.name)
        if d.unrecorded_skips:
            counts["Skipped (late, not listed)"] = d.unrecorded_skips
        table.add_row(
            d.name, d.flow_name, schedule.describe(), _moment(upcoming, d.timezone),
            _moment(last.start_dt, d.timezone) if last else "-", last.label if last else "-",
            "yes" if d.paused else "no", ", ".join(f"{n} {label.lower()}" for label, n in sorted(counts.items())) or "-",
        )  # fmt: skip
    console.print(table)


@schedules_app.command("show")
def schedules_show(
    name: Annotated[str, typer.Argument(help="The deployment name.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many windows, newest first.")] = 20,
) -> None:
    """List a deployment's recent windows and what was decided for each."""
    from legato.scheduling.store import Store

    from legato.scheduling.errors import DeploymentNotFound

    store = Store()
    rows = store.windows(name, limit=limit)
    try:
        tz = store.deployment(name).timezone
    except DeploymentNotFound as exc:
        if not rows:  # a name only backfills used has windows but no deployment
            raise UsageError(str(exc)) from exc
        tz = "UTC"
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("window start", "state", "origin", "attempts", "run key", "error"):
        table.add_column(column, no_wrap=column != "error")
    for w in rows:
        table.add_row(_moment(w.start_dt, tz), w.label, w.origin, str(w.attempts), w.run_key, w.error or "")
    _console().print(table)


@schedules_app.command("pause")
def schedules_pause(name: Annotated[str, typer.Argument(help="The deployment name.")]) -> None:
    """Pause a deployment: its servers start no new window until it is resumed."""
    _set_paused(name, True)


@schedules_app.command("resume")
def schedules_resume(name: Annotated[str, typer.Argument(help="The deployment name.")]) -> None:
    """Resume a paused deployment; windows that passed while paused are not caught up."""
    _set_paused(name, False)


@schedules_app.command("rm")
def schedules_rm(name: Annotated[str, typer.Argument(help="The deployment name.")]) -> None:
    """Forget a deployment and its windows (a server still serving it registers it again)."""
    from legato.scheduling.store import Store

    with _usage_errors():
        Store().delete_deployment(name)
    _console().print(f"{name}: removed")


def _set_paused(name: str, paused: bool) -> None:
    import time

    from legato.scheduling.store import Store

    with _usage_errors():
        Store().set_paused(name, paused, time.time())
    _console().print(f"{name}: {'paused' if paused else 'resumed'}")


def _moment(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "-"
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(tz or "UTC")).strftime("%Y-%m-%d %H:%M:%S %Z")


# -- limits set | ls | rm -----------------------------------------------------------------


@limits_app.command("set")
def limits_set(
    name: Annotated[str, typer.Argument(help="The limit: any name for concurrency()/rate_limit(), or tag:NAME for task runs tagged NAME.")],
    slots: Annotated[Optional[int], typer.Argument(help="How many slots may be held at once.", show_default=False)] = None,
    per_second: Annotated[Optional[float], typer.Option("--per-second", help="Rate limit: at most R acquisitions per second.", show_default=False)] = None,
) -> None:
    """Create or change a limit shared by every flow on this LEGATO_HOME."""
    from legato.scheduling.limits import set_limit

    try:
        set_limit(name, slots, per_second)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _console().print(f"{name}: " + ", ".join(filter(None, [
        f"{slots} slot(s)" if slots is not None else "", f"{per_second:g}/s" if per_second else ""])))  # fmt: skip


@limits_app.command("ls")
def limits_ls() -> None:
    """List limits and how much of each is held now."""
    from legato.scheduling.limits import list_limits

    limits = list_limits()
    console = _console()
    if not limits:
        console.print("No limits (set one with 'legato limits set tag:db 2').", style="dim")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "slots", "per second", "held", "holders"):
        table.add_column(column)
    for limit in limits:
        table.add_row(limit.name, "-" if limit.slots is None else str(limit.slots),
                      "-" if limit.per_second is None else f"{limit.per_second:g}", str(limit.occupied),
                      str(limit.holders))  # fmt: skip
    console.print(table)


@limits_app.command("rm")
def limits_rm(name: Annotated[str, typer.Argument(help="The limit to remove.")]) -> None:
    """Remove a limit (and release whatever holds it)."""
    from legato.scheduling.limits import remove_limit

    with _usage_errors():
        remove_limit(name)
    _console().print(f"{name}: removed")


def register(app: typer.Typer) -> None:
    """Add the commands to the ``legato`` app."""
    app.command("serve")(serve)
    app.command("backfill")(backfill)
    app.add_typer(schedules_app, name="schedules")
    app.add_typer(limits_app, name="limits")


__all__ = ["register"]
