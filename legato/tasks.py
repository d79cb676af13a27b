"""Prefect-compatible home of tasks: ``from legato.tasks import task, task_input_hash, exponential_backoff``."""

from __future__ import annotations

from typing import Any

from legato.core.retries import exponential_backoff
from legato.core.task import Task, task


def task_input_hash(context: Any, arguments: dict[str, Any]) -> str | None:
    """A cache key from the task's identity and source and the call's arguments (Prefect's ``task_input_hash``).

    For ``cache_key_fn=task_input_hash``. Returns None, which disables caching
    for that call, when an argument cannot be hashed, as Prefect does.
    """
    from legato.results.hashing import UnhashableError, function_fingerprint, hash_objects

    task_ = getattr(context, "task", None)
    try:
        identity = (task_.name, function_fingerprint(task_.fn)) if task_ is not None else ()
        return hash_objects(identity, arguments)
    except (UnhashableError, TypeError):
        return None


__all__ = ["Task", "exponential_backoff", "task", "task_input_hash"]
