"""Prefect-compatible home of the future helpers: ``from legato.futures import wait``."""

from legato.core.futures import DoneAndNotDoneFutures, LegatoFuture, LegatoFutureList, PrefectFuture, as_completed, wait

__all__ = ["DoneAndNotDoneFutures", "LegatoFuture", "LegatoFutureList", "PrefectFuture", "as_completed", "wait"]
