"""A deployment: a flow, a schedule, parameters and policies, under a name.

``flow.to_deployment(...)`` builds one and ``legato.serve(*deployments)``
runs them; ``flow.serve(...)`` is both in one call.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from legato.scheduling.errors import ScheduleError
from legato.scheduling.kinds import IntervalSchedule, Schedule, build_schedule
from legato.scheduling.policies import DEFAULT_MAX_CATCHUP, check_policies
from legato.scheduling.store import DeploymentRow
from legato.scheduling.window import render_parameters


@dataclass
class Deployment:
    flow: Any
    name: str
    schedule: Schedule
    parameters: dict[str, Any] = field(default_factory=dict)
    catchup: str = "latest"
    overlap: str = "skip"
    paused: bool = False
    max_catchup: int = DEFAULT_MAX_CATCHUP
    entrypoint: str | None = None

    def __post_init__(self) -> None:
        check_policies(self.catchup, self.overlap, self.max_catchup)
        _check_parameters(self.flow, self.parameters, self.schedule.timezone)

    def row(self) -> DeploymentRow:
        anchor = self.schedule.anchor.timestamp() if isinstance(self.schedule, IntervalSchedule) and self.schedule.anchor else None
        return DeploymentRow(
            name=self.name, flow_name=str(getattr(self.flow, "name", self.name)), entrypoint=self.entrypoint,
            kind=self.schedule.kind, expression=self.schedule.expression, timezone=self.schedule.timezone,
            anchor=anchor, parameters=dict(self.parameters), catchup=self.catchup,
            max_catchup=self.max_catchup, overlap=self.overlap,
        )  # fmt: skip

    def serve(self, **options: Any) -> None:
        from legato.scheduling.server import serve

        serve(self, **options)


def to_deployment(
    flow: Any,
    name: str | None = None,
    *,
    cron: str | None = None,
    interval: float | timedelta | None = None,
    rrule: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    timezone: str | None = None,
    catchup: str = "latest",
    overlap: str = "skip",
    paused: bool = False,
    anchor_date: datetime | None = None,
    max_catchup: int = DEFAULT_MAX_CATCHUP,
    entrypoint: str | None = None,
) -> Deployment:
    """A deployment of ``flow`` (named ``name``, default the flow's name) on one schedule."""
    schedule = build_schedule(cron=cron, interval=interval, rrule=rrule, timezone=timezone, anchor_date=anchor_date)
    return Deployment(
        flow=flow, name=name or str(getattr(flow, "name", "flow")), schedule=schedule,
        parameters=dict(parameters or {}), catchup=catchup, overlap=overlap, paused=paused,
        max_catchup=max_catchup, entrypoint=entrypoint,
    )  # fmt: skip


def _check_parameters(flow: Any, parameters: Mapping[str, Any], tz: str) -> None:
    """Unknown or missing parameters fail when the deployment is made, not at midnight."""
    probe = datetime(2020, 1, 1, tzinfo=timezone.utc)
    try:
        rendered = render_parameters(parameters, probe, probe)
    except (KeyError, ValueError, IndexError, AttributeError) as exc:
        raise ScheduleError(f"bad parameter template: {exc}") from exc
    try:
        signature = inspect.signature(flow.fn)
    except (AttributeError, TypeError, ValueError):
        return
    try:
        signature.bind(**rendered)
    except TypeError as exc:
        raise ScheduleError(f"bad parameters for flow {getattr(flow, 'name', flow)!r}: {exc}") from exc


__all__ = ["Deployment", "to_deployment"]
