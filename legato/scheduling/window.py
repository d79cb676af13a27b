"""A window of a schedule, how the flow sees it, and the run key it runs under.

A window is ``[start, end)``: ``start`` is its scheduled time, ``end`` the
next scheduled time. The flow sees it three ways:

* :data:`scheduled_window`, a context variable holding ``(start, end)`` set
  around the flow call (``legato.runtime`` reads the scheduled start time
  from it);
* parameter templates: a string parameter such as ``"{start:%Y-%m-%d}"`` is
  formatted with ``start`` and ``end`` (aware datetimes in the schedule's
  timezone); a string naming any other field is left as it is, so JSON text
  passes through untouched;
* the run key :func:`window_run_key`, ``deployment@start`` in UTC, which is
  what makes a rerun of a window resume it instead of starting over.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

# ``scheduled_window``, ``(start, end)`` of the window the current flow call runs for (None outside
# scheduled runs), lives in the core, which gives its start to the flow run
# (``legato.runtime.flow_run.scheduled_start_time``).
from legato.core.context import scheduled_window


_FIELDS = frozenset({"start", "end"})


@dataclass(frozen=True)
class Window:
    deployment: str
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC

    @property
    def run_key(self) -> str:
        return window_run_key(self.deployment, self.start)

    def local(self, tz: str) -> tuple[datetime, datetime]:
        zone = ZoneInfo(tz or "UTC")
        return self.start.astimezone(zone), self.end.astimezone(zone)


def window_run_key(deployment: str, start: datetime) -> str:
    """``nightly@2026-12-01T00:00:00Z``: the same for every process and every restart."""
    moment = start.astimezone(timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return f"{deployment}@{text}Z"


def render_parameters(parameters: Mapping[str, Any], start: datetime, end: datetime) -> dict[str, Any]:
    """Format the window into string parameters that template only ``start``/``end``."""
    return {name: _render(value, start, end) for name, value in parameters.items()}


def _render(value: Any, start: datetime, end: datetime) -> Any:
    if not isinstance(value, str) or "{" not in value:
        return value
    try:
        fields = {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(value) if field}
    except ValueError:  # unbalanced braces: not a template
        return value
    if not fields or not fields <= _FIELDS:
        return value
    return value.format(start=start, end=end)


__all__ = ["Window", "render_parameters", "scheduled_window", "window_run_key"]
