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

from legato.history.errors import AmbiguousRunId, HistoryDatabaseError, HistoryError, RunNotFound
from legato.history.graph import render_graph
from legato.history.handler import RunLogHandler
from legato.history.query import (
    FlowRunRecord,
    RunLogLine,
    TaskRunRecord,
    edges,
    get_run,
    list_runs,
    run_logs,
    task_runs,
)
from legato.history.recorder import HistoryRecorder

__all__ = [
    "AmbiguousRunId",
    "FlowRunRecord",
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
    "task_runs",
]
