"""Limits across runs, at Prefect 3's import paths: ``legato.concurrency.sync`` and ``.asyncio``.

``from prefect.concurrency.sync import concurrency, rate_limit`` becomes
``from legato.concurrency.sync import ...``; the limits are rows of
``$LEGATO_HOME/schedules.db`` (:mod:`legato.scheduling.limits`), shared by
every process on the machine, where Prefect keeps them on its server.

legato's own spelling, ``legato.concurrency("warehouse")``, predates these
paths and stays: this package is callable, and calling it is the sync
:func:`legato.concurrency.sync.concurrency`.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    """``legato.concurrency(...)`` keeps working now that ``legato.concurrency`` is a package."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from legato.concurrency.sync import concurrency

        return concurrency(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
