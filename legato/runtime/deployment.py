"""Prefect's ``prefect.runtime.deployment``: legato has no deployments server, so every attribute is None.

Kept so that code reading ``deployment.name`` (to tell a scheduled run from
an ad-hoc one) runs unchanged: it sees what Prefect shows for a run that was
not started from a deployment.
"""

from __future__ import annotations

from typing import Any

__all__ = ["flow_run_id", "id", "name", "parameters", "version"]


def __getattr__(name: str) -> Any:
    if name == "parameters":
        return {}
    if name in __all__:
        return None
    raise AttributeError(f"legato.runtime.deployment has no attribute {name!r}")
