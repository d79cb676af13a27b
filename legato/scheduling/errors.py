"""Errors of schedules, deployments and limits (all :class:`~legato.core.errors.LegatoError`)."""

from __future__ import annotations

from legato.core.errors import LegatoError


class SchedulingError(LegatoError):
    """Something about schedules, windows or limits went wrong."""


class ScheduleError(SchedulingError, ValueError):
    """A schedule that cannot be built: a bad expression, timezone, interval or policy."""


class DeploymentNotFound(SchedulingError, LookupError):
    """No deployment has this name in ``$LEGATO_HOME/schedules.db``."""


class LimitNotFound(SchedulingError, LookupError):
    """No limit has this name."""


class ConcurrencySlotTimeout(SchedulingError, TimeoutError):
    """A slot of a concurrency or rate limit was not free within ``timeout_seconds``."""


__all__ = ["ConcurrencySlotTimeout", "DeploymentNotFound", "LimitNotFound", "ScheduleError", "SchedulingError"]
