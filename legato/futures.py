"""Prefect-compatible home of the futures: ``from legato.futures import wait, PrefectFutureList``."""

from legato.core.futures import (
    DoneAndNotDoneFutures,
    LegatoFuture,
    LegatoFutureList,
    PrefectConcurrentFuture,
    PrefectDistributedFuture,
    PrefectFuture,
    PrefectFutureList,
    PrefectWrappedFuture,
    as_completed,
    wait,
)

__all__ = [
    "DoneAndNotDoneFutures", "LegatoFuture", "LegatoFutureList", "PrefectConcurrentFuture",
    "PrefectDistributedFuture", "PrefectFuture", "PrefectFutureList", "PrefectWrappedFuture", "as_completed", "wait",
]
