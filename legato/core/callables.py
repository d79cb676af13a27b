"""User callables that tasks and flows take: their functions, and templates called with some parameters.

Hooks are in :mod:`legato.core.hooks`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

def check_callable_and_timeout(fn: Any, timeout_seconds: float | None, decorator: str) -> None:
    """Fail at decoration on what can never run: a non-callable, a negative timeout."""
    if not callable(fn):
        raise TypeError(f"{decorator} needs a function, got {fn!r}")
    if timeout_seconds is not None and timeout_seconds < 0:
        raise ValueError(f"timeout_seconds must be >= 0, got {timeout_seconds}")


def accepted_parameters(fn: Callable[..., Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``parameters`` that ``fn`` takes (all of them if it takes ``**kwargs``)."""
    signature = inspect.signature(fn)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return parameters
    return {k: v for k, v in parameters.items() if k in signature.parameters}


__all__ = ["accepted_parameters", "check_callable_and_timeout"]
