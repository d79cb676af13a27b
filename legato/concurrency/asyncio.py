"""``from legato.concurrency.asyncio import concurrency, rate_limit`` (Prefect's ``prefect.concurrency.asyncio``).

The slots live in SQLite, whose calls block: each wait runs on a worker
thread (``asyncio.to_thread``), so the event loop goes on while a block
waits for its slots.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from legato.concurrency._options import lease_options


@asynccontextmanager
async def concurrency(
    names: str | list[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    lease_duration: float = 300,
    strict: bool = False,
    holder: Any = None,
    raise_on_lease_renewal_failure: bool | None = None,
) -> AsyncIterator[None]:
    """``async with concurrency("db"):`` holds the slots for the block; see :func:`legato.concurrency.sync.concurrency`."""
    from legato.scheduling import limits

    options = lease_options(max_retries, lease_duration, holder, raise_on_lease_renewal_failure)
    ids = await asyncio.to_thread(limits.acquire, limits.limit_names(names), occupy, timeout_seconds, strict,
                                  **options)
    try:
        yield
    finally:
        await asyncio.to_thread(limits.release, ids)


async def rate_limit(names: str | list[str], occupy: int = 1, timeout_seconds: float | None = None,
                     strict: bool = False) -> None:
    """``await rate_limit("api")``: wait for the next free moment of each named rate."""
    from legato.scheduling import limits

    await asyncio.to_thread(limits.rate_limit, names, occupy=occupy, timeout_seconds=timeout_seconds,
                            strict=strict)


__all__ = ["concurrency", "rate_limit"]
