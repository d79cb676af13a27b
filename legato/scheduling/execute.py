"""Run one window of a deployment: its parameters, its run key, its context."""

from __future__ import annotations

from typing import Any

from legato.scheduling.store import WindowRow
from legato.scheduling.window import render_parameters, scheduled_window


def execute_window(flow: Any, parameters: dict[str, Any], tz: str, window: WindowRow) -> tuple[str, str | None]:
    """Call the flow for ``window``; return ``("COMPLETED", None)`` or ``("FAILED", why)``.

    The flow runs under the window's run key, so a window run again (its
    earlier holder died, or a backfill resumes it) re-runs only what did not
    complete. Nothing is raised: a window's failure is the window's.
    """
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz or "UTC")
    start, end = window.start_dt.astimezone(zone), window.end_dt.astimezone(zone)
    token = scheduled_window.set((start, end))
    try:
        values = render_parameters(parameters, start, end)
        state = flow.with_options(run_key=window.run_key)(**values, return_state=True)
    except Exception as exc:
        return "FAILED", _one_line(exc)
    finally:
        scheduled_window.reset(token)
    if state.is_completed():
        return "COMPLETED", None
    return "FAILED", f"{state.name}: {state.message}" if state.message else state.name


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


__all__ = ["execute_window"]
