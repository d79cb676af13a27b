"""Prefect's import paths for limits: ``prefect.concurrency.sync`` and ``.asyncio`` on legato's SQLite limits."""

from __future__ import annotations

import asyncio

import pytest

import legato
from legato.concurrency import asyncio as async_limits
from legato.concurrency.sync import concurrency, rate_limit
from legato.scheduling import limits
from legato.scheduling.errors import ConcurrencySlotTimeout


def test_the_sync_path_holds_a_slot_that_others_wait_for(home):
    """Prefect: ``with concurrency("db", occupy=1):`` holds the slot; a timed-out wait raises TimeoutError."""
    limits.set_limit("db", 1)
    with concurrency("db", occupy=1, lease_duration=30):
        assert limits.list_limits()[0].occupied == 1
        with pytest.raises(TimeoutError):
            with concurrency("db", timeout_seconds=0.05):
                pass
    assert limits.list_limits()[0].occupied == 0


def test_max_retries_bounds_the_attempts_to_take_the_slots(home):
    """Prefect: ``max_retries`` is how often acquiring is retried before it gives up."""
    limits.set_limit("db", 1)
    with concurrency("db"):
        with pytest.raises(ConcurrencySlotTimeout, match="after 1 tries"):
            with concurrency("db", max_retries=0):
                pass
        with pytest.raises(ConcurrencySlotTimeout, match="after 3 tries"):
            with concurrency("db", max_retries=2, timeout_seconds=30):
                pass


def test_options_legato_cannot_honour_are_refused_with_the_reason(home):
    with pytest.raises(ValueError, match="held by the process"):
        with concurrency("db", holder=object()):
            pass
    with pytest.raises(ValueError, match="lease_duration must be > 0"):
        with concurrency("db", lease_duration=0):
            pass


def test_the_async_path_holds_the_slot_without_blocking_the_loop(home):
    """Prefect: ``async with concurrency(...)`` from ``prefect.concurrency.asyncio``; other coroutines go on."""
    limits.set_limit("db", 1)
    ticks: list[int] = []

    async def ticker() -> None:
        for i in range(3):
            ticks.append(i)
            await asyncio.sleep(0.01)

    async def main() -> None:
        async with async_limits.concurrency("db"):
            assert limits.list_limits()[0].occupied == 1
            waiter = asyncio.ensure_future(asyncio.wait_for(_hold_async(), timeout=30))
            await asyncio.gather(ticker(), asyncio.sleep(0.05))
            assert not waiter.done()  # still waiting for the slot we hold
        await asyncio.wait_for(waiter, timeout=30)

    asyncio.run(main())
    assert ticks == [0, 1, 2]
    assert limits.list_limits()[0].occupied == 0


async def _hold_async() -> None:
    async with async_limits.concurrency("db", timeout_seconds=20):
        pass


def test_async_rate_limit_and_the_callable_package(home):
    """``await rate_limit(...)`` waits for the rate; ``legato.concurrency(...)`` still holds slots as before."""
    limits.set_limit("api", per_second=1)
    asyncio.run(async_limits.rate_limit("api"))
    with pytest.raises(TimeoutError):
        asyncio.run(async_limits.rate_limit("api", timeout_seconds=0.1))
    limits.set_limit("solo", 1)
    with legato.concurrency("solo"):
        with pytest.raises(TimeoutError):
            rate_limit("api", timeout_seconds=0.1)
        with pytest.raises(TimeoutError):
            with legato.concurrency("solo", timeout_seconds=0.05):
                pass
