"""Prefect's options of ``concurrency()``, mapped onto :mod:`legato.scheduling.limits`."""

from __future__ import annotations

from typing import Any


def lease_options(max_retries: int | None, lease_duration: float, holder: Any,
                  raise_on_lease_renewal_failure: bool | None) -> dict[str, Any]:
    """The keyword arguments of :func:`legato.scheduling.limits.acquire` for Prefect's options.

    ``lease_duration`` is the lease legato renews while the block runs;
    ``max_retries`` bounds the attempts to take the slots (then
    ``ConcurrencySlotTimeout``). ``holder`` and ``raise_on_lease_renewal_failure``
    concern Prefect's server-side leases: a holder is always this process
    (legato drops its slots when the process dies), so a custom one is refused.
    """
    if holder is not None:
        raise ValueError(
            "concurrency(holder=...) is not supported: legato's slots are held by the process that "
            "takes them, and dropped when it exits"
        )
    if max_retries is not None and max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    if lease_duration <= 0:
        raise ValueError(f"lease_duration must be > 0 seconds, got {lease_duration}")
    del raise_on_lease_renewal_failure  # a local lease cannot fail to renew while its process lives
    return {"lease_seconds": float(lease_duration), "max_tries": None if max_retries is None else max_retries + 1}
