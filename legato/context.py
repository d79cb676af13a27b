"""Prefect-compatible home of the run contexts: ``from legato.context import get_run_context, tags``.

``FlowRunContext.get()`` and ``TaskRunContext.get()`` return the current
context or None, as in Prefect.
"""

from __future__ import annotations

from legato.core.context import FlowRunContext, TaskRunContext, get_run_context, tags

__all__ = ["FlowRunContext", "TaskRunContext", "get_run_context", "tags"]
