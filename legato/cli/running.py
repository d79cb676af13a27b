"""``legato run`` and ``legato resume``: call a flow from a file, report how it ended.

The flow runs in this process. Before calling it, ``legato run`` leaves the
entrypoint and the raw ``--param`` strings in the environment
(``LEGATO_ENTRYPOINT``, ``LEGATO_CLI_PARAMETERS``); the history recorder
claims them for the flow run it records, which is what lets ``legato resume``
call the same flow again later with the same parameters.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from legato.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from legato.cli.quiet import quiet_run_logs
from legato.cli.loading import Entrypoint, check_arguments, decode_params, load_flow
from legato.config import CLI_PARAMETERS_ENV, ENTRYPOINT_ENV
from legato.core.errors import LegatoError, ParameterTypeError

#: Runner names ``resume`` reuses from the recorded run when none is given.
RUNNER_NAMES = frozenset({"sync", "threads", "processes", "dask", "ray"})
#: Only these runs can be resumed.
RESUMABLE_STATES = frozenset({"FAILED", "CRASHED", "CANCELLED"})


def run_flow(
    entrypoint_text: str,
    raw_params: Mapping[str, Any],
    *,
    runner: str | None = None,
    run_key: str | None = None,
    show_traceback: bool = False,
) -> int:
    """Load and call a flow; print its result or one line about its failure."""
    entrypoint = Entrypoint.parse(entrypoint_text)
    try:
        flow = load_flow(entrypoint)
    except UsageError as exc:
        if show_traceback and exc.__cause__ is not None:  # the file raised while importing
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        raise
    quiet_run_logs()
    params = decode_params(raw_params, flow)
    check_arguments(flow, params)
    flow = with_cli_options(flow, runner=runner, run_key=run_key)

    os.environ[ENTRYPOINT_ENV] = str(entrypoint)
    os.environ[CLI_PARAMETERS_ENV] = json.dumps(dict(raw_params), default=str)
    try:
        result = flow(**params)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ParameterTypeError as exc:
        raise UsageError(f"bad parameter: {_one_line(exc)}") from exc
    except Exception as exc:
        report_failure(exc, show_traceback)
        return EXIT_FAILED
    finally:
        os.environ.pop(ENTRYPOINT_ENV, None)
        os.environ.pop(CLI_PARAMETERS_ENV, None)
    if result is not None:
        print(repr(result))
    return EXIT_OK


def resume_run(run_id: str, *, runner: str | None = None, show_traceback: bool = False) -> int:
    """Call a failed or crashed run's flow again, with its parameters and run key."""
    from legato.history import get_run

    run = get_run(run_id)
    state = run.state_name or run.state_type.capitalize()
    if run.state_type == "COMPLETED":
        raise UsageError(f"run {run.short_id} is {state}: there is nothing to resume")
    if run.state_type not in RESUMABLE_STATES:
        raise UsageError(f"run {run.short_id} is {state}: only failed or crashed runs can be resumed")
    if not run.entrypoint:
        raise UsageError(f"run {run.short_id} was not started with `legato run`: no entrypoint to resume")
    if runner is None and run.runner in RUNNER_NAMES:
        runner = run.runner
    run_key = run.run_key or run.id
    print(f"resuming run {run.short_id} ({run.entrypoint}, run key {run_key})", file=sys.stderr)
    return run_flow(
        run.entrypoint,
        run.cli_parameters or {},
        runner=runner,
        run_key=run_key,
        show_traceback=show_traceback,
    )


def with_cli_options(flow: Any, *, runner: str | None, run_key: str | None) -> Any:
    """Apply ``--runner`` and ``--run-key`` through ``flow.with_options``."""
    if runner:
        flow = _with_option(flow, "task_runner", runner, f"unknown or unusable runner {runner!r}")
    if run_key:
        flow = _with_option(flow, "run_key", run_key, "cannot use --run-key")
    return flow


def _with_option(flow: Any, option: str, value: str, what: str) -> Any:
    try:
        return flow.with_options(**{option: value})
    except TypeError as exc:
        if option in str(exc):
            raise UsageError(f"this version of legato's flows does not support {option}= yet") from exc
        raise UsageError(f"{what}: {_one_line(exc)}") from exc
    except (ValueError, LegatoError) as exc:
        raise UsageError(f"{what}: {_one_line(exc)}") from exc


def report_failure(exc: BaseException, show_traceback: bool) -> None:
    """One line on stderr (the full traceback too when asked)."""
    if show_traceback:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: flow run failed: {_one_line(exc)}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text + (" ..." if len(lines) > 1 else "")


__all__ = ["resume_run", "run_flow", "with_cli_options"]
