"""Schedule kinds: when a deployment's windows start.

Every kind answers one question, :meth:`Schedule.next_after`: the first
start strictly after a moment (``None`` once a finite rule is exhausted). A
window is ``[start, next start)``.

Daylight saving time. Cron expressions and rrules are wall-clock rules in the
schedule's timezone, so they are evaluated on naive local times and each
local time is then placed on the timeline:

* a local time that does not exist (the hour skipped when clocks go forward)
  runs at the next time that exists, the moment of the change; several
  skipped times collapse into that one run;
* a local time that occurs twice (the hour repeated when clocks go back) runs
  once, at its first occurrence.

Intervals are absolute: ``anchor + k * interval``, unaffected by DST (an
interval of 86400 s anchored at local midnight drifts to 23:00 or 01:00 local
after a change; use cron ``0 0 * * *`` for "every midnight").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from legato.scheduling.errors import ScheduleError

#: Default anchor of intervals and rrules without DTSTART: midnight, 2020-01-01, in the schedule's zone.
DEFAULT_ANCHOR = datetime(2020, 1, 1)
_MAX_LOOKAHEAD = 100_000  # candidates examined before deciding a rule never fires again



class Schedule(Protocol):
    kind: str
    expression: str
    timezone: str

    def next_after(self, moment: datetime) -> datetime | None:
        """The first start strictly after ``moment`` (aware, UTC), or None if there is none."""
        ...

    def describe(self) -> str:
        ...


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown timezone {name!r}") from exc


def place_wall_time(local: datetime, tz: ZoneInfo) -> datetime:
    """Put a naive wall-clock time of ``tz`` on the timeline (UTC), with the DST rules above."""
    first = local.replace(tzinfo=tz, fold=0)
    if first.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) == local:
        return first.astimezone(timezone.utc)  # exists (if twice, fold=0 is the first occurrence)
    # In a gap: fold=1 reads it with the offset before the change, fold=0 with the one after;
    # the change itself lies between the two instants. Find it to the second.
    low = local.replace(tzinfo=tz, fold=1).astimezone(timezone.utc)
    high = first.astimezone(timezone.utc)
    low, high = min(low, high), max(low, high)
    after = high.astimezone(tz).utcoffset()
    while (high - low) > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(tz).utcoffset() == after:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)


class _WallClockRule:
    """Shared by cron and rrule: iterate naive local candidates, keep the first one after ``moment``."""

    tz: ZoneInfo

    def _candidates_after(self, local: datetime) -> Any:  # an iterator of naive datetimes
        raise NotImplementedError

    def next_after(self, moment: datetime) -> datetime | None:
        moment = moment.astimezone(timezone.utc)
        # Start an hour early in wall time: a repeated hour makes local time run backwards.
        local = moment.astimezone(self.tz).replace(tzinfo=None) - timedelta(hours=1)
        for count, candidate in enumerate(self._candidates_after(local)):
            placed = place_wall_time(candidate, self.tz)
            if placed > moment:
                return placed
            if count > _MAX_LOOKAHEAD:
                break
        return None


@dataclass
class CronSchedule(_WallClockRule):
    """A five-field cron expression in a timezone (evaluated by ``cronsim``)."""

    expression: str
    timezone: str = "UTC"
    kind: str = "cron"

    def __post_init__(self) -> None:
        self.tz = zone(self.timezone)
        self.expression = " ".join(self.expression.split())
        if len(self.expression.split()) != 5:
            raise ScheduleError(f"a cron expression has 5 fields, got {self.expression!r}")
        self._candidates_after(DEFAULT_ANCHOR)  # validate now, not at the first window

    def _candidates_after(self, local: datetime) -> Any:
        CronSim, CronSimError = _cronsim()
        try:
            return CronSim(self.expression, local.replace(microsecond=0))
        except CronSimError as exc:
            raise ScheduleError(f"bad cron expression {self.expression!r}: {exc}") from exc

    def describe(self) -> str:
        return f"cron {self.expression}" + ("" if self.timezone == "UTC" else f" ({self.timezone})")


@dataclass
class RRuleSchedule(_WallClockRule):
    """An RFC 5545 recurrence rule (``python-dateutil``); DTSTART defaults to 2020-01-01 00:00 local."""

    expression: str
    timezone: str = "UTC"
    kind: str = "rrule"

    def __post_init__(self) -> None:
        rrulestr = _rrulestr()
        self.tz = zone(self.timezone)
        try:
            self._rule = rrulestr(self.expression.strip(), dtstart=DEFAULT_ANCHOR, ignoretz=True, forceset=True)
        except (ValueError, TypeError) as exc:
            raise ScheduleError(f"bad rrule {self.expression!r}: {exc}") from exc

    def _candidates_after(self, local: datetime) -> Any:
        current = local
        while True:
            current = self._rule.after(current, inc=False)
            if current is None:
                return
            yield current.replace(tzinfo=None)

    def describe(self) -> str:
        text = " ".join(self.expression.split())
        return f"rrule {text}" + ("" if self.timezone == "UTC" else f" ({self.timezone})")


@dataclass
class IntervalSchedule:
    """Every ``seconds``, at ``anchor + k * seconds`` (absolute time: no DST effects)."""

    seconds: float
    anchor: datetime | None = None
    timezone: str = "UTC"
    kind: str = "interval"

    def __post_init__(self) -> None:
        if isinstance(self.seconds, timedelta):
            self.seconds = self.seconds.total_seconds()
        self.seconds = float(self.seconds)
        if not math.isfinite(self.seconds) or self.seconds <= 0:
            raise ScheduleError(f"an interval must be a positive number of seconds, got {self.seconds}")
        tz = zone(self.timezone)
        anchor = self.anchor or DEFAULT_ANCHOR
        if anchor.tzinfo is None:
            anchor = place_wall_time(anchor, tz)
        self.anchor = anchor.astimezone(timezone.utc)

    @property
    def expression(self) -> str:
        return f"{self.seconds:g}"

    def next_after(self, moment: datetime) -> datetime | None:
        assert self.anchor is not None
        elapsed = (moment - self.anchor).total_seconds()
        steps = math.floor(elapsed / self.seconds) + 1
        candidate = self.anchor + timedelta(seconds=steps * self.seconds)
        if candidate <= moment:  # float rounding at an exact boundary
            candidate += timedelta(seconds=self.seconds)
        return candidate

    def describe(self) -> str:
        return f"every {_seconds_text(self.seconds)}"


def build_schedule(
    *,
    cron: str | None = None,
    interval: float | timedelta | None = None,
    rrule: str | None = None,
    timezone: str | None = None,
    anchor_date: datetime | None = None,
) -> Schedule:
    """The one schedule named by exactly one of ``cron``, ``interval`` and ``rrule``."""
    given = [name for name, value in (("cron", cron), ("interval", interval), ("rrule", rrule)) if value is not None]
    if len(given) != 1:
        raise ScheduleError(
            "give exactly one of cron, interval and rrule" + (f" (got {', '.join(given)})" if given else "")
        )
    tz = timezone or "UTC"
    if cron is not None:
        return CronSchedule(cron, tz)
    if rrule is not None:
        return RRuleSchedule(rrule, tz)
    return IntervalSchedule(interval, anchor_date, tz)  # type: ignore[arg-type]


def schedule_from_row(kind: str, expression: str, tz: str, anchor: float | None) -> Schedule:
    """Rebuild a schedule stored by :mod:`legato.scheduling.store`."""
    if kind == "cron":
        return CronSchedule(expression, tz)
    if kind == "rrule":
        return RRuleSchedule(expression, tz)
    if kind == "interval":
        moment = datetime.fromtimestamp(anchor, timezone.utc) if anchor is not None else None
        return IntervalSchedule(float(expression), moment, tz)
    raise ScheduleError(f"unknown schedule kind {kind!r}")


def _cronsim() -> Any:
    try:
        from cronsim import CronSim, CronSimError
    except ImportError as exc:
        raise ImportError("cron schedules need cronsim: pip install 'legato[schedules]'") from exc
    return CronSim, CronSimError


def _rrulestr() -> Any:
    try:
        from dateutil.rrule import rrulestr
    except ImportError as exc:
        raise ImportError("rrule schedules need python-dateutil: pip install 'legato[schedules]'") from exc
    return rrulestr


def _seconds_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


__all__ = [
    "CronSchedule", "IntervalSchedule", "RRuleSchedule", "Schedule", "ScheduleError",
    "build_schedule", "place_wall_time", "schedule_from_row",
]
