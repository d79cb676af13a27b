"""User callables that tasks and flows take: hooks, and templates called with some parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

#: ``hook(task_or_flow, run, state)``
Hook = Callable[..., Any]


def hook_list(hooks: Any, kind: str) -> list[Hook]:
    """``on_completion=...`` and friends as a list of callables; fails at decoration on anything else."""
    if hooks is None:
        return []
    if callable(hooks):
        hooks = [hooks]
    hooks = list(hooks)
    for hook in hooks:
        if not callable(hook):
            raise TypeError(f"{kind} hooks must be callables, got {hook!r}")
    return hooks


def accepted_parameters(fn: Callable[..., Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``parameters`` that ``fn`` takes (all of them if it takes ``**kwargs``)."""
    signature = inspect.signature(fn)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return parameters
    return {k: v for k, v in parameters.items() if k in signature.parameters}


__all__ = ["Hook", "accepted_parameters", "hook_list"]
