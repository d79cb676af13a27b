"""Cache policies: what a task run's cache key is made of, as in Prefect 3.

A policy is a small object with one method, ``compute_key(task_ctx, inputs,
flow_parameters) -> str | None``; ``None`` means "do not cache this run".
Policies compose with ``+`` and ``INPUTS - "name"`` leaves a parameter out::

    @task(cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(days=1))
    def fetch(url, session): ...

    @task(cache_policy=INPUTS - "session")   # the session does not change the answer
    def fetch(url, session): ...

=================  ===========================================================
``INPUTS``         the task's arguments, hashed by content
``TASK_SOURCE``    the task function's source and what it closes over
``FLOW_PARAMETERS``  the parameters of the flow run
``RUN_ID``         the flow run's id: reuse only within one flow run (retries)
``NO_CACHE``       never look up a cached result
``DEFAULT``        ``INPUTS + TASK_SOURCE + RUN_ID``
=================  ===========================================================

An input that cannot be hashed raises
:class:`~legato.results.hashing.UnhashableError` out of ``compute_key``, even
inside a compound policy: a key that silently ignored it could return another
run's result. The results manager turns that into a warning and no caching.
Keys of the built-in policies are hex digests; where the record is stored is
decided by :mod:`legato.results`, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from legato.results.hashing import function_fingerprint, hash_objects


class CachePolicy:
    """Base class of cache policies: subclasses implement :meth:`compute_key`."""

    #: False only for NO_CACHE: a policy that never caches does not turn result persistence on
    caches = True

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        """The cache key of one task run, or None to not cache it."""
        raise NotImplementedError

    @classmethod
    def from_cache_key_fn(cls, cache_key_fn: Callable[[Any, dict[str, Any]], str | None]) -> CacheKeyFnPolicy:
        return CacheKeyFnPolicy(cache_key_fn)

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        if isinstance(other, _NoCache):
            return self
        return CompoundCachePolicy((self, other))

    def __sub__(self, name: str) -> CachePolicy:
        """Leave the parameter ``name`` out of the key; only input-based policies change."""
        if not isinstance(name, str):
            raise TypeError(f"only parameter names (str) can be subtracted from a cache policy, got {name!r}")
        return self


@dataclass(frozen=True)
class CacheKeyFnPolicy(CachePolicy):
    """The key is whatever ``cache_key_fn(task_ctx, inputs)`` returns (None: no caching)."""

    cache_key_fn: Callable[[Any, dict[str, Any]], str | None]

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        key = self.cache_key_fn(task_ctx, inputs)
        return None if key is None else str(key)


@dataclass(frozen=True)
class CompoundCachePolicy(CachePolicy):
    """Several policies at once: the key hashes theirs together (None if all are None)."""

    policies: tuple[CachePolicy, ...] = ()

    def __post_init__(self) -> None:
        flat: list[CachePolicy] = []
        for policy in self.policies:
            flat.extend(policy.policies if isinstance(policy, CompoundCachePolicy) else (policy,))
        object.__setattr__(self, "policies", tuple(flat))

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        keys = [policy.compute_key(task_ctx, inputs, flow_parameters, **kwargs) for policy in self.policies]
        keys = [key for key in keys if key is not None]
        return hash_objects(*keys) if keys else None

    def __sub__(self, name: str) -> CachePolicy:
        super().__sub__(name)  # checks the type
        return CompoundCachePolicy(tuple(policy - name for policy in self.policies))


@dataclass(frozen=True)
class Inputs(CachePolicy):
    """The task's arguments (defaults applied), except those named in ``exclude``."""

    exclude: tuple[str, ...] = ()

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        kept = {name: value for name, value in inputs.items() if name not in self.exclude}
        return hash_objects(kept)

    def __sub__(self, name: str) -> CachePolicy:
        super().__sub__(name)
        return Inputs(tuple(sorted({*self.exclude, name})))


@dataclass(frozen=True)
class TaskSource(CachePolicy):
    """The task function: its source, closure values and plain-data globals it reads."""

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        return function_fingerprint(task_ctx.task.fn)


@dataclass(frozen=True)
class FlowParameters(CachePolicy):
    """The parameters of the flow run the task runs in."""

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        return hash_objects(flow_parameters)


@dataclass(frozen=True)
class RunId(CachePolicy):
    """The flow run's id (the task run's own id outside a flow)."""

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        task_run = getattr(task_ctx, "task_run", None)
        run_id = getattr(task_ctx, "flow_run_id", None) or getattr(task_run, "flow_run_id", None)
        return str(run_id or getattr(task_run, "id", ""))


@dataclass(frozen=True)
class _NoCache(CachePolicy):
    """Never cache. Adding it to another policy leaves that policy as it is."""

    caches = False

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        return None

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        return other

    def __repr__(self) -> str:
        return "NO_CACHE"


INPUTS = Inputs()
TASK_SOURCE = TaskSource()
FLOW_PARAMETERS = FlowParameters()
RUN_ID = RunId()
NO_CACHE = _NoCache()
#: the class of :data:`NO_CACHE`, for ``isinstance`` checks elsewhere
NoCache = _NoCache
DEFAULT = INPUTS + TASK_SOURCE + RUN_ID

def effective_policy(policy: Any, cache_key_fn: Any, persist_result: bool | None, result_storage_key: Any) -> Any:
    """What ``task.cache_policy`` reads, by Prefect 3's rules (``Task.__init__``), from the options given.

    ``policy`` None means "not given" (Prefect's ``NotSet``): ``cache_key_fn``
    gives its own policy; ``persist_result=False`` gives ``NO_CACHE``; no
    policy and no ``result_storage_key`` give ``DEFAULT``; a policy with a
    ``result_storage_key`` gives None (the key decides where the record is).
    legato's results manager reads the options as given, not this.
    """
    if cache_key_fn is not None:
        policy = CachePolicy.from_cache_key_fn(cache_key_fn)
    if persist_result is False:
        return NO_CACHE
    if policy is None:
        return DEFAULT if result_storage_key is None else None
    if result_storage_key is not None and not isinstance(policy, NoCache):
        return None
    return policy


__all__ = [
    "DEFAULT",
    "effective_policy",
    "FLOW_PARAMETERS",
    "INPUTS",
    "NO_CACHE",
    "NoCache",
    "RUN_ID",
    "TASK_SOURCE",
    "CacheKeyFnPolicy",
    "CachePolicy",
    "CompoundCachePolicy",
    "FlowParameters",
    "Inputs",
    "RunId",
    "TaskSource",
]
