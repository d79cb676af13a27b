"""Schedules, serving, backfills and limits across runs, with one SQLite file and no server.

* :mod:`.kinds`: cron (with a timezone), intervals (with an anchor), rrules; DST rules.
* :mod:`.clock`: the injectable clock (``now``, ``wait_until``) and a fake one for tests.
* :mod:`.store`: deployments, windows and limits in ``$LEGATO_HOME/schedules.db``.
* :mod:`.policies`: catch-up and overlap decisions, claiming windows.
* :mod:`.server`: the serving loop behind ``flow.serve`` and ``legato.serve``.
* :mod:`.backfills`: running every window of a span once.
* :mod:`.limits`: slots, rates and tag limits (``concurrency`` is :mod:`legato.concurrency.sync`).

Importing this package imports neither ``cronsim`` nor ``dateutil``; they are
needed when a cron or rrule schedule is built (``pip install 'legato[schedules]'``).
"""

from __future__ import annotations

from typing import Any

from legato.scheduling.window import scheduled_window

_LAZY = {
    "Deployment": "legato.scheduling.deployments",
    "to_deployment": "legato.scheduling.deployments",
    "serve": "legato.scheduling.server",
    "Server": "legato.scheduling.server",
    "FakeClock": "legato.scheduling.clock",
    "SystemClock": "legato.scheduling.clock",
    "Clock": "legato.scheduling.clock",
    "backfill": "legato.scheduling.backfills",
    "concurrency": "legato.concurrency.sync",
    "rate_limit": "legato.scheduling.limits",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'legato.scheduling' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted([*_LAZY, "scheduled_window"])
