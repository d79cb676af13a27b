"""Artifacts: markdown, tables, links and progress that a run leaves for people to read.

The names are Prefect 3's::

    from legato.artifacts import create_markdown_artifact, create_table_artifact

    @task
    def report(rows):
        create_table_artifact(rows, key="daily-sales", description="per store")

An artifact is stored in the run history (table ``artifacts``) under the
flow run and task run that made it, and shown by ``legato runs show`` and
``legato artifacts ls`` / ``legato artifacts show KEY`` (the latest by key,
with its earlier versions). A key is lowercase letters, numbers and dashes,
as in Prefect; without one the artifact belongs to its run only.

How an artifact reaches the database: it is a log record on the
``legato.artifacts`` logger carrying the artifact as a payload. In the flow's
process (flows, and tasks on threads) the record is stored at once. Process-pool,
Dask and Ray workers send their log records to the flow process (see
:mod:`legato.runners._worker_logs`), and artifact records go with them, so
they are stored there, on one machine or a cluster alike. (On Dask they
travel through the scheduler's event topic and may land a moment after the
task ends.)

Creating an artifact never fails the run: a value that cannot be stored is
kept as text, and a database that cannot be written is reported once as a
warning. With history off (``LEGATO_HISTORY=0``) artifacts are not kept.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

_KEY = re.compile(r"^[a-z0-9-]+$")
#: above CRITICAL, so that no level setting of the flow process drops an artifact record on its way
ARTIFACT_LEVEL = 60
_LOGGER = "legato.artifacts"
logging.addLevelName(ARTIFACT_LEVEL, "ARTIFACT")  # how such a record reads if a log handler ever shows it


def create_markdown_artifact(markdown: str, key: str | None = None, description: str | None = None) -> uuid.UUID:
    """An artifact of markdown text; returns its id."""
    if not isinstance(markdown, str):
        raise TypeError(f"markdown must be a str, got {type(markdown).__name__}")
    return _create("markdown", markdown, key, description)


def create_table_artifact(
    table: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
    key: str | None = None,
    description: str | None = None,
) -> uuid.UUID:
    """An artifact of a table: a dict of columns, a list of row dicts, or a list of row lists."""
    return _create("table", _table(table), key, description)


def create_link_artifact(link: str, link_text: str | None = None, key: str | None = None,
                         description: str | None = None) -> uuid.UUID:
    """An artifact pointing at a URL (``link_text`` is what to show for it)."""
    if not isinstance(link, str) or not link:
        raise ValueError("link must be a non-empty str")
    return _create("link", {"link": link, "link_text": link_text}, key, description)


def create_progress_artifact(progress: float, key: str | None = None, description: str | None = None) -> uuid.UUID:
    """An artifact of a progress percentage (0-100); move it on with :func:`update_progress_artifact`."""
    return _create("progress", _percent(progress), key, description)


def update_progress_artifact(artifact_id: uuid.UUID | str, progress: float, description: str | None = None) -> uuid.UUID:
    """Set a progress artifact's percentage (and, if given, its description)."""
    payload = {"op": "update", "id": str(artifact_id), "data": _percent(progress), "description": description,
               "ts": time.time()}  # fmt: skip
    _deliver(payload)
    return artifact_id if isinstance(artifact_id, uuid.UUID) else uuid.UUID(str(artifact_id))


# -- internals -------------------------------------------------------------------


def _create(kind: str, data: Any, key: str | None, description: str | None) -> uuid.UUID:
    if key is not None and (not isinstance(key, str) or not _KEY.match(key)):
        raise ValueError(f"artifact key {key!r} must only contain lowercase letters, numbers, and dashes")
    if description is not None and not isinstance(description, str):
        raise TypeError(f"description must be a str, got {type(description).__name__}")
    artifact_id = uuid.uuid4()
    flow_run_id, task_run_id = _current_run()
    _deliver({"op": "create", "id": str(artifact_id), "key": key, "type": kind, "description": description,
              "data": data, "flow_run_id": flow_run_id, "task_run_id": task_run_id, "ts": time.time()})  # fmt: skip
    return artifact_id


def _current_run() -> tuple[str | None, str | None]:
    from legato.core.context import flow_run_context, task_run_context

    task_context = task_run_context.get()
    if task_context is not None:
        return task_context.task_run.flow_run_id, task_context.task_run.id
    flow_context = flow_run_context.get()
    return (flow_context.flow_run.id, None) if flow_context is not None else (None, None)


def _deliver(payload: dict[str, Any]) -> None:
    """Hand the artifact to whatever in this process stores or forwards artifact records."""
    target = logging.getLogger(_LOGGER)
    if not target.handlers and not _forwarded():
        from legato.history.artifacts import install_handler  # this process stores its artifacts itself

        install_handler()
    flow_run_id, task_run_id = payload.get("flow_run_id"), payload.get("task_run_id")
    record = logging.LogRecord(_LOGGER, ARTIFACT_LEVEL, __file__, 0, "artifact %s", (payload.get("key") or
                               payload["id"],), None)  # fmt: skip
    record.legato_artifact = _plain(payload)
    if flow_run_id is not None:
        record.flow_run_id, record.task_run_id = flow_run_id, task_run_id
    target.handle(record)


def _forwarded() -> bool:
    """Is this a worker whose log records (artifacts among them) go to the flow process?"""
    from logging.handlers import QueueHandler

    if any(isinstance(h, QueueHandler) and type(h.queue).__name__ == "_LogQueue"
           for h in logging.getLogger().handlers):  # a process-pool worker  # fmt: skip
        return True
    from legato.runners._worker_logs import is_forwarding  # a Dask or Ray worker

    return is_forwarding()


def _table(table: Any) -> dict[str, Any]:
    """A table as ``{"columns": [...], "rows": [[...], ...]}`` whatever shape it came in."""
    if isinstance(table, Mapping):
        columns = [str(name) for name in table]
        values = [list(column) for column in table.values()]
        lengths = {len(column) for column in values}
        if len(lengths) > 1:
            raise ValueError(f"the columns of a table artifact must have equal lengths, got {sorted(lengths)}")
        return {"columns": columns, "rows": [list(row) for row in zip(*values)]}
    if isinstance(table, (str, bytes)) or not isinstance(table, Sequence):
        raise TypeError("a table artifact is a dict of lists, a list of dicts or a list of lists")
    rows = list(table)
    if rows and all(isinstance(row, Mapping) for row in rows):
        columns = list(dict.fromkeys(str(name) for row in rows for name in row))
        return {"columns": columns, "rows": [[row.get(name) for name in columns] for row in rows]}
    if all(isinstance(row, Sequence) and not isinstance(row, (str, bytes)) for row in rows):
        return {"columns": None, "rows": [list(row) for row in rows]}
    raise TypeError("a table artifact is a dict of lists, a list of dicts or a list of lists")


def _percent(progress: float) -> float:
    value = float(progress)
    if not 0 <= value <= 100:
        raise ValueError(f"progress must be between 0 and 100, got {progress}")
    return value


def _plain(value: Any) -> Any:
    """``value`` with everything JSON cannot hold as text (NumPy numbers as numbers)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    import numbers

    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    from legato.history.summary import safe_repr

    return safe_repr(value, limit=10_000)


__all__ = [
    "create_link_artifact",
    "create_markdown_artifact",
    "create_progress_artifact",
    "create_table_artifact",
    "update_progress_artifact",
]
