"""Backfills: run every window of a span once, each under its own run key.

A backfill claims each window in the same table the serving loop uses, so a
window a server (or an earlier backfill) completed is reported as already
done and not run, one that failed or crashed is resumed (only its unfinished
tasks run again), and one running elsewhere is left alone (``busy``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from legato.scheduling.errors import ScheduleError
from legato.scheduling.execute import execute_window
from legato.scheduling.holders import current_holder
from legato.scheduling.kinds import Schedule, place_wall_time, zone
from legato.scheduling.policies import claim_window
from legato.scheduling.store import Store
from legato.scheduling.window import render_parameters

LEASE_SECONDS = 60.0
#: More windows than this in one backfill is almost certainly a mistake (``--interval 1`` over a year).
MAX_WINDOWS = 100_000


@dataclass
class BackfillWindow:
    start: datetime  # in the schedule's timezone
    end: datetime
    parameters: dict[str, Any]
    run_key: str
    status: str = "planned"  # planned, done (already), completed, failed, busy
    error: str | None = None
    seconds: float | None = None


def parse_moment(text: str | datetime, tz: str) -> datetime:
    """An ISO date or datetime; one without an offset is wall-clock time in ``tz``."""
    if isinstance(text, datetime):
        moment = text
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError as exc:
            raise ScheduleError(f"not an ISO date or datetime: {text!r}") from exc
    if moment.tzinfo is None:
        return place_wall_time(moment, zone(tz))
    return moment.astimezone(timezone.utc)


def plan_windows(
    schedule: Schedule, deployment: str, start: datetime, end: datetime, parameters: Mapping[str, Any]
) -> list[BackfillWindow]:
    """The windows whose start lies in ``[start, end)``."""
    from legato.scheduling.window import window_run_key

    if end <= start:
        raise ScheduleError(f"the end ({end.isoformat()}) must be after the start ({start.isoformat()})")
    tz = zone(schedule.timezone)
    windows: list[BackfillWindow] = []
    moment = schedule.next_after(start - timedelta(microseconds=1))
    while moment is not None and moment < end:
        following = schedule.next_after(moment) or moment
        local_start, local_end = moment.astimezone(tz), following.astimezone(tz)
        windows.append(BackfillWindow(
            local_start, local_end, render_parameters(parameters, local_start, local_end),
            window_run_key(deployment, moment),
        ))  # fmt: skip
        if len(windows) > MAX_WINDOWS:
            raise ScheduleError(f"more than {MAX_WINDOWS} windows between the start and the end")
        moment = following if following > moment else None
    return windows


def run_backfill(
    flow: Any,
    deployment: str,
    windows: list[BackfillWindow],
    *,
    max_parallel: int = 1,
    store: Store | None = None,
    on_done: Callable[[BackfillWindow], None] | None = None,
) -> list[BackfillWindow]:
    """Run the windows, at most ``max_parallel`` at a time; each ends done, completed, failed or busy."""
    import time

    if max_parallel < 1:
        raise ScheduleError(f"max_parallel must be at least 1, got {max_parallel}")
    store = store or Store()
    holder = current_holder()

    def one(window: BackfillWindow) -> BackfillWindow:
        started = time.monotonic()
        status, row = store.write(
            lambda c: claim_window(
                c, deployment, window.start.timestamp(), window.end.timestamp(), window.parameters,
                time.time(), holder, LEASE_SECONDS,
            )
        )  # fmt: skip
        if status == "claimed" and row is not None:
            state, error = execute_window(flow, window.parameters, str(window.start.tzinfo), row)
            store.finish(row, holder, state, time.time(), error)
            status, window.error = state.lower(), error
        window.status = status
        window.seconds = time.monotonic() - started
        if on_done is not None:
            on_done(window)
        return window

    with ThreadPoolExecutor(max_parallel, thread_name_prefix="legato-backfill") as pool:
        return list(pool.map(one, windows))


def backfill(
    flow: Any,
    start: str | datetime,
    end: str | datetime,
    *,
    name: str | None = None,
    cron: str | None = None,
    interval: float | timedelta | None = None,
    rrule: str | None = None,
    timezone: str | None = None,
    anchor_date: datetime | None = None,
    parameters: Mapping[str, Any] | None = None,
    max_parallel: int = 1,
    dry_run: bool = False,
) -> list[BackfillWindow]:
    """Run ``flow`` once for every window of the schedule starting in ``[start, end)``."""
    from legato.scheduling.deployments import to_deployment

    deployment = to_deployment(
        flow, name, cron=cron, interval=interval, rrule=rrule, timezone=timezone, anchor_date=anchor_date,
        parameters=parameters,
    )  # fmt: skip
    tz = deployment.schedule.timezone
    windows = plan_windows(deployment.schedule, deployment.name, parse_moment(start, tz), parse_moment(end, tz),
                           deployment.parameters)  # fmt: skip
    if dry_run:
        return windows
    return run_backfill(flow, deployment.name, windows, max_parallel=max_parallel)


__all__ = ["BackfillWindow", "backfill", "parse_moment", "plan_windows", "run_backfill"]
