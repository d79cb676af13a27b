"""Run keys and storage keys: the names records are written under.

Where records go, relative to the storage root::

    <cache key>                                   cache_policy / cache_key_fn records
    <result_storage_key, formatted>               records the user named
    runs/<flow>/<run key>/<task>/<inputs hash>    a run key's records
    runs/<flow>/<run key>/<task>/run-<task run name>   ... when inputs cannot be hashed

Each name part of a ``runs/`` key is made path-safe by :func:`slug`, so one run
key's records sit in one folder that can be inspected or deleted as a whole.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import string
from collections.abc import Callable, Mapping
from typing import Any

from legato.results.storage import check_key

RUNS_PREFIX = "runs"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_SLUG = 80


def render_run_key(run_key: str | Callable[..., Any] | None, parameters: Mapping[str, Any]) -> str | None:
    """The run key of a flow run from the flow's ``run_key`` option and its parameters.

    A string is a template formatted with the parameters (``"{source}-{day}"``;
    a string without fields is used as is). A callable is called with the
    parameters it accepts, by name (all of them if it takes ``**kwargs``), and
    may return None for "no run key". A template naming a missing parameter, a
    callable that raises, or an empty key raise ``ValueError``: silently losing
    the key would silently lose resumption.
    """
    if run_key is None:
        return None
    if callable(run_key):
        try:
            rendered = run_key(**_accepted(run_key, parameters))
        except Exception as error:
            raise ValueError(f"cannot build the run key with {run_key!r}: {error}") from error
        if rendered is None:
            return None
    elif isinstance(run_key, str):
        rendered = _format(run_key, parameters)
    else:
        raise TypeError(f"run_key must be a string template or a callable, got {type(run_key).__qualname__!r}")
    text = str(rendered).strip()
    if not text:
        raise ValueError(f"run key {run_key!r} rendered to an empty string")
    return text


def _format(template: str, parameters: Mapping[str, Any]) -> str:
    if not any(field for _, field, _, _ in string.Formatter().parse(template)):
        return template
    try:
        return template.format(**parameters)
    except (KeyError, IndexError, AttributeError, ValueError) as error:
        raise ValueError(f"cannot build the run key from template {template!r} "
                         f"with parameters {sorted(parameters)}: {error!r}") from error


def _accepted(fn: Callable[..., Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return dict(parameters)
    accepted = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        return dict(parameters)
    return {name: value for name, value in parameters.items() if name in accepted}


def render_storage_key(template: str, parameters: Mapping[str, Any], task_run: Any, flow_run: Any) -> str:
    """A ``result_storage_key`` template, formatted with ``str.format``.

    Fields: each task parameter by name (``{x}``), ``{parameters[x]}``,
    ``{task_run.name}`` (also ``.id``, ``.task_name``, ``.map_index``,
    ``.flow_run_id``, ``.flow_run_name``), ``{flow_run.name}`` (also ``.id``,
    ``.flow_name``, ``.run_key``). The result must be a relative path.
    """
    fields: dict[str, Any] = dict(parameters)
    fields.update(parameters=dict(parameters), task_run=task_run, flow_run=flow_run)
    return check_key(template.format(**fields))


def run_record_key(flow_name: str, run_key: str, task_name: str, inputs_hash: str | None, task_run_name: str) -> str:
    """Where a run key keeps the result of one task run."""
    leaf = inputs_hash if inputs_hash is not None else f"run-{slug(task_run_name)}"
    return "/".join((RUNS_PREFIX, slug(flow_name), slug(run_key), slug(task_name), leaf))


def slug(text: str) -> str:
    """``text`` as one safe path part; altered text gets a short hash of the original, to stay unique."""
    safe = _UNSAFE.sub("_", text).strip("._") or "_"
    if safe == text and len(safe) <= _MAX_SLUG:
        return safe
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=5).hexdigest()
    return f"{safe[:_MAX_SLUG]}-{digest}"


__all__ = ["RUNS_PREFIX", "render_run_key", "render_storage_key", "run_record_key", "slug"]
