"""Retry policy for tasks and flows, built from tenacity's strategies.

tenacity owns the *decisions* (stop, wait, retry predicates and their
composition with ``|``, ``&`` and ``+``); legato owns the *waiting*. The
engine never sleeps in a worker: after a failed attempt it asks
:meth:`RetryPolicy.next_delay` and, if there is one, schedules the next
attempt on its timer, so a task waiting out a delay holds no worker slot.

Prefect's options map onto strategies as follows:

=================================  ==========================================
``retries=3``                      ``stop_after_attempt(4)`` (or any tenacity stop)
``retry_delay_seconds=2``          ``wait_fixed(2)``
``retry_delay_seconds=[1, 5, 30]`` one delay per retry, the last repeats
``retry_delay_seconds=callable``   Prefect style: ``f(retries) -> list``
``retry_delay_seconds=wait_x``     any tenacity wait strategy, as it is
``retry_jitter_factor=0.5``        each delay scaled by a random factor in
                                   ``[1 - 0.5, 1 + 0.5]`` (never below 0)
``retry_condition_fn=f``           ``f(task, task_run, state) -> bool``, or any
                                   tenacity retry strategy, as it is
=================================  ==========================================

Options are validated when the policy is made (at decoration time), but
tenacity itself is imported only when a policy first has to decide, so
``import legato`` does not pay for it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

MAX_RETRY_DELAYS = 50


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """Delays of ``backoff_factor * 2 ** n`` seconds for retry ``n`` (from 0).

    Use as ``retry_delay_seconds=exponential_backoff(backoff_factor=2)``.
    """
    if backoff_factor < 0:
        raise ValueError(f"backoff_factor must be >= 0, got {backoff_factor!r}")

    def delays(retries: int) -> list[float]:
        return [backoff_factor * 2**n for n in range(retries)]

    return delays


def _is_tenacity(obj: Any, family: str) -> bool:
    """Is ``obj`` a tenacity strategy of this family ("stop", "wait", "retry"), without importing tenacity?"""
    return any(cls.__module__ == f"tenacity.{family}" and cls.__name__.endswith("_base") for cls in type(obj).__mro__)


class RetryPolicy:
    """The validated retry options of one task or flow."""

    __slots__ = ("retries", "_stop", "_delays", "_jitter", "_condition", "_strategies")

    def __init__(
        self,
        retries: Any = 0,
        retry_delay_seconds: Any = None,
        retry_jitter_factor: float | None = None,
        retry_condition_fn: Any = None,
    ) -> None:
        self._stop = retries if _is_tenacity(retries, "stop") else None
        self.retries = -1 if self._stop is not None else _check_retries(retries)
        self._delays = _check_delays(retry_delay_seconds, self.retries)
        if retry_jitter_factor is not None and retry_jitter_factor < 0:  # Prefect's words, then ours
            raise ValueError(f"`retry_jitter_factor` must be >= 0. (got {retry_jitter_factor})")
        self._jitter = retry_jitter_factor
        if retry_condition_fn is not None and not callable(retry_condition_fn):
            raise TypeError(f"retry_condition_fn must be callable, got {retry_condition_fn!r}")
        self._condition = retry_condition_fn
        self._strategies: tuple[Any, Any, Any, Any] | None = None

    @property
    def enabled(self) -> bool:
        """False when a failure can never be retried (the common fast path)."""
        return self.retries != 0

    @property
    def stop(self) -> Any:
        return self._build()[0]

    @property
    def wait(self) -> Any:
        return self._build()[1]

    @property
    def retry(self) -> Any:
        return self._build()[2]

    def _build(self) -> tuple[Any, Any, Any, Any]:
        if self._strategies is None:
            import tenacity

            stop = self._stop or tenacity.stop_after_attempt(self.retries + 1)
            wait = _wait_strategy(self._delays)
            if self._jitter:
                wait = _jittered(wait, self._jitter)
            retry = tenacity.retry_if_exception_type(Exception)
            if self._condition is not None:
                retry = retry & (self._condition if _is_tenacity(self._condition, "retry") else _condition(self._condition))
            retrying = tenacity.Retrying(stop=stop, wait=wait, retry=retry, sleep=_never_sleep)
            self._strategies = (stop, wait, retry, retrying)
        return self._strategies

    def new_call_state(self, subject: Any, run: Any) -> Any:
        """A tenacity ``RetryCallState`` for one task run, carrying what conditions are given."""
        from tenacity import RetryCallState

        call_state = RetryCallState(self._build()[3], None, (), {})
        call_state.subject = subject  # type: ignore[attr-defined]
        call_state.run = run  # type: ignore[attr-defined]
        call_state.state = None  # type: ignore[attr-defined]
        return call_state

    def next_delay(self, call_state: Any, error: BaseException, state: Any) -> float | None:
        """Record a failed attempt; return the delay before the next one, or None to give up."""
        stop, wait, retry, _ = self._build()
        call_state.state = state
        call_state.set_exception((type(error), error, error.__traceback__))
        if not retry(call_state):
            return None
        delay = float(wait(call_state))
        call_state.upcoming_sleep = delay
        if stop(call_state):
            return None
        call_state.idle_for += delay
        call_state.prepare_for_next_attempt()
        return delay


def _never_sleep(seconds: float) -> None:  # pragma: no cover - legato schedules, never sleeps
    raise RuntimeError("legato schedules retries on its timer; tenacity must not sleep")


def _check_retries(retries: Any) -> int:
    retries = 0 if retries is None else retries
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise TypeError(f"retries must be an int or a tenacity stop strategy, got {retries!r}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    return retries


def _check_delays(delay: Any, retries: int) -> Any:
    """Validate ``retry_delay_seconds``; return a tenacity wait, a number, a list, or None."""
    if delay is None or _is_tenacity(delay, "wait"):
        return delay
    if isinstance(delay, (int, float)) and not isinstance(delay, bool):
        if delay < 0:
            raise ValueError(f"retry_delay_seconds must be >= 0, got {delay}")
        return float(delay)
    if isinstance(delay, (str, bytes)) or not (callable(delay) or hasattr(delay, "__iter__")):
        raise TypeError("Invalid `retry_delay_seconds` provided; must be an int, float, list or callable. "
                        f"Received type {type(delay)}")
    delays = list(delay(max(retries, 0)) if callable(delay) else delay)
    if len(delays) > MAX_RETRY_DELAYS:  # Prefect's words, then ours
        raise ValueError(f"Can not configure more than {MAX_RETRY_DELAYS} retry delays per task. (got {len(delays)})")
    if any(isinstance(d, bool) or not isinstance(d, (int, float)) or d < 0 for d in delays):
        raise ValueError(f"retry_delay_seconds must be non-negative numbers, got {delays!r}")
    return [float(d) for d in delays]


def _wait_strategy(delays: Any) -> Any:
    import tenacity

    if delays is None:
        return tenacity.wait_none()
    if isinstance(delays, float):
        return tenacity.wait_fixed(delays)
    if isinstance(delays, list):
        return _schedule(delays)
    return delays


def _schedule(delays: Sequence[float]) -> Any:
    """A tenacity wait strategy: one delay per retry from a list; the last delay repeats."""
    from tenacity.wait import wait_base

    class wait_schedule(wait_base):
        def __call__(self, retry_state: Any) -> float:
            if not delays:
                return 0.0
            return delays[min(retry_state.attempt_number - 1, len(delays) - 1)]

    return wait_schedule()


def _jittered(inner: Any, factor: float) -> Any:
    """A tenacity wait strategy scaling ``inner``'s delay by a random factor in ``[1-f, 1+f]``."""
    from tenacity.wait import wait_base

    class wait_jittered(wait_base):
        def __call__(self, retry_state: Any) -> float:
            return max(0.0, inner(retry_state) * random.uniform(1.0 - factor, 1.0 + factor))

    return wait_jittered()


def _condition(condition: Callable[[Any, Any, Any], bool]) -> Any:
    """A tenacity retry strategy calling Prefect's ``retry_condition_fn(task, task_run, state)``."""
    from tenacity.retry import retry_base

    class retry_if_condition(retry_base):
        def __call__(self, retry_state: Any) -> bool:
            return bool(condition(retry_state.subject, retry_state.run, retry_state.state))

    return retry_if_condition()


__all__ = ["MAX_RETRY_DELAYS", "RetryPolicy", "exponential_backoff"]
