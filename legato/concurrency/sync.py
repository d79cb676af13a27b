"""``from legato.concurrency.sync import concurrency, rate_limit`` (Prefect's ``prefect.concurrency.sync``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from legato.concurrency._options import lease_options


@contextmanager
def concurrency(
    names: str | list[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    lease_duration: float = 300,
    strict: bool = False,
    holder: Any = None,
    raise_on_lease_renewal_failure: bool | None = None,
) -> Iterator[None]:
    """Hold ``occupy`` slots of each named limit for the block, waiting for them.

    ``timeout_seconds`` or ``max_retries`` exhausted raise
    :class:`~legato.scheduling.errors.ConcurrencySlotTimeout` (a ``TimeoutError``,
    as in Prefect); a name with no limit set limits nothing unless ``strict``.
    """
    from legato.scheduling import limits

    ids = limits.acquire(limits.limit_names(names), occupy, timeout_seconds, strict,
                         **lease_options(max_retries, lease_duration, holder, raise_on_lease_renewal_failure))
    try:
        yield
    finally:
        limits.release(ids)


def rate_limit(names: str | list[str], occupy: int = 1, timeout_seconds: float | None = None,
               strict: bool = False) -> None:
    """Wait until each named ``per_second`` limit lets ``occupy`` more through."""
    from legato.scheduling import limits

    limits.rate_limit(names, occupy=occupy, timeout_seconds=timeout_seconds, strict=strict)


__all__ = ["concurrency", "rate_limit"]
