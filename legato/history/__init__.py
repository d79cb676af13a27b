"""Run history: every flow run, task run, dependency and log line, in one SQLite file.

Writing (the engine's side)::

    recorder = HistoryRecorder()                 # path from legato.config
    logging.getLogger().addHandler(RunLogHandler(recorder))
    recorder.flow_run_started(...); recorder.task_run_finished(...); ...
    recorder.flow_run_finished(...); recorder.close()

Reading (the command line's side): :func:`list_runs`, :func:`get_run`,
:func:`task_runs`, :func:`run_logs`, :func:`edges`, :func:`render_graph`.

``import legato`` never imports this package; the engine imports it only when
history is enabled (``LEGATO_HISTORY``).
"""

from __future__ import annotations

import importlib as _importlib
from typing import Any as _Any

from legato.history.errors import AmbiguousRunId, HistoryCorrupt, HistoryDatabaseError, HistoryError, RunNotFound

# The writing side (recorder, handler) is what a running flow needs; the
# reading side (query, graph, crash detection: sqlite queries, psutil) is for
# the command line. Names load on first use, so a flow does not pay for both.
_LAZY = {
    "HistoryRecorder": "legato.history.recorder",
    "RunLogHandler": "legato.history.handler",
    "render_graph": "legato.history.graph",
    "stats": "legato.history.metrics",
    **dict.fromkeys(
        ["FlowRunRecord", "RunLogLine", "TaskRunRecord", "edges", "get_run", "list_runs", "run_logs", "task_runs"],
        "legato.history.query",
    ),
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'legato.history' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AmbiguousRunId",
    "FlowRunRecord",
    "HistoryCorrupt",
    "HistoryDatabaseError",
    "HistoryError",
    "HistoryRecorder",
    "RunLogHandler",
    "RunLogLine",
    "RunNotFound",
    "TaskRunRecord",
    "edges",
    "get_run",
    "list_runs",
    "render_graph",
    "run_logs",
    "stats",
    "task_runs",
]
